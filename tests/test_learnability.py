"""The learning-signal figures (pass@1, pass@K, learnable share, ...) on hand-built run folders."""

import math

import pytest

from rlm_env.run.report import ablation_chart, ablation_markdown, learnability_rows
from rlm_env.run.results import RunWriter, pass_at_k, read_records, read_summary, summarize

LEARNABILITY_KEYS = {
    "k",
    "pass_at_1",
    "pass_at_k",
    "learnable_share",
    "within_task_reward_std",
    "llm_batch_share",
    "answer_ready_share",
}


def record(index: int, task: int, reward: float | None, stop: str = "max_turns", batches: int = 0) -> dict:
    return {
        "index": index,
        "task_id": f"t{task}",
        "task_index": task,
        "rollout": 0,
        "ok": reward is not None,
        "reward": reward,
        "stop_reason": stop if reward is not None else "provider_error",
        "seconds": 1.0,
        "errors": [] if reward is not None else [{"type": "ProviderError", "message": "x"}],
        "metrics": {"sub_llm_batches": float(batches), "root_turns": 1.0},
    }


def write_run(
    folder, rewards_by_task: list[list], mode: str = "rlm", stops: dict | None = None, batches: dict | None = None
) -> dict:
    """A run folder as `rlm-env eval` leaves it: records appended one by one, then summary.json.
    `stops` and `batches` map a rollout's index to its stop reason and llm_batch calls."""
    writer = RunWriter(folder, {"env_id": "env-x", "mode": mode, "model": "m", "pass_threshold": 1.0})
    index = 0
    for task, rewards in enumerate(rewards_by_task):
        for reward in rewards:
            writer.add(
                record(index, task, reward, (stops or {}).get(index, "max_turns"), (batches or {}).get(index, 0))
            )
            index += 1
    writer.finish(run_seconds=1.0)
    assert len(read_records(folder)) == index
    return read_summary(folder)


def test_pass_at_k_is_the_unbiased_estimator():
    # By hand: 5 samples, 2 pass, k = 3: 1 - C(3,3)/C(5,3) = 1 - 1/10.
    assert pass_at_k(5, 2, 3) == pytest.approx(0.9)
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(4, 1, 2) == pytest.approx(1 - 3 / 6)  # C(3,2)/C(4,2) = 3/6
    assert pass_at_k(4, 0, 4) == 0.0 and pass_at_k(4, 4, 1) == 1.0
    with pytest.raises(ValueError):
        pass_at_k(2, 1, 3)


def test_run_folder_with_four_rollouts_per_task(tmp_path):
    rewards = [
        [1.0, 0.0, 0.0, 0.0],  # learnable; pass@1 1/4, pass@4 1
        [1.0, 1.0, 1.0, 1.0],  # all pass: nothing to learn
        [0.0, 0.0, 0.0, 0.0],  # all fail: nothing to learn
        [0.5, 0.0, 1.0, None],  # one failed rollout: 3 scored, 1 passes (0.5 < threshold 1.0)
    ]
    summary = write_run(
        tmp_path / "run",
        rewards,
        stops={0: "answer_ready", 4: "answer_ready", 14: "answer_ready"},
        batches={0: 2, 1: 1, 9: 3},
    )
    learn = summary["learnability"]
    assert set(learn) == LEARNABILITY_KEYS and summary["pass_threshold"] == 1.0
    assert learn["k"] == 4
    # pass@1 per task: 1/4, 1, 0, 1/3; pass@4: 1, 1, 0, and pass@3 for the task with 3 scored (1 of 3 pass: 1).
    assert learn["pass_at_1"] == pytest.approx((1 / 4 + 1 + 0 + 1 / 3) / 4)
    assert learn["pass_at_k"] == pytest.approx(3 / 4)
    assert learn["learnable_share"] == pytest.approx(2 / 4)
    # Population std within each task: sqrt(3)/4, 0, 0, std(0.5, 0, 1) = sqrt(1/6).
    assert learn["within_task_reward_std"] == pytest.approx((math.sqrt(3) / 4 + math.sqrt(1 / 6)) / 4)
    assert learn["llm_batch_share"] == pytest.approx(3 / 16)
    assert learn["answer_ready_share"] == pytest.approx(3 / 16)
    assert summary["stop_reasons"] == {"max_turns": 12, "answer_ready": 3, "provider_error": 1}  # kept as before


def test_a_lower_threshold_counts_partial_rewards_as_passes():
    records = [record(i, 0, reward) for i, reward in enumerate([0.5, 0.0])]
    assert summarize(records)["learnability"]["pass_at_1"] == 0.0
    lenient = summarize(records, pass_threshold=0.5)
    assert lenient["pass_threshold"] == 0.5 and lenient["learnability"]["pass_at_1"] == 0.5
    assert lenient["learnability"]["pass_at_k"] == 1.0


def test_one_rollout_per_task_has_no_pass_at_k(tmp_path):
    summary = write_run(tmp_path / "run", [[1.0], [0.0], [1.0]])
    learn = summary["learnability"]
    assert learn["k"] == 1 and learn["pass_at_1"] == pytest.approx(2 / 3)
    assert learn["pass_at_k"] is None and learn["learnable_share"] is None and learn["within_task_reward_std"] is None
    table = ablation_markdown({"rlm": summary})
    header = next(line for line in table.splitlines() if line.startswith("| mode | pass@1"))
    assert "pass@" not in header.replace("pass@1", "") and "| rlm | 0.667 | - |" in table
    assert [name for name, _ in learnability_rows(summary) if name.startswith("pass@")] == ["pass@1 (reward >= 1)"]


def test_ablation_table_and_chart_show_the_learning_signal(tmp_path):
    standard = write_run(tmp_path / "standard", [[1.0, 0.0], [0.0, 0.0]], mode="standard")
    rlm = write_run(
        tmp_path / "rlm", [[1.0, 1.0], [1.0, 0.0]], mode="rlm", stops={0: "answer_ready"}, batches={0: 1, 1: 1}
    )
    table = ablation_markdown({"standard": standard, "rlm": rlm})
    assert "K = 2 rollout(s) per task; a rollout passes when its reward >= 1" in table
    assert (
        "| mode | pass@1 | pass@2 | learnable tasks | within-task std | llm_batch | answer ready | stop reasons |"
    ) in table
    assert "| standard | 0.250 | 0.500 | 50% | 0.250 | 0% | 0% | max_turns 4 |" in table
    assert "| rlm | 0.750 | 1.000 | 50% | 0.250 | 50% | 25% | max_turns 3, answer_ready 1 |" in table
    assert ("pass@2", "0.500") in learnability_rows(standard)
    ablation_chart({"standard": standard, "rlm": rlm}, tmp_path / "chart.png")
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
