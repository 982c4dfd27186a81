"""deepdive-rlm at `preset = "article"`: the reference's rows (split, then shuffle) on a local file with
the hub's columns, and the judge on a rollout: it sees the cleaned final answer, a hedging reply is a
recorded judge error."""

import json
from pathlib import Path

import datasets
import pytest

from conftest import run_env
from deepdive_rlm.taskset import DeepDiveConfig, DeepDiveTaskset
from fake_openai import FakeOpenAI, Script, text

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "deepdive_qa_rl.sample.jsonl"


@pytest.fixture(scope="module")
def hub_file(tmp_path_factory) -> str:
    """The 24 real qa_rl rows of shared/data in the hub's column layout (`id` and `conversations`
    are not in that sample: made-up ids, a one-turn conversation)."""
    if not SAMPLE.exists():
        pytest.skip(f"{SAMPLE} is not on this machine")
    rows = [json.loads(line) for line in SAMPLE.read_text().splitlines()]
    table = [
        {
            "id": 5000 + 7 * i,
            "question": r["question"],
            "answer": r["answer"],
            "conversations": [{"role": "user", "content": r["question"]}],
        }
        for i, r in enumerate(rows)
    ]
    path = tmp_path_factory.mktemp("deepdive") / "qa_rl.parquet"
    datasets.Dataset.from_list(table).to_parquet(str(path))
    return str(path)


@pytest.mark.parametrize("split, part", [("eval", "test"), ("train", "train")])
def test_article_preset_takes_the_reference_rows_in_the_reference_order(hub_file, split, part):
    tasks = DeepDiveTaskset(DeepDiveConfig(preset="article", data_files=[hub_file], split=split)).load()
    # the reference: train_test_split(test_size=0.1, seed=42), then that part's Dataset.shuffle(seed=42)
    table = datasets.Dataset.from_parquet(hub_file)
    reference = table.train_test_split(test_size=0.1, seed=42)[part].shuffle(seed=42)
    assert [t.data.id for t in tasks] == [str(i) for i in reference["id"]]
    assert len(tasks) == (3 if split == "eval" else 21)
    ours = DeepDiveTaskset(DeepDiveConfig(data_files=[hub_file], split=split)).load()
    if split == "train":
        assert [t.data.id for t in ours] != [t.data.id for t in tasks]  # our default shuffle seed is 0


def test_article_preset_settings_and_explicit_values_win():
    config = DeepDiveConfig(preset="article")
    assert (config.source, config.split, config.split_seed, config.seed, config.num_examples) == (
        "hub",
        "eval",
        42,
        42,
        50,
    )
    assert config.search.backend == "serper" and config.search.max_page_chars == 20_000
    assert config.task.reward == "judge" and config.task.judge.model == "gpt-4.1-mini"
    prompt = "Q {question} A {answer} R {response}"
    mine = DeepDiveConfig.model_validate(
        {"preset": "article", "search": {"backend": "local"}, "task": {"judge": {"model": "other", "prompt": prompt}}}
    )
    assert mine.search.backend == "local" and mine.search.max_results == 10
    assert mine.task.judge.model == "other" and mine.task.judge.prompt == prompt


def article_run(hub_file: str, reply: str, judge_replies: list, index_dir: Path):
    judge = Script(judge_replies, name="judge")
    with (
        FakeOpenAI(root=lambda r: text(reply), is_sub=lambda r: False) as server,
        FakeOpenAI(root=judge) as judge_server,
    ):
        results = run_env(
            server,
            "deepdive-rlm",
            {
                "preset": "article",
                "data_files": [hub_file],
                "num_examples": 2,
                "search": {"backend": "local", "cache_dir": str(index_dir)},
                "task": {"judge": {"base_url": judge_server.base_url, "api_key_var": "FAKE_API_KEY", "max_retries": 0}},
            },
            {"mode": "standard"},
        )
    server.check()
    judge_server.check()
    return results, judge


def test_e2e_the_judge_sees_the_final_answer_and_a_hedge_is_an_error(hub_file, tmp_path):
    reply = "<think>Lastovo? Vis?</think>\n\nAfter searching: \\boxed{Lagosta island}  \n"
    results, judge = article_run(hub_file, reply, [text("Yes."), text("yes... or rather no")], tmp_path)
    for request in judge.requests:
        content = request["messages"][0]["content"]
        assert request["model"] == "gpt-4.1-mini"
        assert "Response:\nLagosta island\n\n" in content and "<think>" not in content and "boxed" not in content
    (_, judged), (_, failed) = results
    assert judged.ok and judged.rewards["correct"].score == 1.0
    assert not failed.ok and failed.rewards["correct"] is None  # no verdict: an error, never a 0
    assert any("JudgeError" in e.message and "neither a clear yes nor a clear no" in e.message for e in failed.errors)
    assert [call["name"] for call in failed.info["judge_calls"]] == ["correct"]  # the billed reply is kept
