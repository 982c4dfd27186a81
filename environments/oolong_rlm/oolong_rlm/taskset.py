"""oolong: aggregate questions over long contexts, scored with the official Oolong rules.

The context (10^3 to 10^6+ characters: one labelled record per line, or D&D transcripts) is
only in the REPL as `extra_data`; the question is the prompt. Worked example (synth):

    context   "...Date: Dec 28, 2022 || User: 76063 || Instance: How far is it from Denver to Aspen?..."
    question  "In the above data, which of the labels is the most common? Give your final answer in
               the form 'Label: answer' where answer is one of the labels: location, numeric value, ..."
    answer    "Label: location"  -> 1.0 against gold "['location']"
    "Answer: 5" against gold "[7]" -> 0.75 ** 2 = 0.5625

`preset = "article"` reproduces the article's runs: the validation split in the order
`Dataset.shuffle(seed=42)` gives, the first 50 rows, every answer type, and the yes/no judge
(gpt-5-mini) as the reward, since the article's Oolong figures came from that judge.

Run it: `rlm-env eval oolong-rlm --env-args '{"source": "offline"}' -n 5`.
"""

from typing import Literal

import verifiers.v1 as vf
from pydantic import ConfigDict, Field, model_validator

from oolong_rlm.data import hub_task_rows, offline_task_rows, passes_filters
from oolong_rlm.prompts import REAL_INSTRUCTION, TIPS, tips_code
from oolong_rlm.scoring import parse_synth_gold, score_real, score_synth
from rlm_env import RLMTaskData
from rlm_env.data import DataSourceConfig
from rlm_env.scoring import JudgeConfig, final_answer, judged

ARTICLE = {
    "split": "validation",
    "seed": 42,
    "shuffle": True,
    "num_examples": 50,
    "drop_numeric": False,
    "task": {"reward": "judge", "judge": {"model": "gpt-5-mini"}},
}
"""The article's runs: 50 validation rows after `Dataset.shuffle(seed=42)`, no answer-type filter,
judged yes/no by gpt-5-mini."""


class OolongData(RLMTaskData):
    answer: str
    """Gold answer as in the dataset (synth: a Python-literal list string; real: plain text)."""
    answer_type: str
    """ANSWER_TYPE.* for synth; `dnd` for real."""
    subset: str
    """synth, synth_with_labels or real."""
    context_chars: int
    """Length of the context in characters."""
    source_dataset: str = ""
    """Source classification dataset of a synth row (trec_coarse, spam, ..., wiki_topics offline)."""


class OolongTaskConfig(vf.TaskConfig):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    reward: Literal["official", "judge"] = "official"
    """`official`: the Oolong scoring rules; `judge`: an LLM says yes/no whether the answer matches the gold."""
    judge: JudgeConfig = JudgeConfig()
    """The judge model, its endpoint, API-key variable, retries and prompt (for `reward = "judge"`)."""


class OolongTask(vf.Task[OolongData, vf.State, OolongTaskConfig]):
    @vf.reward(weight=1.0)
    async def oolong_score(self, trace: vf.Trace) -> float:
        """The official Oolong score of the final answer (partial credit for numbers and lists), or
        the judge's yes/no in judge mode."""
        if self.config.reward == "judge":
            gold = self.data.answer if self.data.subset == "real" else str(parse_synth_gold(self.data.answer))
            return await judged(
                self.config.judge, self.data.prompt or "", gold, final_answer(trace), trace, reward_name="oolong_score"
            )
        if self.data.subset == "real":
            return score_real(final_answer(trace), self.data.answer)
        return score_synth(final_answer(trace), self.data.answer, self.data.answer_type, self.data.prompt or "")

    @vf.metric
    async def context_chars(self, trace: vf.Trace) -> float:
        return float(self.data.context_chars)


class OolongConfig(DataSourceConfig):
    PRESETS = {"article": ARTICLE}

    preset: Literal["ours", "article"] = "ours"
    """`ours`: the official Oolong rules as the reward, our defaults below. `article`: the article's run
    settings (validation split, seed-42 `Dataset.shuffle`, 50 rows, all answer types, the yes/no judge
    gpt-5-mini as the reward); fields you set still win."""
    subset: Literal["synth", "synth_with_labels", "real"] = "synth"
    """`synth` (oolong-synth), `synth_with_labels` (its labelled contexts) or `real` (oolong-real dnd)."""
    split: str = "validation"
    """Hub split (oolong-synth: validation or test)."""
    datasets: list[str] | None = None
    """Keep only these source datasets (synth), e.g. ["trec_coarse", "spam"]."""
    min_context_chars: int | None = Field(default=None, ge=0)
    """Keep only contexts at least this long (characters)."""
    max_context_chars: int | None = Field(default=None, ge=0)
    """Keep only contexts at most this long (characters)."""
    answer_types: list[str] | None = None
    """Keep only these answer types (synth), e.g. ["ANSWER_TYPE.LABEL"]."""
    drop_numeric: bool = False
    """Drop numeric counting questions (ANSWER_TYPE.NUMERIC), as the reference environment now does by default."""
    offline_context_chars: int = Field(default=8192, ge=2000)
    """Offline source: characters per generated context."""
    offline_questions_per_window: int = Field(default=5, ge=1)
    """Offline source: questions asked about each generated context."""
    task: OolongTaskConfig = OolongTaskConfig()
    """How each task is scored (`--env.taskset.task.<name>`)."""

    @model_validator(mode="after")
    def _check(self) -> "OolongConfig":
        if self.source == "offline" and self.subset == "real":
            raise ValueError(
                "the offline source generates synth-style tasks: use subset 'synth' or "
                "'synth_with_labels', or source 'hub' for real"
            )
        if self.min_context_chars and self.max_context_chars and self.min_context_chars > self.max_context_chars:
            raise ValueError("min_context_chars is larger than max_context_chars: swap or widen them")
        return self


class OolongTaskset(vf.Taskset[OolongTask, OolongConfig]):
    def load(self) -> list[OolongTask]:
        c = self.config
        rows = offline_task_rows(c) if c.source == "offline" else hub_task_rows(c)
        return [OolongTask(self._data(r), c.task) for r in c.select([r for r in rows if passes_filters(c, r)])]

    def _data(self, row: dict) -> OolongData:
        subset = self.config.subset
        question = row["question"] if subset != "real" else f"{row['question']}\n\n{REAL_INSTRUCTION}"
        return OolongData(
            id=str(row["id"]),
            prompt=question,
            extra_data_ref=row["ref"],
            env_tips=TIPS,
            env_tips_code=tips_code(row.get("answer_type", ""), row["question"]) if subset != "real" else None,
            standard_inline_data=True,
            data_preview_chars=0,
            answer=str(row["answer"]),
            answer_type=row.get("answer_type", "dnd"),
            subset=subset,
            context_chars=row["context_chars"],
            source_dataset=str(row.get("dataset", "")),
        )
