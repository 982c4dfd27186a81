r"""math-python: solve a math problem with Python; the boxed answer must equal the gold.

The problem is the prompt (no extra input data). The model computes in Python (numpy, scipy,
sympy): through the REPL in RLM mode, through a sandboxed `python` tool in standard mode.
Worked examples (real INTELLECT-3-RL golds; some are stored with doubled backslashes):

    gold "\\frac{2}{5}"   reply "... so \boxed{0.4}"          -> 1.0
    gold "5\\sqrt{23}"    reply "\boxed{\sqrt{575}}"           -> 1.0
    gold "388"            reply "The answer is 388."           -> 1.0 in standard mode (no box: the
                                                                  whole reply goes to math_verify)
    gold "388"            reply "It is 388 or 387."            -> 0.0 (math_verify reads the last value)
    gold "388"            answer["content"] = "388"            -> 1.0 in RLM mode (bare is fine)

`preset = "article"` is the article's run: the first 50 rows after `Dataset.shuffle(seed=42)`
of the whole train split (our defaults already select the same rows).

Run it: `rlm-env eval math-python-rlm --env-args '{"source": "offline"}' -n 5`.
"""

import asyncio
from typing import Literal

import verifiers.v1 as vf
from pydantic import ConfigDict, Field, model_validator

from math_python_rlm.data import OFFLINE_DATASETS, hub_rows, offline_rows
from math_python_rlm.prompts import PACKAGES, PROMPT, TIPS
from rlm_env import RLMTaskData, RolloutInfo
from rlm_env.data import DataSourceConfig
from rlm_env.scoring import VERIFY_TIMEOUT_S, extract_boxed, strip_think, verify_math

ARTICLE = {"source": "hub", "split": "train", "seed": 42, "shuffle": True, "num_examples": 50}
"""The article's run: INTELLECT-3-RL math train, `Dataset.shuffle(seed=42)`, the first 50 rows, no
difficulty filter."""


class MathPythonData(RLMTaskData):
    answer: str
    """Gold answer as stored in the source (some INTELLECT-3-RL golds keep doubled backslashes)."""
    source: str
    """`intellect3-math` or `reasoning-gym/<generator>`."""
    avg_reward: float | None = None
    """The row's difficulty value (a reference model's average reward), where the source has one."""


class MathPythonTaskConfig(vf.TaskConfig):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    verify_timeout_s: float = Field(default=VERIFY_TIMEOUT_S, gt=0)
    """Seconds math_verify may spend on one answer; past it the check is killed and scores 0."""


def final_answer(trace: vf.Trace) -> str | None:
    r"""What gets verified: the last \boxed{} of the final reply, reasoning (<think>) removed. Without
    a box the whole reply counts, as in the article's runs: in RLM mode the reply is `answer["content"]`;
    in standard mode it is the last message, handed to math_verify wrapped in one box as the reference
    did (math_verify then reads its final answer-like expression, so naming several values is never
    better than committing to the last). Under another harness a box is required. None when there is
    no answer."""
    reply = strip_think(trace.last_reply)
    answer = extract_boxed(reply)
    # no record when another harness ran the task: a box is required then
    if answer is None and RolloutInfo.of(trace) is not None:
        answer = reply
    if answer is None or not answer.strip():
        return None
    return answer.strip()


class MathPythonTask(vf.Task[MathPythonData, vf.State, MathPythonTaskConfig]):
    @vf.reward(weight=1.0)
    async def correct_answer(self, trace: vf.Trace) -> float:
        """1 if the final answer is equivalent to the gold under math_verify. A killed check is 0
        (see verify_timed_out); a failure of the verifier itself raises (VerifierError)."""
        answer = final_answer(trace)
        # the verification metrics are recorded here: one (costly) check feeds them and the reward
        if answer is None:
            trace.record_metrics({"verify_seconds": 0.0, "verify_timed_out": 0.0})
            return 0.0
        result = await asyncio.to_thread(verify_math, answer, self.data.answer, self.config.verify_timeout_s)
        trace.record_metrics({"verify_seconds": result.seconds, "verify_timed_out": float(result.timed_out)})
        return float(result.correct)

    @vf.metric
    async def answer_parsed(self, trace: vf.Trace) -> float:
        """1 if a final answer was found (a \\boxed{}, or a non-empty reply without one)."""
        return float(final_answer(trace) is not None)


class MathPythonConfig(DataSourceConfig):
    PRESETS = {"article": ARTICLE}

    preset: Literal["ours", "article"] = "ours"
    """`ours`: the defaults below. `article`: the article's run (INTELLECT-3-RL math train, seed-42
    `Dataset.shuffle`, the first 50 rows, no difficulty filter); fields you set still win."""
    split: str = "train"
    """Hub split (INTELLECT-3-RL math has only train: 21,161 rows)."""
    difficulty_column: str = "avg@8_qwen3_4b_instruct_2507"
    """Column with a reference model's average reward per row, read by the two bounds below (hub).
    INTELLECT-3-RL also has `avg@8_qwen3_4b_thinking_2507`."""
    min_avg_reward: float | None = Field(default=None, ge=0, le=1)
    """Keep only rows whose difficulty value is at least this (0 = never solved)."""
    max_avg_reward: float | None = Field(default=None, ge=0, le=1)
    """Keep only rows whose difficulty value is at most this (1 = always solved)."""
    seed: int = 42
    """Seed for shuffling (42, as in the published math-python eval) and for the offline generators."""
    offline_datasets: list[Literal[OFFLINE_DATASETS]] = Field(default=["gsm_symbolic"], min_length=1)
    """Offline source: reasoning-gym generators to mix evenly (GSM8K-style word problems by default)."""
    task: MathPythonTaskConfig = MathPythonTaskConfig()
    """How each task is scored (`--env.taskset.task.<name>`)."""

    @model_validator(mode="after")
    def _check(self) -> "MathPythonConfig":
        low, high = self.min_avg_reward, self.max_avg_reward
        if low is not None and high is not None and low > high:
            raise ValueError("min_avg_reward is larger than max_avg_reward: swap or widen them")
        if self.source == "offline" and (low is not None or high is not None):
            raise ValueError(
                "reasoning-gym problems have no difficulty values: drop min_avg_reward/max_avg_reward "
                "or use source 'hub'"
            )
        if self.source == "offline" and self.num_examples is None:
            raise ValueError("the offline source generates problems: set num_examples to how many")
        return self


class MathPythonTaskset(vf.Taskset[MathPythonTask, MathPythonConfig]):
    def load(self) -> list[MathPythonTask]:
        c = self.config
        if c.source == "offline":
            rows = offline_rows(list(c.offline_datasets), c.num_examples, c.seed)
        else:
            bounds = (c.min_avg_reward, c.max_avg_reward)
            rows = hub_rows(c.split, c.revision, c.data_files, c.difficulty_column, bounds, c.select)
        fixed = {"env_tips": TIPS, "repl_packages": PACKAGES, "standard_python_tool": True}
        return [
            MathPythonTask(
                MathPythonData(
                    prompt=PROMPT + row["question"],
                    **{key: row[key] for key in ("id", "answer", "source", "avg_reward")},
                    **fixed,
                ),
                c.task,
            )
            for row in rows
        ]
