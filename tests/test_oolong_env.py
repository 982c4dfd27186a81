"""oolong-rlm: loaders on local files with the hub's columns, offline source, e2e per mode."""

import json

import pytest

from conftest import hub_unreachable_error, run_env
from fake_openai import FakeOpenAI, code, text
from oolong_rlm.data import PINNED_REVISIONS, offline_rows
from oolong_rlm.taskset import OolongConfig, OolongTaskset
from rlm_env.harness.task_data import load_extra_data

SYNTH_CONTEXT = (
    "The following lines contain 3 general-knowledge questions...\n"
    "Date: Dec 28, 2022 || User: 76063 || Instance: How far is Denver from Aspen?\n"
    "Date: Dec 29, 2022 || User: 11 || Instance: Who wrote Hamlet?\n"
    "Date: Jan 02, 2023 || User: 76063 || Instance: Where is Lima?\n"
)


def synth_row(i: int, answer: str, answer_type: str, dataset: str = "trec_coarse") -> dict:
    return {
        "id": i,
        "context_len": 1024 * (i + 1),
        "dataset": dataset,
        "context_window_text": SYNTH_CONTEXT + str(i),
        "context_window_text_with_labels": SYNTH_CONTEXT.replace("?\n", "? || Label: location\n") + str(i),
        "question": f"Question {i}?",
        "task_group": "counting",
        "task": "TASK_TYPE.MOST_FREQ",
        "answer": answer,
        "answer_type": answer_type,
        "input_subset": "False",
        "num_labels": 6,
        "context_window_id": i,
    }


@pytest.fixture
def synth_file(tmp_path):
    rows = [
        synth_row(0, "['location']", "ANSWER_TYPE.LABEL"),
        synth_row(1, "[7]", "ANSWER_TYPE.NUMERIC"),
        synth_row(2, "[datetime.date(2023, 1, 5)]", "ANSWER_TYPE.DATE", dataset="spam"),
    ]
    path = tmp_path / "synth.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_synth_rows_load_from_a_local_file_with_the_hub_columns(synth_file):
    tasks = OolongTaskset(OolongConfig(data_files=[synth_file], shuffle=False)).load()
    assert [t.data.answer for t in tasks] == ["['location']", "[7]", "[datetime.date(2023, 1, 5)]"]
    assert tasks[0].data.prompt == "Question 0?" and tasks[0].data.extra_data is None
    assert load_extra_data(tasks[1].data) == SYNTH_CONTEXT + "1"
    assert "context_window_text" not in json.dumps(tasks[0].data.model_dump())


def test_filters_and_labelled_subset(synth_file):
    only_spam = OolongTaskset(OolongConfig(data_files=[synth_file], datasets=["spam"])).load()
    assert [t.data.answer_type for t in only_spam] == ["ANSWER_TYPE.DATE"]
    no_numeric = OolongTaskset(OolongConfig(data_files=[synth_file], drop_numeric=True, shuffle=False)).load()
    assert [t.data.id for t in no_numeric] == ["0", "2"]
    short = OolongTaskset(OolongConfig(data_files=[synth_file], max_context_chars=2048, shuffle=False)).load()
    assert [t.data.id for t in short] == ["0", "1"]
    labelled = OolongTaskset(
        OolongConfig(data_files=[synth_file], subset="synth_with_labels", num_examples=1, shuffle=False)
    ).load()
    assert "|| Label: location" in load_extra_data(labelled[0].data)


def test_real_rows_load_and_ask_for_a_boxed_answer(tmp_path):
    row = {
        "id": "u1",
        "context_window_id": "w1",
        "context_window_text": "[START OF EPISODE]\nMatt: Roll.\n[END OF EPISODE]",
        "question": "How many rolls?",
        "answer": "114",
        "question_type": "singledoc_rolls",
        "episodes": [1],
        "campaign": "campaign2",
    }
    path = tmp_path / "real.json"
    path.write_text(json.dumps([row]))
    [task] = OolongTaskset(OolongConfig(subset="real", data_files=[str(path)])).load()
    assert task.data.prompt.endswith("Return the final answer in \\boxed{}.")
    assert task.data.context_chars == len(row["context_window_text"]) and task.data.answer_type == "dnd"


def test_unreachable_hub_names_the_offline_source():
    out = hub_unreachable_error("oolong_rlm.taskset", "OolongTaskset", "OolongConfig")
    assert "could not load oolongbench/oolong-synth" in out and '"source": "offline"' in out
    assert f"at revision {PINNED_REVISIONS['oolongbench/oolong-synth']}" in out  # the pin, not the branch
    assert 'set `revision` to another commit hash or "main"' in out


def test_offline_source_is_deterministic_and_references_its_context():
    config = OolongConfig(source="offline", num_examples=4, offline_context_chars=4000, seed=1)
    first, second = OolongTaskset(config).load(), OolongTaskset(config).load()
    assert [t.data for t in first] == [t.data for t in second]
    rows = offline_rows(4000, 4, 1, 5)
    for task in first:
        context = load_extra_data(task.data)
        assert abs(len(context) - 4000) <= 40 and task.data.context_chars == len(context)
        assert any(r["context_window_text"] == context and r["question"] == task.data.prompt for r in rows)


def run_mode(server, harness: dict, **taskset):
    defaults = {"source": "offline", "num_examples": 2, "offline_context_chars": 3000, "subset": "synth_with_labels"}
    return run_env(server, "oolong-rlm", {**defaults, **taskset}, harness)


def gold_reply(task) -> str:
    """The answer in the form the question asks for, computed from the gold."""
    gold = task.data.answer
    kind = task.data.answer_type.removeprefix("ANSWER_TYPE.")
    value = gold[2:-2] if gold.startswith("['") else gold[1:-1]
    if kind == "DATE":
        y, m, d = (int(x) for x in value.removeprefix("datetime.date(").rstrip(")").split(", "))
        value = f"{m:02d}/{d:02d}/{y}"
    return f"Answer: {value}"


def test_e2e_rlm_mode_with_the_context_only_in_the_repl():
    def root(request):
        return code(
            "lines = [l for l in extra_data.splitlines() if '|| Label:' in l]\n"
            "answer['content'] = 'Answer: none'\nanswer['ready'] = True"
        )

    with FakeOpenAI(root=root) as server:
        results = run_mode(server, {})
    server.check()
    for task, trace in results:
        assert trace.ok and trace.rewards["oolong_score"].score == 0.0
        prompt = server.requests[0]["messages"][1]["content"]
        assert (
            "|| Label:" not in prompt
            and f"{task.data.context_chars:,} characters" in server.requests[0]["messages"][0]["content"]
        )


def test_e2e_standard_mode_inlines_the_context_and_scores_the_gold():
    tasks = {}

    def root(request):
        prompt = request["messages"][-1]["content"]
        task = next(t for q, t in tasks.items() if prompt.endswith(q))
        assert "|| Label:" in prompt  # the context is inline
        return text(gold_reply(task))

    with FakeOpenAI(root=root, is_sub=lambda r: False) as server:
        for task in OolongTaskset(
            OolongConfig(source="offline", num_examples=2, offline_context_chars=3000, subset="synth_with_labels")
        ).load():
            tasks[task.data.prompt] = task
        results = run_mode(server, {"mode": "standard"})
    server.check()
    assert [trace.reward for _, trace in results] == [1.0, 1.0]


def test_e2e_rlm_with_tips_scores_the_gold():
    tasks = {
        t.data.prompt: t
        for t in OolongTaskset(
            OolongConfig(source="offline", num_examples=2, offline_context_chars=3000, subset="synth_with_labels")
        ).load()
    }

    def root(request):
        user = request["messages"][1]["content"]
        assert "<env_tips>" in user
        task = tasks[user.split("\n\n<env_tips>")[0]]
        return code(f"answer['content'] = {gold_reply(task)!r}\nanswer['ready'] = True")

    with FakeOpenAI(root=root) as server:
        results = run_mode(server, {"env_tips": True})
    server.check()
    assert [trace.reward for _, trace in results] == [1.0, 1.0]


def test_five_megabyte_context_stays_out_of_records_and_memory_stays_bounded():
    """Bound: two rollouts over one 5 MB context add < 100 MB to the host's peak RSS (the REPL
    worker holds its own copy in its process), and no rollout record carries the context."""
    import resource

    def peak_mb() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    offline_rows(5_000_000, 2, 0, 5)  # generate first: the bound is about running, not generating
    before = peak_mb()

    def root(r):
        return code("n = len(extra_data)\nanswer['content'] = f'Answer: {n}'\nanswer['ready'] = True")

    with FakeOpenAI(root=root) as server:
        results = run_mode(server, {}, offline_context_chars=5_000_000, num_examples=2, subset="synth")
    server.check()
    assert peak_mb() - before < 100
    for task, trace in results:
        assert trace.ok and trace.root_reply == f"Answer: {task.data.context_chars}"
        assert task.data.context_chars > 4_950_000
        assert len(trace.model_dump_json()) < 100_000


def test_judge_reward_mode_asks_the_judge_with_the_readable_gold():
    prompts = []

    def judge(request):
        prompts.append(request["messages"][-1]["content"])
        return text("yes" if "Label: Arts" in prompts[-1] else "no")

    def root(request):
        return code("answer['content'] = 'Label: Arts'\nanswer['ready'] = True")

    with FakeOpenAI(root=root) as server, FakeOpenAI(root=judge) as judge_server:
        judge_config = {"base_url": judge_server.base_url, "api_key_var": "FAKE_API_KEY", "model": "judge"}
        results = run_mode(server, {}, task={"reward": "judge", "judge": judge_config})
    server.check()
    judge_server.check()
    assert len(prompts) == 2
    for (task, trace), prompt in zip(results, prompts):
        gold = task.data.answer
        readable = gold[2:-2] if gold.startswith("['") else gold[1:-1]
        assert readable in prompt and "[" + repr(readable) + "]" not in prompt
        assert trace.rewards["oolong_score"].score == 1.0  # "yes" for every answer in this script
