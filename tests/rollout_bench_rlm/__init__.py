"""The taskset of scripts/bench_rollouts.py: one task per rollout over a shared 1 MB context.

Installed nowhere: the benchmark puts tests/ on sys.path and verifiers loads this folder by id
`rollout-bench-rlm`, like any environment package. Each task's prompt carries a rollout tag
("[rollout r-7]") so the scripted server can tell the rollouts apart; the right answer is
the tag itself, so a rollout that got another rollout's replies scores 0.
"""

import functools

import verifiers.v1 as vf

from rlm_env import Ref, RLMHarness, RLMTaskData

PROMPT = "[rollout {tag}] Follow the script and set the answer."
"""The user prompt; the tag is how the benchmark's server groups requests by rollout."""


@functools.cache
def context(chars: int) -> str:
    """The shared input text, built once per process (loaders cache, as the real ones do)."""
    lines, size, i = [], 0, 0
    while size < chars:
        line = f"record {i:07d}: value {i * 7919 % 1000:03d}\n"
        lines.append(line)
        size += len(line)
        i += 1
    return "".join(lines)[:chars]


class RolloutBenchData(RLMTaskData):
    answer: str
    """The rollout tag, which the script's last cell sets as the answer."""


class RolloutBenchTask(vf.Task[RolloutBenchData, vf.State, vf.TaskConfig]):
    @vf.reward(weight=1.0)
    async def correct(self, trace: vf.Trace) -> float:
        return float(trace.last_reply.strip() == self.data.answer)


class RolloutBenchConfig(vf.TasksetConfig):
    num_tasks: int = 1
    """How many tasks (one per planned rollout) to generate."""
    context_chars: int = 1_000_000
    """Characters of the shared `extra_data` text."""


class RolloutBenchTaskset(vf.Taskset[RolloutBenchTask, RolloutBenchConfig]):
    def load(self):
        for i in range(self.config.num_tasks):
            tag = f"r-{i}"
            data = RolloutBenchData(
                id=tag,
                prompt=PROMPT.format(tag=tag),
                extra_data_ref=Ref(fn="rollout_bench_rlm:context", args={"chars": self.config.context_chars}),
                answer=tag,
            )
            yield RolloutBenchTask(data)


__all__ = ["RLMHarness", "RolloutBenchTaskset"]
