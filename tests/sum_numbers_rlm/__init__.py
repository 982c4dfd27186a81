"""A tiny taskset for end-to-end tests: sum the numbers in extra_data.

Installed nowhere: tests put this folder on sys.path, and verifiers loads it by id
`sum-numbers-rlm`, like any environment package.
"""

import random

import verifiers.v1 as vf

from rlm_env import RLMHarness, RLMTaskData


class SumNumbersData(RLMTaskData):
    answer: str
    """The sum, as a decimal string."""


class SumNumbersTask(vf.Task[SumNumbersData, vf.State, vf.TaskConfig]):
    @vf.reward(weight=1.0)
    async def correct(self, trace: vf.Trace) -> float:
        return float(trace.last_reply.strip() == self.data.answer)


class SumNumbersConfig(vf.TasksetConfig):
    num_tasks: int = 2
    """How many tasks to generate."""
    count: int = 5
    """Numbers per task."""


class SumNumbersTaskset(vf.Taskset[SumNumbersTask, SumNumbersConfig]):
    def load(self):
        rng = random.Random(0)
        for i in range(self.config.num_tasks):
            numbers = [rng.randint(1, 100) for _ in range(self.config.count)]
            data = SumNumbersData(
                id=f"sum-{i}",
                prompt="What is the sum of the numbers in the input?",
                extra_data=numbers,
                standard_inline_data=True,
                answer=str(sum(numbers)),
                env_tips="Use Python's sum().",
                env_tips_code="```python\nprint(sum(extra_data))\n```",
            )
            yield SumNumbersTask(data)


__all__ = ["SumNumbersTaskset", "RLMHarness"]
