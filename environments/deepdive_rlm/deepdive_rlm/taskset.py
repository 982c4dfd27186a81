"""deepdive: deep-research questions answered with search and page reading, judged by an LLM.

Each DeepDive question (zai-org/DeepDive, qa_rl) chains several obscure clues to one entity, so
it takes many searches. Tools (`search`, `open`) go to the root model in standard mode and only
to the sub-LLMs in RLM mode. Worked example:

    question  "Begin with a 1930s Italian film, adapted from literature ... Among these territories
               was a particular island that gained representation in that election. What is its name?"
    answer    "Lagosta island"
    response  "Lagosta (today Lastovo, Croatia)"  -> judge: yes -> correct 1.0

Offline (`source = "offline"`) the questions are built from the bundled Wikipedia index with exact
answers (see deepdive_rlm.offline), searched with the `local` backend and scored by exact match.

The judge (rlm_env.scoring.judge, on verifiers' vf.Judge) sees the final answer with reasoning and a
`\\boxed{}` wrapper removed and must reply a clear yes or no. `preset = "article"` reproduces the
article's run: the seed-42 90/10 split's eval part in the order `Dataset.shuffle(seed=42)` gives,
its first 50 questions, web search, judged by gpt-4.1-mini.

Run it: `rlm-env eval deepdive-rlm -n 5` (SERPER_API_KEY and the judge's OPENAI_API_KEY set), or
fully offline: `rlm-env eval deepdive-rlm --env-args '{"source": "offline"}' -n 5`.
"""

from typing import Literal

import verifiers.v1 as vf
from pydantic import ConfigDict, Field, model_validator

from deepdive_rlm.data import hub_rows
from deepdive_rlm.offline import KINDS, offline_rows
from deepdive_rlm.prompts import ANSWER_FORMAT, TIPS
from deepdive_rlm.scoring import exact_match
from deepdive_rlm.tools import SearchConfig
from deepdive_rlm.usage import query_redundancy, tool_usage
from rlm_env import Ref, RLMTaskData
from rlm_env.data import DataSourceConfig
from rlm_env.scoring import JudgeConfig, final_answer, judged

ARTICLE = {
    **{"source": "hub", "split": "eval", "eval_fraction": 0.1, "split_seed": 42, "seed": 42, "shuffle": True},
    "num_examples": 50,
    "search": {"backend": "serper", "max_results": 10, "max_page_chars": 20_000},
    "task": {"reward": "judge", "judge": {"model": "gpt-4.1-mini"}},
}
"""The article's run: qa_rl split 90/10 with seed 42, the eval part shuffled with `Dataset.shuffle(seed=42)`,
50 questions, Serper web search (10 results, pages cut at 20,000 characters), judged by gpt-4.1-mini."""


class DeepDiveData(RLMTaskData):
    question: str
    """The question as asked (the prompt adds the answer-format line)."""
    answer: str
    """Gold answer."""
    source: Literal["hub", "offline"]
    """Where the question came from."""
    kind: str = "deepdive"
    """`deepdive` for hub rows; `title`, `year` or `bridge` for offline questions."""
    evidence: list[str] = []
    """Offline: URLs of the pages holding the answer, in hop order."""


class DeepDiveTaskConfig(vf.TaskConfig):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    reward: Literal["auto", "judge", "exact"] = "auto"
    """`judge` (an LLM says whether the answer matches the gold), `exact` (normalised string match of the
    answer, or of its \\boxed{} part), or `auto`: judge for hub questions, exact for offline ones."""
    judge: JudgeConfig = JudgeConfig()
    """The judge model, its endpoint, API-key variable, retries and prompt."""
    redundancy_penalty: float = Field(default=0.0, ge=0)
    """Subtract this times the share of searches that repeat an earlier query's words (0 = off)."""


class DeepDiveTask(vf.Task[DeepDiveData, vf.State, DeepDiveTaskConfig]):
    @vf.reward(weight=1.0)
    async def correct(self, trace: vf.Trace) -> float:
        """1 if the final answer matches the gold (by judge or exact match), else 0."""
        response = final_answer(trace)
        mode = self.config.reward
        if mode == "auto":
            mode = "exact" if self.data.source == "offline" else "judge"
        if mode == "exact":
            return exact_match(response, self.data.answer)
        return await judged(self.config.judge, self.data.question, self.data.answer, response, trace)

    @vf.reward(weight=-1.0)
    async def redundancy_penalty(self, trace: vf.Trace) -> float:
        """`redundancy_penalty` times the share of repeated search queries (subtracted from the reward)."""
        if self.config.redundancy_penalty == 0:
            return 0.0
        return self.config.redundancy_penalty * query_redundancy(tool_usage(trace).queries)

    @vf.metric
    async def tools(self, trace: vf.Trace) -> dict[str, float]:
        """Search and open calls, tool errors and query redundancy, counted from the trace (all models)."""
        usage = tool_usage(trace)
        return {
            "searches": usage.searches,
            "opens": usage.opens,
            "tool_errors": usage.errors,
            "search_redundancy": query_redundancy(usage.queries),
        }


class DeepDiveConfig(DataSourceConfig):
    PRESETS = {"article": ARTICLE}

    preset: Literal["ours", "article"] = "ours"
    """`ours`: the defaults below. `article`: the article's run (seed-42 90/10 split, its eval part in
    seed-42 `Dataset.shuffle` order, 50 questions, web search, judged by gpt-4.1-mini); fields you set
    still win."""
    split: Literal["train", "eval"] = "eval"
    """`train` (90%) or `eval` (10%) part of the seeded split."""
    eval_fraction: float = Field(default=0.1, gt=0, lt=1)
    """Share of the rows (offline: of the articles) held out for `eval`."""
    split_seed: int = 42
    """Seed of the train/eval split (hub: `Dataset.train_test_split(test_size=eval_fraction, seed=split_seed)`)."""
    offline_kinds: list[Literal["title", "year", "bridge"]] = Field(default=list(KINDS), min_length=1)
    """Offline question kinds, taken in turn: `title` (name the article), `year` (a blanked year), `bridge`
    (two hops)."""
    search: SearchConfig = SearchConfig()
    """Search backend of the `search` and `open` tools, with its limits and cache."""
    task: DeepDiveTaskConfig = DeepDiveTaskConfig()
    """How each task is scored (`--env.taskset.task.<name>`)."""

    @model_validator(mode="after")
    def _check(self) -> "DeepDiveConfig":
        if self.source == "offline" and (self.data_files or self.revision):
            raise ValueError("data_files and revision apply to the hub source: drop them or use source 'hub'")
        return self


class DeepDiveTaskset(vf.Taskset[DeepDiveTask, DeepDiveConfig]):
    def load(self) -> list[DeepDiveTask]:
        c = self.config
        backend = c.search.backend if c.search.backend != "auto" else ("local" if c.source == "offline" else "serper")
        tools = Ref(
            fn="deepdive_rlm.tools:make_tools", args=c.search.model_copy(update={"backend": backend}).model_dump()
        )
        if c.source == "offline":  # in the generator's seeded order
            rows = offline_rows(c.split, c.eval_fraction, c.split_seed, tuple(c.offline_kinds), c.seed, c.num_examples)
        else:
            rows = c.select(hub_rows(c.split, c.eval_fraction, c.split_seed, c.revision, c.data_files))
            rows = [{**row, "prompt": f"{row['question']}\n\n{ANSWER_FORMAT}"} for row in rows]
        return [
            DeepDiveTask(DeepDiveData(**row, source=c.source, tools_ref=tools, env_tips=TIPS), c.task) for row in rows
        ]
