"""What a run's numbers look like to a person: the summary table, the ablation table and chart.

The ablation follows the article's shape: one row per mode with the reward, the root model's
tokens, the sub-LLMs' tokens and the time, all means per rollout. A second table gives the
learning signal of each mode (rlm_env.run.results.learnability): pass@1, pass@K (K > 1 only),
the share of tasks whose rollouts disagree, the within-task reward spread, how often
llm_batch was called and answer["ready"] set, and the stop-reason mix.
"""

from pathlib import Path
from typing import Any

from rich.table import Table

ABLATION_MARKDOWN = "ablation.md"
ABLATION_CHART = "ablation.png"


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def reward_text(reward: dict[str, Any]) -> str:
    """ "0.667 [-0.768, 2.101] (n=3)": mean, 95% confidence interval, rollouts scored."""
    if reward["mean"] is None:
        return "- (no rollout scored)"
    ci = reward["ci95"]
    interval = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
    return f"{reward['mean']:.3f}{interval} (n={reward['n']})"


def counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items()) or "-"


def share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def learnability_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(figure, value) pairs of a run's learning signal; no pass@K row when K == 1."""
    learn, threshold = summary["learnability"], summary["pass_threshold"]
    rows = [(f"pass@1 (reward >= {threshold:g})", fmt(learn["pass_at_1"], 3))]
    if learn["k"] > 1:
        rows.append((f"pass@{learn['k']}", fmt(learn["pass_at_k"], 3)))
    rows += [
        ("learnable tasks", f"{share(learn['learnable_share'])} (rollouts disagree on the reward)"),
        ("within-task reward std", fmt(learn["within_task_reward_std"], 3)),
        ("called llm_batch", f"{share(learn['llm_batch_share'])} of rollouts"),
        ("set answer ready", f"{share(learn['answer_ready_share'])} of rollouts"),
    ]
    return rows


def summary_table(summary: dict[str, Any]) -> Table:
    """The summary of one run, one figure per row."""
    means = summary["means"]
    title = (
        f"{summary['env_id']} · {summary['mode']} · {summary['model']} · "
        f"{summary['rollouts']} rollouts ({summary['failed']} failed)"
    )
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("figure", style="bold")
    table.add_column("value")
    table.add_row("reward (95% CI)", reward_text(summary["reward"]))
    table.add_row(
        "root tokens",
        f"{fmt(means['root_tokens'], 0)} per rollout ({fmt(means['root_completion_tokens'], 0)} completion)",
    )
    table.add_row("sub-LLM tokens", f"{fmt(means['sub_llm_tokens'], 0)} per rollout")
    table.add_row("turns", f"{fmt(means['turns'])} per rollout")
    table.add_row("sub-LLM calls", f"{fmt(means['sub_llm_calls'])} per rollout")
    table.add_row("REPL time", f"{fmt(means['repl_seconds'], 2)} s per rollout")
    table.add_row(
        "wall time", f"{fmt(means['rollout_seconds'])} s per rollout, {fmt(summary['run_seconds'])} s for the run"
    )
    for name, value in learnability_rows(summary):
        table.add_row(name, value)
    table.add_row("stop reasons", counts_text(summary["stop_reasons"]))
    if summary["errors"]:
        table.add_row("errors", counts_text(summary["errors"]), style="red")
    return table


def ablation_markdown(summaries: dict[str, dict[str, Any]]) -> str:
    """The ablation table in markdown: one row per mode, means per rollout."""
    first = next(iter(summaries.values()))
    lines = [
        f"**{first['env_id']}** with `{first['model']}` (means per rollout; reward with its 95% CI)",
        "",
        "| mode | reward | root-model tokens | sub-LLM tokens | time (s) | rollouts (failed) |",
        "|---|---|---|---|---|---|",
    ]
    for mode, s in summaries.items():
        m = s["means"]
        lines.append(
            f"| {mode} | {reward_text(s['reward'])} | {fmt(m['root_tokens'], 0)} | "
            f"{fmt(m['sub_llm_tokens'], 0)} | {fmt(m['rollout_seconds'])} | "
            f"{s['rollouts']} ({s['failed']}) |"
        )
    return "\n".join(lines) + "\n\n" + learnability_markdown(summaries)


def learnability_markdown(summaries: dict[str, dict[str, Any]]) -> str:
    """The learning-signal table: one row per mode; a pass@K column only when K > 1."""
    first = next(iter(summaries.values()))
    k = max(s["learnability"]["k"] for s in summaries.values())
    threshold = first["pass_threshold"]
    pass_k = [f"pass@{k}"] if k > 1 else []
    header = [
        "mode",
        "pass@1",
        *pass_k,
        "learnable tasks",
        "within-task std",
        "llm_batch",
        "answer ready",
        "stop reasons",
    ]
    lines = [
        f"Learning signal: K = {k} rollout(s) per task; a rollout passes when its reward >= {threshold:g}; "
        "learnable = the task's rollouts do not all get the same reward; llm_batch / answer ready = "
        'share of rollouts that called llm_batch / set answer["ready"]',
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for mode, s in summaries.items():
        learn = s["learnability"]
        cells = [
            mode,
            fmt(learn["pass_at_1"], 3),
            *([fmt(learn["pass_at_k"], 3)] if k > 1 else []),
            share(learn["learnable_share"]),
            fmt(learn["within_task_reward_std"], 3),
            share(learn["llm_batch_share"]),
            share(learn["answer_ready_share"]),
            counts_text(s["stop_reasons"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def ablation_chart(summaries: dict[str, dict[str, Any]], path: Path) -> None:
    """Two rows of bar panels, one bar (group) per mode. Top: reward with its CI, root tokens,
    sub-LLM tokens, time. Bottom: pass@1 and pass@K, learnable share and within-task std, the
    shares calling llm_batch and setting answer ready, and the stop-reason mix (stacked)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and in CI
    import matplotlib.pyplot as plt

    modes = list(summaries)
    panels = [
        ("reward", None),
        ("root-model tokens", "root_tokens"),
        ("sub-LLM tokens", "sub_llm_tokens"),
        ("time per rollout (s)", "rollout_seconds"),
    ]
    fig, grid = plt.subplots(2, len(panels), figsize=(3.4 * len(panels), 6.8))
    for ax, (label, key) in zip(grid[0], panels, strict=True):
        if key is None:
            rewards = [summaries[mode]["reward"] for mode in modes]
            heights = [r["mean"] or 0.0 for r in rewards]
            # matplotlib wants the CI as distances below and above each bar
            ci = [r["ci95"] or [h, h] for r, h in zip(rewards, heights, strict=True)]
            errors = [
                [h - lo for h, (lo, _) in zip(heights, ci, strict=True)],
                [hi - h for h, (_, hi) in zip(heights, ci, strict=True)],
            ]
            ax.bar(modes, heights, yerr=errors, capsize=4, color="tab:blue")
        else:
            ax.bar(modes, [summaries[mode]["means"][key] or 0.0 for mode in modes], color="tab:gray")
        ax.set_title(label, fontsize=10)
        ax.tick_params(axis="x", labelsize=9)
    k = max(s["learnability"]["k"] for s in summaries.values())
    pairs = [
        ("pass@1" + (f" / pass@{k}" if k > 1 else ""), ["pass_at_1"] + (["pass_at_k"] if k > 1 else [])),
        ("learnable share / within-task std", ["learnable_share", "within_task_reward_std"]),
        ("share calling llm_batch / answer ready", ["llm_batch_share", "answer_ready_share"]),
    ]
    for ax, (label, keys) in zip(grid[1], pairs, strict=False):
        _grouped_bars(ax, modes, {key: [summaries[m]["learnability"][key] or 0.0 for m in modes] for key in keys})
        ax.set_title(label, fontsize=10)
        ax.set_ylim(0, 1.05)
    _stop_reason_bars(grid[1][-1], modes, {m: summaries[m]["stop_reasons"] for m in modes})
    first = summaries[modes[0]]
    fig.suptitle(f"{first['env_id']} · {first['model']} · K = {k}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _grouped_bars(ax, modes: list[str], series: dict[str, list[float]]) -> None:
    width = 0.8 / len(series)
    for i, (name, values) in enumerate(series.items()):
        ax.bar([m + (i - (len(series) - 1) / 2) * width for m in range(len(modes))], values, width, label=name)
    ax.set_xticks(range(len(modes)), modes, fontsize=9)
    if len(series) > 1:
        ax.legend(fontsize=7)


def _stop_reason_bars(ax, modes: list[str], counts: dict[str, dict[str, int]]) -> None:
    """Each mode's stop reasons as shares of its rollouts, stacked."""
    reasons = sorted({reason for mix in counts.values() for reason in mix})
    bottoms = [0.0] * len(modes)
    for reason in reasons:
        shares = [counts[m].get(reason, 0) / (sum(counts[m].values()) or 1) for m in modes]
        ax.bar(modes, shares, bottom=bottoms, label=reason)
        bottoms = [b + v for b, v in zip(bottoms, shares, strict=True)]
    ax.set_title("stop reasons (share of rollouts)", fontsize=10)
    ax.set_ylim(0, 1.05)
    ax.tick_params(axis="x", labelsize=9)
    ax.legend(fontsize=7)
