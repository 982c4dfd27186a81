"""Run folders: one readable record per rollout, and the summary figures computed from them.

A run folder (what `rlm-env eval` writes, and one per mode under `rlm-env ablate`):

    config.json     what was run: env id, mode, model, endpoint, arguments, resolved env config
    traces.jsonl    verifiers' own record, one Episode per line (message graph, calls, timings);
                    read it with verifiers.v1.utils.trace_store.read_episodes
    results.jsonl   one record per rollout, written as each finishes (see `rollout_record`)
    summary.json    `summarize(records)` plus the run's identity, written at the end

The figures are plain means over rollouts, except the reward, which also gets a 95%
confidence interval (Student t on the sample standard deviation). Failed rollouts (an
infrastructure error recorded on the trace) have no reward: they are counted, not scored as 0.

`summary["learnability"]` says whether a group-relative trainer (GRPO) could learn from the
run: the rollouts of one task form a group, and a group whose rewards are all equal gives no
gradient. A rollout *passes* when its reward is at least `summary["pass_threshold"]` (1.0
unless `--pass-threshold` says otherwise); see `learnability`.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rlm_env.core.rollout import RolloutInfo
from rlm_env.core.rollout import parse as parse_request_id

if TYPE_CHECKING:  # `rlm-env view` reads run folders without paying for verifiers' import (seconds)
    import verifiers.v1 as vf

CONFIG_FILE = "config.json"
RESULTS_FILE = "results.jsonl"
SUMMARY_FILE = "summary.json"
TRACES_FILE = "traces.jsonl"  # verifiers.v1.utils.trace_store.TRACES_FILE; written by its append_episode

# Summary figure -> how it is read from one record's metrics (see rlm_env.harness.metrics).
FIGURES: dict[str, tuple[str, ...]] = {
    "root_tokens": ("root_prompt_tokens", "root_completion_tokens"),
    "root_completion_tokens": ("root_completion_tokens",),
    "sub_llm_tokens": ("sub_llm_prompt_tokens", "sub_llm_completion_tokens"),
    "turns": ("root_turns",),
    "sub_llm_calls": ("sub_llm_calls",),
    "repl_seconds": ("repl_seconds",),
}


def rollout_record(trace: vf.Trace, *, index: int, rollout: int) -> dict[str, Any]:
    """Everything a reader needs about one rollout, from its trace, as plain JSON."""
    info = RolloutInfo.of(trace)
    data = trace.task.data
    return {
        "index": index,
        "task_id": data.id,
        "task_index": data.idx,
        "rollout": rollout,
        "trace_id": trace.id,
        "mode": info.mode if info else None,
        "env_tips": info.env_tips if info else None,
        "ok": trace.ok,
        "errors": [{"type": error.type, "message": error.message} for error in trace.errors],
        # The loop's own reason when the harness got that far; verifiers' otherwise.
        "stop_reason": (info.stop_reason if info else None) or trace.stop_condition,
        "stop_condition": trace.stop_condition,
        "reward": reward_of(trace),
        "rewards": {name: (r.score if r is not None else None) for name, r in trace.rewards.items()},
        # Harness metrics come from trace.info: they are there even when scoring did not run.
        "metrics": {**(info.metrics if info else {}), **{k: v for k, v in trace.metrics.items() if v is not None}},
        "seconds": rollout_seconds(trace),
        "prompt": {
            "system": data.system_prompt,
            "user": data.prompt
            if isinstance(data.prompt, str)
            else [m.model_dump(mode="json", exclude_none=True) for m in data.prompt or []],
        },
        "transcript": [m.model_dump(mode="json", exclude_none=True) for m in root_branch_messages(trace)],
        "cells": list(info.cells) if info else [],
        "sub_llm_calls": list(info.sub_llm_calls) if info else [],
        # Unstripped (trace.last_reply strips): a missing final line break is part of the answer.
        "answer": trace.root_reply if trace.root_reply is not None else trace.last_reply,
    }


def failed_episode_record(episode: vf.Episode, *, index: int, rollout: int) -> dict[str, Any]:
    """A record for an episode that produced no trace (an env-level failure)."""
    return {
        "index": index,
        "task_id": episode.task.data.id,
        "task_index": episode.task.data.idx,
        "rollout": rollout,
        "ok": False,
        "reward": None,
        "rewards": {},
        "metrics": {},
        "errors": [{"type": error.type, "message": error.message} for error in episode.errors],
        "stop_reason": "error",
        "seconds": None,
        "prompt": {},
        "transcript": [],
        "cells": [],
        "sub_llm_calls": [],
        "answer": "",
    }


def reward_of(trace: vf.Trace) -> float | None:
    """The total reward, or None when the rollout failed or a reward was not scored."""
    if not trace.ok or not trace.rewards or any(r is None for r in trace.rewards.values()):
        return None
    return trace.reward


def rollout_seconds(trace: vf.Trace) -> float | None:
    """Wall time from runtime boot to the end of scoring (or of the last stage reached)."""
    timing = trace.timing
    ends = [
        span.end
        for span in (timing.scoring, timing.finalize, timing.agent, timing.setup, timing.boot)
        if span.end is not None
    ]
    return max(ends) - timing.start if ends else None


def root_branch_messages(trace: vf.Trace) -> list:
    """The root model's conversation: the branch holding the last root call.

    Sub-LLM calls are branches of their own, and the last branch is not always the root's.
    """

    def last_root_turn(branch) -> int:
        ids = [parse_request_id(c.acp.request_id) for c in branch.calls if c.acp is not None]
        return max((i.turn for i in ids if i is not None and i.depth == 0), default=0)

    branches = trace.branches
    if not branches:
        return []
    best = max(branches, key=last_root_turn)
    return best.messages if last_root_turn(best) else trace.messages


# --------------------------------------------------------------------------- summary


def mean_ci95(values: list[float]) -> dict[str, Any]:
    """Mean, sample standard deviation and a 95% Student-t confidence interval.

    The interval is clipped to the range of the values: rewards are bounded, and with few
    rollouts of a 0/1 reward the t interval would otherwise reach below 0 or above 1."""
    n = len(values)
    if n == 0:
        return {"mean": None, "std": None, "ci95": None, "n": 0}
    mean = sum(values) / n
    if n == 1:
        return {"mean": mean, "std": None, "ci95": None, "n": 1}
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    from scipy import stats  # here, not at the top: importing scipy takes a second that `rlm-env view` never needs

    half = float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n)
    low, high = max(mean - half, min(values)), min(mean + half, max(values))
    return {"mean": mean, "std": std, "ci95": [low, high], "n": n}


def figure(record: dict, name: str) -> float | None:
    metrics = record.get("metrics", {})
    keys = FIGURES[name]
    if not all(key in metrics for key in keys):
        return None
    return sum(metrics[key] for key in keys)


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k estimate from n samples of which c passed (Chen et al., 2021):
    1 - C(n-c, k) / C(n, k), the chance that k of the n samples, drawn without replacement,
    hold at least one pass."""
    if not 0 < k <= n:
        raise ValueError(f"pass@k needs 0 < k <= n, got k={k}, n={n}")
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def learnability(records: list[dict], pass_threshold: float = 1.0) -> dict[str, Any]:
    """How much a group-relative trainer could learn from these rollouts.

    Tasks are grouped by `task_index` and `task_id`; `k` is the most rollouts any task has. Failed rollouts
    (no reward) are left out of the reward figures, as in the reward mean, so a task with n < k
    scored rollouts contributes pass@n to pass@k; a task with none is left out.

    - `pass_at_1`, `pass_at_k`: mean over tasks of the unbiased estimate; a rollout passes when
      its reward >= `pass_threshold`. `pass_at_k` is None when k == 1.
    - `learnable_share`: share of tasks whose scored rollouts do not all get the same reward
      (tasks with at least two scored rollouts; None when there are none, e.g. k == 1).
    - `within_task_reward_std`: mean over those tasks of the population standard deviation of
      their rewards (what GRPO divides advantages by; 0 when nothing is learnable).
    - `llm_batch_share`: share of rollouts that called llm_batch at least once.
    - `answer_ready_share`: share of rollouts that ended by setting answer["ready"].
    """
    by_task: dict[Any, list[float]] = defaultdict(list)
    counts: Counter = Counter()
    for r in records:
        task = (r.get("task_index"), r.get("task_id"))
        counts[task] += 1
        if r["reward"] is not None:
            by_task[task].append(r["reward"])
    k = max(counts.values(), default=0)
    groups = [rewards for rewards in by_task.values() if rewards]
    passes = [(len(rewards), sum(reward >= pass_threshold for reward in rewards)) for rewards in groups]
    multi = [rewards for rewards in groups if len(rewards) > 1]
    return {
        "k": k,
        "pass_at_1": _mean([c / n for n, c in passes]),
        "pass_at_k": _mean([pass_at_k(n, c, min(k, n)) for n, c in passes]) if k > 1 else None,
        "learnable_share": _mean([float(len(set(rewards)) > 1) for rewards in multi]),
        "within_task_reward_std": _mean([_population_std(rewards) for rewards in multi]),
        "llm_batch_share": _mean([float(r.get("metrics", {}).get("sub_llm_batches", 0) > 0) for r in records]),
        "answer_ready_share": _mean([float(r["stop_reason"] == "answer_ready") for r in records]),
    }


def _population_std(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def summarize(records: list[dict], pass_threshold: float = 1.0) -> dict[str, Any]:
    """The summary figures of a run, computed from its rollout records only."""
    means = {name: _mean([figure(r, name) for r in records]) for name in FIGURES}
    means["rollout_seconds"] = _mean([r.get("seconds") for r in records])
    return {
        "rollouts": len(records),
        "failed": sum(not r["ok"] for r in records),
        "reward": mean_ci95([r["reward"] for r in records if r["reward"] is not None]),
        "means": means,
        "stop_reasons": dict(Counter(r["stop_reason"] for r in records).most_common()),
        "errors": dict(Counter(e["type"] for r in records for e in r["errors"]).most_common()),
        "pass_threshold": pass_threshold,
        "learnability": learnability(records, pass_threshold),
    }


# --------------------------------------------------------------------------- files


def holds_run(folder: Path) -> bool:
    return (folder / RESULTS_FILE).exists() or (folder / TRACES_FILE).exists()


class RunWriter:
    """Writes one run folder; records are appended as rollouts finish, so a crash keeps them."""

    def __init__(self, out: Path, config: dict[str, Any]) -> None:
        if holds_run(out):
            raise FileExistsError(f"{out} already holds a run")
        out.mkdir(parents=True, exist_ok=True)
        self.out = out
        self.config = config
        self.records: list[dict] = []
        (out / CONFIG_FILE).write_text(json.dumps(config, indent=2, default=str) + "\n")

    def add(self, record: dict) -> None:
        self.records.append(record)
        with (self.out / RESULTS_FILE).open("a") as f:
            f.write(json.dumps(record, default=str) + "\n")

    def finish(self, run_seconds: float) -> dict[str, Any]:
        """Write summary.json; returns it."""
        identity = {key: self.config.get(key) for key in ("env_id", "mode", "model")}
        summary = {
            **identity,
            **summarize(self.records, self.config.get("pass_threshold", 1.0)),
            "run_seconds": run_seconds,
        }
        (self.out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
        return summary


def read_records(run_dir: Path) -> list[dict]:
    """The rollout records of a run folder, in run order (they are written in finishing order)."""
    path = run_dir / RESULTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a run folder (no {RESULTS_FILE})")
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return sorted(records, key=lambda r: r["index"])


def read_summary(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / SUMMARY_FILE).read_text())
