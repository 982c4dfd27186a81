"""Sub-LLMs that are RLMs themselves (`sub_llm.depth` 2): end to end through verifiers, the
subprocess runtime and real sandboxed REPLs, against the scripted server."""

import asyncio
import copy
import os
import re
import threading

import pytest
import verifiers.v1 as vf
from rich.console import Console

from fake_openai import FakeOpenAI, Script, code, text
from rlm_env.core import rollout as request_ids
from rlm_env.core.loop import Budgets
from rlm_env.core.prompts import PROMPT_IN_EXTRA_DATA, SUB_LLM_SYSTEM_PROMPT
from rlm_env.core.recursion import LiveRepls, RecursionTree, ScopedFiles
from rlm_env.core.sub_llm import SubLLMConfig
from rlm_env.harness import adapter as harness
from rlm_env.harness.runtime_host import RuntimeWorkerHost
from rlm_env.repl import ReplConfig, ReplInfraError, ReplSession
from rlm_env.run.results import rollout_record
from rlm_env.run.view import render_rollout


def live_workers() -> list[int]:
    """REPL workers (one per REPL) descended from this test process (any depth, any sandbox backend)."""
    parent_of, argv_of = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent_of[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv_of[int(entry)] = f.read().split(b"\0")
        except (OSError, ValueError):  # the process ended while we looked
            continue

    def ours(pid: int) -> bool:
        while pid > 1:
            pid = parent_of.get(pid, 0)
            if pid == os.getpid():
                return True
        return False

    workers = {
        pid
        for pid, argv in argv_of.items()
        if argv
        and os.path.basename(argv[0]).startswith(b"python")
        and any(a.endswith((b"worker.py", b"worker.pyc")) for a in argv)
        and ours(pid)
    }
    # One per REPL: the supervisor. Its forked executor carries the same command line.
    return [pid for pid in workers if parent_of.get(pid) not in workers]


def role(request: dict) -> str:
    """root (has the python tool), child (python tool and the sub-LLM system prompt), or sub."""
    tools = request.get("tools") or []
    if not any(t["function"]["name"] == "python" for t in tools):
        return "sub"
    return "child" if request["messages"][0]["content"].startswith(SUB_LLM_SYSTEM_PROMPT) else "root"


def assistant_turns(request: dict) -> int:
    return sum(m["role"] == "assistant" for m in request["messages"])


class Model:
    """Routes each request by role; children are scripted by turn, so they may run in any order."""

    def __init__(self, root: Script, child, sub=None) -> None:
        self.root, self.child, self.sub = root, child, sub
        self.requests: dict[str, list[dict]] = {"root": [], "child": [], "sub": []}
        self.live_at_child_turns: list[int] = []
        self.live_at_root_turns: list[int] = []
        self._lock = threading.Lock()

    def __call__(self, request: dict) -> dict:
        who = role(request)
        with self._lock:
            self.requests[who].append(request)
        if who == "root":
            self.live_at_root_turns.append(len(live_workers()))
            return self.root(request)
        if who == "child":
            self.live_at_child_turns.append(len(live_workers()))
            return self.child(request, assistant_turns(request))
        return self.sub(request)


def run_rollout(model: Model, harness: dict, count: int = 6) -> vf.Trace:
    """One sum-numbers rollout through verifiers against a scripted server answering as `model`."""
    os.environ["FAKE_API_KEY"] = "sk-fake"
    config = vf.resolve_env_config(
        copy.deepcopy(
            {
                "taskset": {"id": "sum-numbers-rlm", "num_tasks": 1, "count": count},
                "agent": {"runtime": {"type": "subprocess"}, "harness": {"id": "sum-numbers-rlm", **harness}},
            }
        )
    )
    env = vf.load_environment(config)
    [task] = env.taskset.select(vf.SelectConfig(limit=1))
    with FakeOpenAI(root=model, is_sub=lambda request: role(request) != "root") as server:
        ctx = vf.ModelContext(
            model="fake", client=vf.EvalClientConfig(base_url=server.base_url, api_key_var="FAKE_API_KEY")
        )

        async def go():
            async with env.serving():
                return await env.run_episode(task, ctx)

        episode = asyncio.run(go())
    server.check()
    return episode.traces[0]


def summing_child(request: dict, turn: int) -> dict:
    """A child RLM: reads its prompt from extra_data, checks the sum with a plain sub-LLM, answers."""
    if turn == 0:
        return code(
            "nums = eval(extra_data.removeprefix('Sum these: '))\n"
            "checked = llm_batch([f'Add up {nums}'])\nprint(nums, checked)"
        )
    return code("answer['content'] = checked[0]\nanswer['ready'] = True")


def adding_sub(request: dict) -> dict:
    numbers = eval(request["messages"][-1]["content"].removeprefix("Add up "))
    return text(f"The sum is \\boxed{{{sum(numbers)}}}")


def test_depth_two_children_run_code_answer_and_are_recorded_with_depth_and_edges():
    root = Script(
        [
            code(
                "prompts = [f'Sum these: {extra_data[i:i + 2]}' for i in (0, 2, 4)]\n"
                "parts = llm_batch(prompts)\nprint(parts)"
            ),
            code("answer['content'] = str(sum(int(p) for p in parts))\nanswer['ready'] = True"),
        ],
        name="root",
    )
    model = Model(root, summing_child, adding_sub)
    trace = run_rollout(model, {"sub_llm": {"depth": 2}})
    assert trace.ok, trace.errors
    assert trace.reward == 1.0
    numbers = trace.task.data.extra_data

    # The parent got the three children's answers.
    info = trace.info["rlm_env"]
    assert info["cells"][0]["output"] == f"{[str(sum(numbers[i : i + 2])) for i in (0, 2, 4)]}\n"

    # Each child had its own REPL, its prompt only in extra_data, and the children's system prompt.
    assert len(model.requests["child"]) == 6 and len(model.requests["sub"]) == 3
    for request in model.requests["child"]:
        users = [m["content"] for m in request["messages"] if m["role"] == "user"]
        assert users == [PROMPT_IN_EXTRA_DATA] and "Sum these" not in str(request["messages"][:2])
    assert "starts a fresh model with a REPL like yours" in model.requests["root"][0]["messages"][0]["content"]

    # Every call is in the trace, with its depth; each links to the turn whose code made it.
    by_id = {call.acp.request_id: call for call in trace.calls}
    expected = {"root-1": 0, "root-2": 0}
    for i in range(3):
        expected |= {f"sub-{i}:root-1": 1, f"sub-{i}:root-2": 1, f"sub-{i}:sub-0-0": 2}
    assert {rid: request_ids.parse(rid).depth for rid in by_id} == expected
    node_request = {call.node: rid for rid, call in by_id.items()}
    links = {
        (node_request[link.node], request_id)
        for node, request_id in node_request.items()
        for link in trace.nodes[node].semantic_parents
        if link.type == "subagent_call"
    }
    assert links == {("root-1", f"sub-{i}:root-1") for i in range(3)} | {
        (f"sub-{i}:root-1", f"sub-{i}:sub-0-0") for i in range(3)
    }
    assert trace.num_branches == 7  # the root, three children, three plain sub-LLM calls

    records = info["sub_llm_calls"]
    assert [(r["kind"], r["depth"], r["stop_reason"], r["turns"]) for r in records] == [
        ("child_rlm", 1, "answer_ready", 2)
    ] * 3
    assert [r["request_ids"] for r in records] == [[f"sub-{i}:root-1", f"sub-{i}:root-2"] for i in range(3)]
    for i, record in enumerate(records):
        assert "llm_batch" in record["cells"][0]["code"] and len(record["cells"]) == 2
        [grandchild] = record["children"]
        assert (grandchild["kind"], grandchild["depth"], grandchild["request_ids"]) == (
            "sub_llm",
            2,
            [f"sub-{i}:sub-0-0"],
        )
        assert grandchild["parent_request_id"] == f"sub-{i}:root-1" and grandchild["reply"] == record["reply"]

    # Figures per depth: the fake bills 100 prompt + 10 completion tokens per call.
    m = trace.metrics
    assert (m["depth1_calls"], m["depth2_calls"], m["sub_llm_calls"]) == (3, 3, 6)
    assert (m["depth1_prompt_tokens"], m["depth1_completion_tokens"]) == (600, 60)
    assert (m["depth2_prompt_tokens"], m["sub_llm_prompt_tokens"], m["sub_llm_completion_tokens"]) == (300, 900, 90)
    assert m["depth1_repl_calls"] == 6 and m["depth1_repl_seconds"] > 0 and m["depth2_repl_calls"] == 0
    assert m["repl_calls"] == 2 and 1 <= m["child_repls_peak"] <= 3

    # The children's REPLs closed as they finished (at the first turn the root's own may still be starting).
    assert model.live_at_root_turns[0] <= 1 and model.live_at_root_turns[1:] == [1]

    # `rlm-env view` shows the tree: each child's cells and its own calls under the call that started it.
    console = Console(record=True, width=160)
    console.print(render_rollout(rollout_record(trace, index=0, rollout=0)))
    shown = console.export_text()
    assert shown.count("child RLM #") == 3 and "child RLM #2 · depth 1 · 2 turns · stop answer_ready" in shown
    assert shown.count("1 sub-LLM call(s)") == 3 and "checked = llm_batch" in shown
    assert shown.index("3 sub-LLM call(s)") < shown.index("child RLM #0") < shown.index("1 sub-LLM call(s)")


def test_a_hanging_child_is_stopped_by_its_timeout_and_the_live_repl_cap_holds():
    root = Script(
        [
            code(
                "parts = llm_batch(['Sum these: [1, 2]', 'Sum these: [3, 4]', 'Sum these: [5, 6]', 'hang'])\n"
                "print(parts)"
            ),
            code("answer['content'] = 'done'\nanswer['ready'] = True"),
        ],
        name="root",
    )

    def child(request: dict, turn: int) -> dict:
        if turn == 0:  # overlap the children, so that without the cap more would be alive at once
            return code(
                "import time\ntime.sleep(0.5)\n"
                "if extra_data == 'hang':\n    time.sleep(600)\nnums = eval(extra_data[11:])"
            )
        return code("answer['content'] = str(sum(nums))\nanswer['ready'] = True")

    model = Model(root, child)
    config = {"sub_llm": {"depth": 2, "max_child_repls": 2, "timeout_s": 15, "max_concurrency": 5}}
    trace = run_rollout(model, config)
    assert trace.ok, trace.errors

    parts = trace.info["rlm_env"]["cells"][0]["output"]
    assert parts.startswith("['3', '7', '11', 'Error: sub-LLM call timed out after 15 s']"), parts
    assert max(model.live_at_child_turns) <= 1 + 2  # the root's REPL and at most two children's
    assert trace.metrics["child_repls_peak"] == 2 and trace.metrics["depth1_errors"] == 1
    hung = trace.info["rlm_env"]["sub_llm_calls"][3]
    assert hung["error"] == "sub-LLM call timed out after 15 s" and hung["stop_reason"] is None
    assert hung["request_ids"] == ["sub-3:root-1"]
    assert model.live_at_root_turns[0] <= 1 and model.live_at_root_turns[1:] == [1]  # the hung child's REPL was killed


def test_children_are_closed_when_the_parent_stops(monkeypatch):
    live_when_recorded = []
    record = harness._Run.record

    def watched_record(run, result):  # the rollout's runtime still runs here; it ends after scoring
        live_when_recorded.append(len(live_workers()))
        record(run, result)

    monkeypatch.setattr(harness._Run, "record", watched_record)
    root = Script([code("parts = llm_batch(['hang', 'hang'])")], name="root")
    model = Model(root, lambda request, turn: code("import time\ntime.sleep(600)"))
    trace = run_rollout(model, {"sub_llm": {"depth": 2, "timeout_s": 600}, "budgets": {"max_wall_time_s": 8}})
    assert trace.info["rlm_env"]["stop_reason"] == "max_wall_time"
    assert len(model.requests["child"]) == 2 and max(model.live_at_child_turns) >= 2
    assert live_when_recorded == [0]


def test_children_share_the_rollouts_sub_llm_call_budget():
    root = Script(
        [code("parts = llm_batch(['Sum these: [1, 2]', 'Sum these: [3, 4]', 'Sum these: [5, 6]'])\nprint(parts)")],
        name="root",
    )

    def child(request: dict, turn: int) -> dict:  # the root's two calls used the budget up: this one is refused
        return code("more = llm_batch(['Add up [1]'])\nanswer['content'] = more[0]\nanswer['ready'] = True")

    trace = run_rollout(Model(root, child), {"sub_llm": {"depth": 2}, "budgets": {"max_sub_llm_calls": 2}})
    assert trace.info["rlm_env"]["stop_reason"] == "max_sub_llm_calls"
    refused = "Error: the budget of 2 sub-LLM calls for this task is used up."
    assert trace.info["rlm_env"]["cells"][0]["output"] == f"{[refused] * 3}\n"
    assert (trace.metrics["depth1_calls"], trace.metrics["depth2_calls"], trace.metrics["sub_llm_calls"]) == (2, 0, 2)


# --------------------------------------------------------------------------- units


class BrokenHost:
    """A WorkerHost whose worker never starts."""

    closed = False

    async def add_file(self, name: str, source) -> str:
        return name

    async def start_worker(self):
        raise ReplInfraError("no sandbox today")

    async def stop_worker(self) -> None:
        pass

    async def close(self) -> None:
        BrokenHost.closed = True


def test_a_child_whose_repl_fails_is_an_error_string_in_the_parents_list():
    tree = RecursionTree(
        SubLLMConfig(depth=2),
        Budgets(),
        ReplConfig(),
        lambda llm_batch: ReplSession(BrokenHost(), ReplConfig(), llm_batch),
        tools=[],
        packages=[],
    )
    pool = tree.root_pool(client=object())  # never called: the child fails before its first turn
    replies = asyncio.run(pool.batch(["a task"]))
    assert replies == ["Error: the child RLM's REPL failed: no sandbox today"]
    assert BrokenHost.closed and tree.records()[0]["kind"] == "child_rlm" and tree.total_stats().errors == 1


def test_request_ids_round_trip_at_every_depth():
    scope = request_ids.child_scope(request_ids.child_scope("", 3), 1)
    cases = {
        request_ids.root_turn(2): ((), None, 2, 0),
        request_ids.sub_turn(4, 1): ((), 4, 1, 1),
        request_ids.qualify("sub-3", request_ids.root_turn(1)): ((3,), None, 1, 1),
        request_ids.qualify("sub-3", request_ids.sub_turn(0, 0)): ((3,), 0, 0, 2),
        request_ids.qualify(scope, request_ids.root_turn(5)): ((3, 1), None, 5, 2),
    }
    assert list(cases) == ["root-2", "sub-4-1", "sub-3:root-1", "sub-3:sub-0-0", "sub-3:sub-1:root-5"]
    for rid, (path, index, turn, depth) in cases.items():
        parsed = request_ids.parse(rid)
        assert (parsed.path, parsed.index, parsed.turn, parsed.depth) == (path, index, turn, depth)
        assert re.fullmatch(vf.semantic.ACP_REQUEST_ID_PATTERN, rid)
        assert request_ids.is_sub_llm(rid) == (depth > 0)
    assert [request_ids.parse(bad) for bad in ("root-x", "sub-1", "root-1:root-2", "other")] == [None] * 4


def test_the_live_repl_cap_leaves_room_for_the_levels_below():
    """Depth 3 with the smallest cap (2): children wait rather than take the last slot a
    grandchild needs, so every child finishes."""

    async def go():
        cap = LiveRepls(cap=2, depth=3)
        done = []

        async def grandchild():
            async with cap.slot(2):
                await asyncio.sleep(0.01)

        async def child(i):
            async with cap.slot(1):
                await asyncio.gather(grandchild(), grandchild())
            done.append(i)

        await asyncio.wait_for(asyncio.gather(*(child(i) for i in range(4))), 5)
        return cap, done

    cap, done = asyncio.run(go())
    assert sorted(done) == [0, 1, 2, 3] and cap.peak == 2 and cap.live == 0


@pytest.mark.parametrize("cancel_while", ["waiting", "holding"])
def test_a_cancelled_child_gives_its_slot_back(cancel_while):
    async def go():
        cap = LiveRepls(cap=1, depth=2)
        holder_in = asyncio.Event()

        async def hold():
            async with cap.slot(1):
                holder_in.set()
                await asyncio.sleep(60)

        holder = asyncio.create_task(hold())
        await holder_in.wait()
        waiter = asyncio.create_task(hold())
        await asyncio.sleep(0.01)
        (waiter if cancel_while == "waiting" else holder).cancel()
        await asyncio.sleep(0.01)
        for task in (holder, waiter):
            task.cancel()
        await asyncio.gather(holder, waiter, return_exceptions=True)
        return cap

    cap = asyncio.run(go())
    assert cap.live == 0 and not cap._waiters


def test_child_repls_in_one_remote_runtime_keep_their_own_input_files():
    """On docker/prime/modal every REPL of a rollout shares the runtime's work dir; a child's input
    must not replace the root's, which a restarted root worker reloads."""
    from rlm_env.harness.compat import subprocess_runtime

    async def scenario():
        async with subprocess_runtime("rlm-env-test-children") as runtime:
            root = ReplSession(RuntimeWorkerHost(runtime), ReplConfig(cell_timeout_s=1.5))
            await root.start("the root's input")
            child = ReplSession(ScopedFiles(RuntimeWorkerHost(runtime), "sub-0:sub-1"), ReplConfig())
            await child.start("a child's input")
            assert (await child.execute("print(extra_data)")).output == "a child's input\n"
            assert (await root.execute("while True: pass")).restarted
            assert (await root.execute("print(extra_data)")).output == "the root's input\n"
            await child.close()
            await root.close()

    asyncio.run(scenario())
