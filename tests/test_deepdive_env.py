"""deepdive-rlm: hub rows and their split, the offline source, rewards and tool counts, the judge on a
rollout, and one end-to-end run per mode (local search backend, offline questions) through verifiers."""

import asyncio
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import verifiers.v1 as vf
from pydantic import ValidationError

from conftest import run_env
from deepdive_rlm.offline import YEAR, offline_questions
from deepdive_rlm.scoring import exact_match
from deepdive_rlm.taskset import DeepDiveConfig, DeepDiveTaskConfig, DeepDiveTaskset
from deepdive_rlm.usage import query_redundancy, tool_usage
from fake_openai import FakeOpenAI, Script, code, text, tool_call
from rlm_env.data.wiki_corpus import load_wiki_corpus
from rlm_env.harness.task_data import load_tools

# 24 real qa_rl rows (question, answer) in the shared folder beside the repository
SAMPLE = str(Path(__file__).resolve().parents[2] / "shared" / "data" / "deepdive_qa_rl.sample.jsonl")


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("deepdive-cache"))


def test_hub_rows_split_90_10_with_a_fixed_seed():
    train = DeepDiveTaskset(DeepDiveConfig(data_files=[SAMPLE], split="train", num_examples=None)).load()
    evals = DeepDiveTaskset(DeepDiveConfig(data_files=[SAMPLE], split="eval", num_examples=None)).load()
    assert (len(train), len(evals)) == (21, 3)
    assert {t.data.question for t in train}.isdisjoint(t.data.question for t in evals)
    rows = [json.loads(line) for line in open(SAMPLE)]
    assert sorted(t.data.answer for t in train + evals) == sorted(r["answer"].rstrip() for r in rows)
    again = DeepDiveTaskset(DeepDiveConfig(data_files=[SAMPLE], split="eval", num_examples=None)).load()
    assert [t.data for t in again] == [t.data for t in evals]
    other_seed = DeepDiveTaskset(
        DeepDiveConfig(data_files=[SAMPLE], split="eval", num_examples=None, split_seed=7)
    ).load()
    assert {t.data.id for t in other_seed} != {t.data.id for t in evals}
    assert all(t.data.id.startswith("q-") for t in train + evals) and len({t.data.id for t in train + evals}) == 24
    task = evals[0]
    assert (
        task.data.prompt == f"{task.data.question}\n\nAnswer with the exact name, title or value the question asks for."
    )
    assert task.data.extra_data is None and task.data.tools_ref.args["backend"] == "serper"
    assert task.data.source == "hub" and task.data.env_tips


def test_config_errors_name_the_fix():
    with pytest.raises(ValidationError, match="apply to the hub source"):
        DeepDiveConfig(source="offline", data_files=[SAMPLE])
    with pytest.raises(ValidationError, match="less than 1"):
        DeepDiveConfig(eval_fraction=1.0)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        DeepDiveConfig(search={"backend": "local", "max_result": 3})


def test_offline_questions_are_deterministic_answerable_and_split_by_article():
    config = DeepDiveConfig(source="offline", num_examples=30, seed=3)
    first, second = DeepDiveTaskset(config).load(), DeepDiveTaskset(config).load()
    assert [t.data for t in first] == [t.data for t in second]
    assert [t.data.kind for t in first[:6]] == ["title", "year", "bridge"] * 2
    pages = {a.title: a.text for a in load_wiki_corpus()}
    for task in first:
        d = task.data
        assert d.prompt == d.question and "[SUBJECT]" in d.question and d.tools_ref.args["backend"] == "local"
        source = d.evidence[0].removeprefix("wiki://").replace("_", " ")
        assert source in pages and not re.search(rf"(?<!\w){re.escape(source)}(?:e?s)?(?!\w)", d.question, re.I)
        if d.kind == "title":
            assert d.answer == source
        elif d.kind == "year":
            assert "[YEAR]" in d.question and d.answer in pages[source]
        else:
            target = d.evidence[1].removeprefix("wiki://").replace("_", " ")
            assert "[X]" in d.question and set(YEAR.findall(pages[target])) == {d.answer}
    train = {q.evidence[0] for q in offline_questions("train", 0.1, 42, ("title",), 0, None)}
    evals = {q.evidence[0] for q in offline_questions("eval", 0.1, 42, ("title",), 0, None)}
    assert train and evals and train.isdisjoint(evals)


def test_exact_match_reward_gold_and_wrong():
    assert exact_match("Lagosta Island.", "Lagosta island") == 1.0
    assert exact_match("so it is \\boxed{1809}", "1809") == 1.0
    assert exact_match("The answer is 1809", "1809") == 0.0
    assert exact_match("1808", "1809") == 0.0 and exact_match("", "1809") == 0.0


def assistant(*calls, sampled=True, parent=None):
    tool_calls = [vf.ToolCall(id=call_id, name=name, arguments=json.dumps(args)) for call_id, name, args in calls]
    return vf.MessageNode(parent=parent, message=vf.AssistantMessage(tool_calls=tool_calls), sampled=sampled)


def tool_result(call_id, content, parent):
    return vf.MessageNode(parent=parent, message=vf.ToolMessage(tool_call_id=call_id, content=content))


def test_tool_usage_counts_calls_and_errors_from_the_trace():
    nodes = [
        vf.MessageNode(message=vf.UserMessage(content="q")),
        assistant(("a", "search", {"query": "Lagosta island"}), ("b", "open", {"url": "wiki://X"}), parent=0),
        tool_result("a", "Results for ...", 1),
        tool_result("b", "Error: no page at 'wiki://X'", 2),
        assistant(("c", "search", {"query": "island, lagosta!"}), ("d", "python", {"code": "1"}), parent=3),
        tool_result("c", "Error: search failed", 4),
        tool_result("d", "Error: bad code", 5),
        assistant(("e", "search", {"query": "unsampled copy"}), sampled=False, parent=6),
    ]
    usage = tool_usage(SimpleNamespace(nodes=nodes))
    assert (usage.searches, usage.opens, usage.errors) == (2, 1, 2)
    assert usage.queries == ["Lagosta island", "island, lagosta!"]
    assert query_redundancy(usage.queries) == 0.5
    assert query_redundancy(["a b", "c", "B A", "c", "d"]) == 0.4 and query_redundancy([]) == 0.0
    [task] = DeepDiveTaskset(DeepDiveConfig(source="offline", num_examples=1)).load()
    trace = SimpleNamespace(nodes=nodes, root_reply=task.data.answer, last_reply=task.data.answer)
    assert asyncio.run(task.redundancy_penalty(trace)) == 0.0  # off by default
    penalised = type(task)(task.data, DeepDiveTaskConfig(redundancy_penalty=0.5))
    assert asyncio.run(penalised.redundancy_penalty(trace)) == 0.25
    assert asyncio.run(penalised.correct(trace)) == 1.0
    assert asyncio.run(penalised.tools(trace)) == {
        "searches": 2,
        "opens": 1,
        "tool_errors": 2,
        "search_redundancy": 0.5,
    }


def test_local_tools_resolve_from_the_task(index_dir):
    [task] = DeepDiveTaskset(DeepDiveConfig(source="offline", num_examples=1, search={"cache_dir": index_dir})).load()
    assert [tool.name for tool in load_tools(task.data)] == ["search", "open"]


# ---- end to end through verifiers: offline questions, local backend, scripted models ----


def run_mode(server, harness: dict, **taskset):
    return run_env(server, "deepdive-rlm", {"source": "offline", "num_examples": 3, **taskset}, harness)


def research(task, messages: list[dict]) -> dict:
    """A scripted researcher: search the quoted sentence, open each evidence page, open a bad URL, answer."""
    d = task.data
    results = [m["content"] for m in messages if m["role"] == "tool"]
    if not results:
        sentence = re.sub(r"\[(SUBJECT|YEAR|X)\]", " ", d.question.split('"')[1])
        return tool_call("search", {"query": sentence})
    assert d.evidence[0] in results[0]  # the local index finds the source article
    step = len(results)
    if step <= len(d.evidence):
        if step > 1:
            assert results[-1].startswith(d.evidence[step - 2].removeprefix("wiki://").replace("_", " "))
        return tool_call("open", {"url": d.evidence[step - 1]})
    if step == len(d.evidence) + 1:
        return tool_call("open", {"url": "wiki://No_Such_Page"})
    assert results[-1].startswith("Error: no page")
    return text(d.answer)


def offline_tasks(index_dir) -> dict:
    tasks = DeepDiveTaskset(DeepDiveConfig(source="offline", num_examples=3, search={"cache_dir": index_dir})).load()
    return {t.data.question: t for t in tasks}


def check_tool_metrics(results):
    for task, trace in results:
        assert trace.ok and trace.reward == 1.0 and trace.rewards["correct"].score == 1.0
        opens = len(task.data.evidence) + 1
        assert (trace.metrics["searches"], trace.metrics["opens"], trace.metrics["tool_errors"]) == (1, opens, 1)


def test_e2e_standard_mode_gives_the_tools_to_the_root_model(index_dir):
    tasks = offline_tasks(index_dir)

    def root(request):
        assert [t["function"]["name"] for t in request["tools"]] == ["search", "open"]
        return research(tasks[request["messages"][0]["content"]], request["messages"])

    with FakeOpenAI(root=root, is_sub=lambda r: False) as server:
        results = run_mode(server, {"mode": "standard"}, search={"cache_dir": index_dir})
    server.check()
    check_tool_metrics(results)
    assert all(trace.metrics["sub_llm_calls"] == 0 for _, trace in results)


def rlm_root(tasks, tips: bool):
    def root(request):
        user = request["messages"][1]["content"]
        assert (
            ("<env_tips>" in user) is tips
            and ("llm_batch call" in user) is tips
            and [t["function"]["name"] for t in request["tools"]] == ["python"]
        )
        question = user.split("\n\n<env_tips>")[0]
        assert question in tasks
        return code(f"r = llm_batch([{question!r}])\nanswer['content'] = r[0]\nanswer['ready'] = True")

    return root


def rlm_sub(tasks):
    def sub(request):
        assert [t["function"]["name"] for t in request.get("tools") or []] in (["search", "open"], [])
        return research(tasks[request["messages"][1]["content"]], request["messages"])

    return sub


@pytest.mark.parametrize("tips", [False, True], ids=["rlm", "rlm-tips"])
def test_e2e_rlm_mode_gives_the_tools_to_sub_llms_only(index_dir, tips):
    tasks = offline_tasks(index_dir)
    with FakeOpenAI(root=rlm_root(tasks, tips), sub=rlm_sub(tasks)) as server:
        results = run_mode(server, {"env_tips": tips}, search={"cache_dir": index_dir})
    server.check()
    check_tool_metrics(results)
    for task, trace in results:
        assert trace.metrics["sub_llm_calls"] == 1 and trace.metrics["root_turns"] == 1
        assert trace.metrics["sub_llm_tool_calls"] == len(task.data.evidence) + 2
        assert trace.metrics["sub_llm_tool_errors"] == 1
    system = next(r for r in server.requests if "python" in json.dumps(r.get("tools")))["messages"][0]["content"]
    assert "`search`: Search an offline encyclopedia" in system


def hub_run(judge_replies: list, index_dir: str):
    judge = Script(judge_replies, name="judge")
    with (
        FakeOpenAI(root=lambda r: text("Lagosta"), is_sub=lambda r: False) as server,
        FakeOpenAI(root=judge) as judge_server,
    ):
        results = run_mode(
            server,
            {"mode": "standard"},
            source="hub",
            data_files=[SAMPLE],
            num_examples=2,
            search={"backend": "local", "cache_dir": index_dir},
            task={
                "judge": {
                    "base_url": judge_server.base_url,
                    "api_key_var": "FAKE_API_KEY",
                    "model": "judge-model",
                    "max_retries": 0,
                },
                "redundancy_penalty": 0.5,
            },
        )
    server.check()
    judge_server.check()
    return results, judge


def test_e2e_hub_questions_are_judged(index_dir):
    results, judge = hub_run([text("yes"), text("no")], index_dir)
    assert [trace.rewards["correct"].score for _, trace in results] == [1.0, 0.0]
    assert [trace.rewards["redundancy_penalty"].score for _, trace in results] == [0.0, 0.0]
    for (task, trace), request in zip(results, judge.requests):
        content = request["messages"][0]["content"]
        assert task.data.question in content and task.data.answer in content and "Lagosta" in content
        [call] = trace.info["judge_calls"]
        assert call["name"] == "correct" and call["request"]["model"] == "judge-model"


def test_e2e_a_judge_failure_is_a_rollout_error_not_a_zero(index_dir):
    results, _ = hub_run([text("I am not sure."), text("yes")], index_dir)
    (_, failed), (_, judged) = results
    assert not failed.ok and failed.rewards["correct"] is None
    assert any(
        "JudgeError" in error.message and "neither a clear yes nor a clear no" in error.message
        for error in failed.errors
    )
    assert judged.ok and judged.rewards["correct"].score == 1.0
