"""The environments' scoring kit: final answers, math equivalence, text similarity and the LLM judge.

Environments import these names from here, never from the modules below.
"""

from rlm_env.core.errors import ScoringError
from rlm_env.core.parsing import extract_boxed, strip_think
from rlm_env.scoring.answers import final_answer, normalize_answer, unwrap_boxed
from rlm_env.scoring.judge import JudgeConfig, JudgeError, judged
from rlm_env.scoring.math_check import VERIFY_TIMEOUT_S, VerifierError, VerifyResult, verify_math
from rlm_env.scoring.text_metrics import char_accuracy, exact_match, levenshtein_similarity

# grouped by the module each name comes from
__all__ = ["ScoringError", "extract_boxed", "strip_think", "final_answer", "normalize_answer", "unwrap_boxed"]
__all__ += ["JudgeConfig", "JudgeError", "judged", "VERIFY_TIMEOUT_S", "VerifierError", "VerifyResult", "verify_math"]
__all__ += ["char_accuracy", "exact_match", "levenshtein_similarity"]
