"""verbatim-copy-rlm: rewards, config validation, and one end-to-end run per mode."""

import asyncio
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from conftest import run_env
from fake_openai import FakeOpenAI, Script, code, text
from verbatim_copy_rlm.taskset import VerbatimCopyConfig, VerbatimCopyTaskset

GOLD = 'id,name\n1,"Oslo, Norway"\n'


def score(task, reply: str) -> dict[str, float]:
    trace = SimpleNamespace(root_reply=reply, last_reply=reply.strip())  # as verifiers fills them
    return {
        name: asyncio.run(getattr(task, name)(trace))
        for name in ("exact_match", "char_accuracy", "levenshtein_similarity")
    }


def a_task(text_: str = GOLD):
    task = VerbatimCopyTaskset(VerbatimCopyConfig(num_examples=1)).load()[0]
    return task.with_data(text=text_)


def test_gold_scores_one_on_every_signal():
    assert score(a_task(), GOLD) == {"exact_match": 1.0, "char_accuracy": 1.0, "levenshtein_similarity": 1.0}


@pytest.mark.parametrize(
    "wrong",
    [GOLD.replace("Oslo", "Osla"), GOLD.replace("Oslo", "Olo"), GOLD.replace("Oslo", "Osloo"), GOLD.rstrip("\n")],
)
def test_one_character_off_scores_zero_with_partial_similarity(wrong):
    scores = score(a_task(), wrong)
    assert scores["exact_match"] == 0.0
    assert 0 < scores["char_accuracy"] < 1 and 0 < scores["levenshtein_similarity"] < 1


def test_same_config_same_tasks_and_prompt_holds_the_text():
    first = VerbatimCopyTaskset(VerbatimCopyConfig(num_examples=6, seed=3)).load()
    second = VerbatimCopyTaskset(VerbatimCopyConfig(num_examples=6, seed=3)).load()
    assert [t.data for t in first] == [t.data for t in second]
    for task in first:
        assert f"<text>\n{task.data.text}\n</text>" in task.data.prompt
        assert task.data.extra_data is None and task.data.extra_data_ref is None
    assert {t.data.content_type for t in first} == {"words", "json", "csv", "codes", "mixed"}


@pytest.mark.parametrize(
    "bad, fix",
    [
        ({"min_length": 700}, "lower min_length or raise max_length"),
        ({"min_length": 10}, "greater than or equal to 50"),
        ({"content_type": "poems"}, "'words', 'json', 'csv', 'codes', 'mixed' or 'all'"),
        ({"num_examples": 0}, "greater than or equal to 1"),
        ({"mean_fragment_lenght": 20}, "Extra inputs are not permitted"),
    ],
)
def test_config_errors_name_the_fix(bad, fix):
    with pytest.raises(ValidationError, match=fix.replace("(", r"\(").replace(")", r"\)")):
        VerbatimCopyConfig(**bad)


def run_mode(server: FakeOpenAI, harness: dict) -> list:
    taskset = {"num_examples": 2, "min_length": 60, "max_length": 120, "content_type": "mixed"}
    return [trace for _, trace in run_env(server, "verbatim-copy-rlm", taskset, harness)]


def copied(request: dict) -> str:
    prompt = next(m["content"] for m in request["messages"] if m["role"] == "user")
    return prompt.split("<text>\n", 1)[1].split("\n</text>", 1)[0]


def test_e2e_rlm_mode_exact_copy_scores_one_and_a_typo_zero():
    replies = [
        lambda r: code(f"answer['content'] = {copied(r)!r}\nanswer['ready'] = True"),
        lambda r: code(f"answer['content'] = {copied(r)[:-1]!r}\nanswer['ready'] = True"),
    ]
    with FakeOpenAI(root=Script(replies)) as server:
        traces = run_mode(server, {})
    server.check()
    assert [t.reward for t in traces] == [1.0, 0.0]
    assert 0 < traces[1].metrics["levenshtein_similarity"] < 1
    assert traces[0].metrics["stop_answer_ready"] == 1.0


def test_e2e_standard_mode_is_single_turn_and_scores():
    with FakeOpenAI(root=lambda r: text(copied(r)), is_sub=lambda r: False) as server:
        traces = run_mode(server, {"mode": "standard"})
    server.check()
    assert [t.reward for t in traces] == [1.0, 1.0]
    assert all(t.metrics["root_turns"] == 1 and t.metrics["repl_calls"] == 0 for t in traces)
    assert "tools" not in server.requests[0]


def test_e2e_rlm_with_tips_adds_the_hints_and_scores():
    root = Script([lambda r: code(f"answer['content'] = {copied(r)!r}\nanswer['ready'] = True")] * 2)
    with FakeOpenAI(root=root) as server:
        traces = run_mode(server, {"env_tips": True})
    server.check()
    assert [t.reward for t in traces] == [1.0, 1.0]
    assert all("<env_tips>" in r["messages"][1]["content"] for r in root.requests)


def test_e2e_csv_text_ending_in_a_line_break_scores_one_when_copied_exactly():
    replies = [lambda r: code(f"answer['content'] = {copied(r)!r}\nanswer['ready'] = True")] * 2
    with FakeOpenAI(root=Script(replies)) as server:
        results = run_env(
            server, "verbatim-copy-rlm", {"num_examples": 2, "min_length": 80, "max_length": 120, "content_type": "csv"}
        )
    server.check()
    assert all(task.data.text.endswith("\n") for task, _ in results)
    assert [trace.reward for _, trace in results] == [1.0, 1.0]
