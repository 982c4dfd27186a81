"""The numbers recorded on every rollout, from one place (names feed the ablation tables)."""

from typing import get_args

from rlm_env.core.loop import LoopResult, StopReason
from rlm_env.core.sub_llm import SubLLMStats
from rlm_env.repl import ReplStats

STOP_REASONS: tuple[str, ...] = get_args(StopReason)


def rollout_metrics(loop: LoopResult, repl: ReplStats | None, sub: SubLLMStats | None) -> dict[str, float]:
    """Every metric as a float; stop reasons as one 0/1 flag each so means are fractions."""
    repl = repl or ReplStats()
    sub = sub or SubLLMStats()
    sizes = sub.batch_sizes
    metrics = {
        "root_turns": loop.root_turns,
        "root_prompt_tokens": loop.root_prompt_tokens,
        "root_completion_tokens": loop.root_completion_tokens,
        "sub_llm_calls": sub.calls,
        "sub_llm_batches": sub.batches,
        "sub_llm_max_batch_size": max(sizes, default=0),
        "sub_llm_mean_batch_size": sum(sizes) / len(sizes) if sizes else 0.0,
        "sub_llm_prompt_tokens": sub.prompt_tokens,
        "sub_llm_completion_tokens": sub.completion_tokens,
        "sub_llm_tool_calls": sub.tool_calls,
        "sub_llm_tool_errors": sub.tool_errors,
        "sub_llm_errors": sub.errors,
        "repl_calls": repl.calls,
        "repl_seconds": repl.seconds,
        "repl_mean_seconds": repl.seconds / repl.calls if repl.calls else 0.0,
        "repl_timeouts": repl.timeouts,
        "repl_restarts": repl.restarts,
        "answer_chars": len(loop.answer),
        "wall_seconds": loop.wall_seconds,
    }
    metrics.update({f"stop_{reason}": float(loop.stop_reason == reason) for reason in STOP_REASONS})
    return {name: float(value) for name, value in metrics.items()}
