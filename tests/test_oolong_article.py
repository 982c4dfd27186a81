"""oolong-rlm at `preset = "article"`: the reference's row selection on a local file with the hub's
columns, every answer type kept, the yes/no judge as the reward (explicit settings still win)."""

import json

import datasets
import pytest

from conftest import run_env
from fake_openai import FakeOpenAI, code, text
from oolong_rlm.taskset import OolongConfig, OolongTaskset

KINDS = [
    ("['location']", "ANSWER_TYPE.LABEL"),
    ("[7]", "ANSWER_TYPE.NUMERIC"),
    ("['more common than']", "ANSWER_TYPE.COMPARISON"),
    ("[datetime.date(2023, 1, 5)]", "ANSWER_TYPE.DATE"),
    ("[76063]", "ANSWER_TYPE.USER"),
]
LABELS = "abbreviation, entity, description and abstract concept, human being, location, numeric value"


def hub_row(i: int) -> dict:
    """A row with the oolong-synth columns and types (ids are not in order, as on the hub)."""
    answer, answer_type = KINDS[i % len(KINDS)]
    context = f"The following lines contain 2 questions...\nDate: Dec 28, 2022 || User: 76063 || Instance: Q{i}?\n"
    return {
        "id": 1000 + (i * 37) % 101,
        "context_len": 1024,
        "dataset": "trec_coarse",
        "context_window_text": context,
        "context_window_text_with_labels": context.replace("?\n", "? || Label: location\n"),
        "question": f"Question {i}: which label is most common? ... one of the labels: {LABELS}.",
        "task_group": "counting",
        "task": "TASK_TYPE.MOST_FREQ",
        "answer": answer,
        "answer_type": answer_type,
        "input_subset": "False",
        "num_labels": 6,
        "context_window_id": i // 3,
    }


@pytest.fixture(scope="module")
def hub_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("oolong") / "validation.jsonl"
    path.write_text("".join(json.dumps(hub_row(i)) + "\n" for i in range(40)))
    return str(path)


def test_article_preset_takes_the_reference_rows_in_the_reference_order(hub_file):
    tasks = OolongTaskset(OolongConfig(preset="article", data_files=[hub_file], num_examples=12)).load()
    # the reference: load the split, Dataset.shuffle(seed=42), take the first rows (no filter)
    reference = datasets.load_dataset("json", data_files=[hub_file], split="train").shuffle(seed=42)
    assert [t.data.id for t in tasks] == [str(i) for i in reference["id"][:12]]
    assert "ANSWER_TYPE.NUMERIC" in {t.data.answer_type for t in tasks}  # NUMERIC rows are not filtered out
    ours = OolongTaskset(OolongConfig(data_files=[hub_file], num_examples=12)).load()
    assert [t.data.id for t in ours] != [t.data.id for t in tasks]  # our default seed is 0


def test_article_preset_settings_and_explicit_values_win():
    config = OolongConfig(preset="article")
    assert (config.split, config.seed, config.shuffle, config.num_examples, config.drop_numeric) == (
        "validation",
        42,
        True,
        50,
        False,
    )
    assert config.task.reward == "judge" and config.task.judge.model == "gpt-5-mini"
    mine = OolongConfig.model_validate(
        {
            "preset": "article",
            "drop_numeric": True,
            "subset": "real",
            "task": {"judge": {"base_url": "http://127.0.0.1:1/v1"}},
        }
    )
    assert mine.drop_numeric and mine.subset == "real"
    assert mine.task.judge.model == "gpt-5-mini" and mine.task.judge.base_url == "http://127.0.0.1:1/v1"
    assert OolongConfig.model_validate({"preset": "article", "task": {"reward": "official"}}).task.reward == "official"
    default = OolongConfig()
    assert default.task.reward == "official" and default.seed == 0


def test_e2e_article_preset_is_judged_on_the_final_answer(hub_file):
    seen = []

    def judge(request):
        seen.append(request["messages"][-1]["content"])
        return text("yes" if "Response:\nlocation" in seen[-1] else "no")

    def root(request):
        return code("answer['content'] = '<think>count</think> \\\\boxed{location}  '\nanswer['ready'] = True")

    with FakeOpenAI(root=root) as server, FakeOpenAI(root=judge) as judge_server:
        judge_config = {"base_url": judge_server.base_url, "api_key_var": "FAKE_API_KEY", "max_retries": 0}
        results = run_env(
            server,
            "oolong-rlm",
            {"preset": "article", "data_files": [hub_file], "num_examples": 2, "task": {"judge": judge_config}},
        )
    server.check()
    judge_server.check()
    assert len(seen) == 2
    for (task, trace), prompt in zip(results, seen):
        assert task.data.prompt in prompt  # the question, the readable gold, the cleaned answer
        assert trace.rewards["oolong_score"].score == 1.0
        [call] = trace.info["judge_calls"]
        assert call["name"] == "oolong_score" and call["request"]["model"] == "gpt-5-mini"
