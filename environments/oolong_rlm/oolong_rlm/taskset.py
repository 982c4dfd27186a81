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

from oolong_rlm.data import CONTEXT_COLUMN, hub_rows, offline_rows
from oolong_rlm.scoring import parse_synth_gold, score_real, score_synth
from rlm_env import Ref, RLMTaskData
from rlm_env.data import PresetDefaults, reference_order
from rlm_env.scoring import JudgeConfig, final_answer, judged

REAL_INSTRUCTION = "Return the final answer in \\boxed{}."
TIPS = (
    "extra_data is far too long to read at once, so never print it whole. Look at its first lines to "
    "learn the format, then split it into lines or chunks. If the records carry labels, count them "
    "directly in Python. If they do not, classify the records with llm_batch: put a few dozen records "
    "in each prompt, ask for exactly one label per record, send all prompts in one llm_batch call, and "
    "parse the replies. Aggregate with Python (collections.Counter), check the counts add up, and answer "
    "in exactly the form the question asks for."
)
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

# The same strategy as code, for small models (harness protocol.tips_as_code); synth subsets only.
TIPS_CODE = """\
A skeleton of one way to solve it (check each printed value before going on):
```python
import re
lines = extra_data.splitlines()
print(len(lines)); print("\\n".join(lines[:4]))  # the first lines name the labels; one record per line follows
records = [line for line in lines if "||" in line]
labels = re.findall(r"'([^']+)'", lines[0])  # the label names, if the first line lists them in quotes
print(len(records), labels)
chunks = ["\\n".join(records[i:i + 25]) for i in range(0, len(records), 25)]
prompts = [f"Classify each line below as one of {labels}. Reply with one label per line, in order, "
           f"and nothing else.\\n\\n{chunk}" for chunk in chunks]
replies = llm_batch(prompts)  # all chunks at once, in parallel
from collections import Counter
counts = Counter(label for reply in replies for row in reply.splitlines() for label in labels if label in row)
print(counts, sum(counts.values()), len(records))
```
For questions about dates or users, count those fields of `records` with Counter directly (no llm_batch). \
Then set answer["content"] in exactly the form the question asks for, and answer["ready"] = True."""


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


class OolongConfig(PresetDefaults, vf.TasksetConfig):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)
    PRESETS = {"article": ARTICLE}

    preset: Literal["ours", "article"] = "ours"
    """`ours`: the official Oolong rules as the reward, our defaults below. `article`: the article's run
    settings (validation split, seed-42 `Dataset.shuffle`, 50 rows, all answer types, the yes/no judge
    gpt-5-mini as the reward); fields you set still win."""
    source: Literal["hub", "offline"] = "hub"
    """`hub`: the real Oolong datasets (or a local copy via `data_files`); `offline`: Oolong-style
    tasks generated from a bundled Wikipedia corpus with topic labels (no download)."""
    subset: Literal["synth", "synth_with_labels", "real"] = "synth"
    """`synth` (oolong-synth), `synth_with_labels` (its labelled contexts) or `real` (oolong-real dnd)."""
    split: str = "validation"
    """Hub split (oolong-synth: validation or test)."""
    revision: str | None = None
    """Hub revision (commit hash or branch); None = the commit this package pins for the subset."""
    data_files: list[str] | None = None
    """Local parquet/JSON files with the hub's columns, used instead of the hub."""
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
    num_examples: int | None = Field(default=50, ge=1)
    """How many tasks; None = all that pass the filters."""
    shuffle: bool = True
    """Put the rows that pass the filters in the order `datasets.Dataset.shuffle(seed)` gives them, then
    take `num_examples`."""
    seed: int = 0
    """Seed for shuffling and for the offline generator."""
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
        rows = self._offline() if c.source == "offline" else self._hub()
        rows = [r for r in rows if self._keep(r)]
        if c.shuffle:
            rows = [rows[i] for i in reference_order(len(rows), c.seed)]
        rows = rows[: c.num_examples] if c.num_examples else rows
        return [OolongTask(self._data(r), c.task) for r in rows]

    def _offline(self) -> list[dict]:
        c = self.config
        count = c.num_examples or 50
        args = dict(
            context_chars=c.offline_context_chars,
            num_tasks=count,
            seed=c.seed,
            questions_per_window=c.offline_questions_per_window,
        )
        labelled = c.subset == "synth_with_labels"
        return [
            {
                **{k: v for k, v in row.items() if not k.startswith("context_window_text")},
                "context_chars": len(row[CONTEXT_COLUMN[c.subset]]),
                "ref": Ref(fn="oolong_rlm.data:offline_context", args={**args, "row": i, "labelled": labelled}),
            }
            for i, row in enumerate(offline_rows(**args))
        ]

    def _hub(self) -> list[dict]:
        c = self.config
        table = hub_rows(c.subset, c.split, c.revision, tuple(c.data_files) if c.data_files else None)
        column = CONTEXT_COLUMN[c.subset]
        small = table.remove_columns([n for n in table.column_names if n.startswith("context_window_text")])
        lengths = [len(text) for text in table[column]] if c.subset == "real" else None
        rows = []
        for i, row in enumerate(small):
            chars = lengths[i] if lengths else int(row.get("context_len", 0))
            args = {"subset": c.subset, "split": c.split, "revision": c.revision, "data_files": c.data_files, "row": i}
            rows.append({**row, "context_chars": chars, "ref": Ref(fn="oolong_rlm.data:hub_context", args=args)})
        return rows

    def _keep(self, row: dict) -> bool:
        c = self.config
        answer_type = row.get("answer_type", "dnd")
        return (
            (c.datasets is None or row.get("dataset") in c.datasets)
            and (c.min_context_chars is None or row["context_chars"] >= c.min_context_chars)
            and (c.max_context_chars is None or row["context_chars"] <= c.max_context_chars)
            and (c.answer_types is None or answer_type in c.answer_types)
            and not (c.drop_numeric and answer_type == "ANSWER_TYPE.NUMERIC")
        )

    def _data(self, row: dict) -> OolongData:
        subset = self.config.subset
        question = row["question"] if subset != "real" else f"{row['question']}\n\n{REAL_INSTRUCTION}"
        return OolongData(
            id=str(row["id"]),
            prompt=question,
            extra_data_ref=row["ref"],
            env_tips=TIPS,
            env_tips_code=TIPS_CODE if subset != "real" else None,
            standard_inline_data=True,
            data_preview_chars=0,
            answer=str(row["answer"]),
            answer_type=row.get("answer_type", "dnd"),
            subset=subset,
            context_chars=row["context_chars"],
            source_dataset=str(row.get("dataset", "")),
        )
