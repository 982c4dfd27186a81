"""verbatim-copy: reproduce a generated text exactly.

The text sits in the prompt in every mode (a copy in the REPL would make the task trivial),
so the test is whether the model can write it back character for character. A `\boxed{...}`
wrapper around the copy is removed before comparing. Worked example:

    prompt  "Copy the text between the <text> tags exactly ... <text>\nRope. Trellis granite\n</text>"
    answer  "Rope. Trellis granite"            -> exact_match 1.0
    answer  "\\boxed{Rope. Trellis granite}"   -> exact_match 1.0
    answer  "Rope. Trellis granit"             -> exact_match 0.0, char_accuracy 20/21, similarity 20/21

`preset = "article"` reproduces the article's runs (verbatim_copy_rlm.article_generator: texts
shaped like the reference's, 500 characters, fragments of ~20, seed 42, the reference's shuffle
and prompt layout, and a system prompt asking for the copy in `\boxed{}`).

Run it: `rlm-env eval verbatim-copy-rlm -n 5` (or `vf-eval verbatim-copy-rlm`).
"""

from typing import Literal

import verifiers.v1 as vf
from pydantic import ConfigDict, Field, model_validator

from rlm_env import RLMTaskData
from rlm_env.data import PresetDefaults, reference_order
from rlm_env.scoring import char_accuracy, exact_match, final_answer, levenshtein_similarity, unwrap_boxed
from verbatim_copy_rlm.article_generator import article_samples
from verbatim_copy_rlm.generator import MIN_LENGTH, generate_samples
from verbatim_copy_rlm.prompts import ARTICLE_PROMPT, ARTICLE_SYSTEM_PROMPT, PROMPT, TIPS

ARTICLE = {"target_length": 500, "mean_fragment_length": 20, "seed": 42, "shuffle": True, "content_type": "all"}
"""The article's runs: 50 texts (the default count) of 500 characters from the `all` mix, fragments of
about 20 characters, seed 42, shuffled with `Dataset.shuffle(seed=42)`."""


class VerbatimCopyData(RLMTaskData):
    text: str
    """The text the model must reproduce."""
    content_type: str
    """words, json, csv, codes or mixed."""
    fragmented: bool = False
    """Whether the text was spliced from slices of several sources."""


def copied_text(trace: vf.Trace) -> str:
    """The final answer with a `\\boxed{...}` wrapper removed (as the reference does); nothing else
    is normalised."""
    return unwrap_boxed(final_answer(trace))


class VerbatimCopyTask(vf.Task[VerbatimCopyData, vf.State, vf.TaskConfig]):
    @vf.reward(weight=1.0)
    async def exact_match(self, trace: vf.Trace) -> float:
        return exact_match(copied_text(trace), self.data.text)

    @vf.metric
    async def char_accuracy(self, trace: vf.Trace) -> float:
        return char_accuracy(copied_text(trace), self.data.text)

    @vf.metric
    async def levenshtein_similarity(self, trace: vf.Trace) -> float:
        return levenshtein_similarity(copied_text(trace), self.data.text)


class VerbatimCopyConfig(PresetDefaults, vf.TasksetConfig):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)
    PRESETS = {"article": ARTICLE}

    preset: Literal["ours", "article"] = "ours"
    """`ours`: our generator (valid JSON/CSV, varied lengths, fragments from several sources). `article`:
    the article's run settings (texts shaped like the reference's, 500 characters, fragments of ~20,
    seed 42, the reference's shuffle, its prompt layout and boxed answer); fields you set still win."""
    content_type: Literal["words", "json", "csv", "codes", "mixed", "all"] = "all"
    """Kind of text: `words`, `json`, `csv`, `codes`, `mixed`, or `all` (ours: an even mix of the five;
    article: words, json and csv 20% each, codes 25%, mixed 15%)."""
    num_examples: int = Field(default=50, ge=1)
    """How many texts to generate."""
    min_length: int = Field(default=200, ge=MIN_LENGTH)
    """Shortest text, in characters (preset `ours`, when `target_length` is unset)."""
    max_length: int = Field(default=600, ge=MIN_LENGTH)
    """Longest text, in characters; each length is drawn uniformly from [min_length, max_length]."""
    target_length: int | None = Field(default=None, ge=MIN_LENGTH)
    """Every text's length in characters. Unset: `ours` draws lengths from [min_length, max_length],
    `article` uses its per-type lengths (words 200, json 500, csv 500, codes 300, mixed 600)."""
    mean_fragment_length: int | None = Field(default=None, ge=2)
    """If set, splice each text from slices of about this many characters (uniform in [0.5m, 1.5m]):
    `ours` takes them from different generated sources, `article` from one over-produced source text
    (so slices overlap and repeat)."""
    shuffle: bool = False
    """Put the texts in the order `datasets.Dataset.shuffle(seed)` gives them (as the article's runs did)."""
    seed: int = 0
    """Seed of the generator (and the shuffle): the same config always yields the same tasks."""

    @model_validator(mode="after")
    def _lengths_in_order(self) -> "VerbatimCopyConfig":
        if self.min_length > self.max_length:
            raise ValueError(
                f"min_length ({self.min_length}) is larger than max_length ({self.max_length}): "
                "lower min_length or raise max_length"
            )
        m, n = self.mean_fragment_length, self.target_length
        if m is not None and n is not None and m > n:
            raise ValueError(
                f"mean_fragment_length ({m}) is longer than target_length ({n}): lower it or raise target_length"
            )
        return self


class VerbatimCopyTaskset(vf.Taskset[VerbatimCopyTask, VerbatimCopyConfig]):
    def load(self) -> list[VerbatimCopyTask]:
        c = self.config
        if c.preset == "article":
            samples = article_samples(c.num_examples, c.content_type, c.target_length, c.mean_fragment_length, c.seed)
            prompt, system = ARTICLE_PROMPT, ARTICLE_SYSTEM_PROMPT
        else:
            low, high = (c.target_length, c.target_length) if c.target_length else (c.min_length, c.max_length)
            samples = generate_samples(c.content_type, c.num_examples, low, high, c.mean_fragment_length, c.seed)
            prompt, system = PROMPT, None
        if c.shuffle:
            samples = [samples[i] for i in reference_order(len(samples), c.seed)]
        return [
            VerbatimCopyTask(
                VerbatimCopyData(
                    id=sample.id,
                    prompt=prompt.format(text=sample.text),
                    system_prompt=system,
                    env_tips=TIPS,
                    text=sample.text,
                    content_type=sample.content_type,
                    fragmented=sample.fragmented,
                ),
                c.task,
            )
            for sample in samples
        ]
