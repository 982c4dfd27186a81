"""The environments' scoring kit: final answers, math equivalence, text similarity and the LLM judge.

Environments import these names from here, never from the modules below.
"""

from rlm_env.core.errors import ScoringError
from rlm_env.core.parsing import extract_boxed, strip_think
from rlm_env.scoring.answers import final_answer, normalize_answer, unwrap_boxed
from rlm_env.scoring.judge import JudgeConfig, JudgeError, judged
from rlm_env.scoring.math_check import VERIFY_TIMEOUT_S, VerifierError, VerifyResult, verify_math
from rlm_env.scoring.text_metrics import char_accuracy, exact_match, levenshtein_similarity

__all__ = [
    "VERIFY_TIMEOUT_S",
    "JudgeConfig",
    "JudgeError",
    "ScoringError",
    "VerifierError",
    "VerifyResult",
    "char_accuracy",
    "exact_match",
    "extract_boxed",
    "final_answer",
    "judged",
    "levenshtein_similarity",
    "normalize_answer",
    "strip_think",
    "unwrap_boxed",
    "verify_math",
]
