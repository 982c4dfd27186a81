"""Provider faults (tests/fake_openai.py's fault mode) through the loop and through the harness,
and the error model (rlm_env.core.errors): each fault is retried, or ends as a typed error, never a 0."""

import asyncio
import collections
import json
import os
import threading
import time

import pytest
import verifiers.v1 as vf
from verifiers.v1.errors import boundary, stop_condition

from conftest import run
from fake_openai import FAULT_KINDS, FakeOpenAI, Fault, Faults, Raw, Script, code, text, tool_call
from rlm_env.core.client import ChatClient
from rlm_env.core.errors import (
    ProviderError,
    ReplInfraError,
    SandboxError,
    ScoringError,
    TaskError,
    ToolsetError,
    ToolUnavailable,
    as_rollout_error,
)
from rlm_env.core.loop import Budgets, run_chat_loop, run_rlm_loop
from rlm_env.core.sub_llm import SubLLMConfig, SubLLMPool
from rlm_env.core.tools import Tool
from rlm_env.repl import LocalSandbox, ReplConfig, ReplSession

FINISH = "answer['content'] = 'done'\nanswer['ready'] = True"
ERROR_KINDS = [kind for kind in FAULT_KINDS if kind != "slow"]
# The HTTP status each fault ends as once the retries are spent, both when the client talks to the
# provider directly and through verifiers' interception.
STATUS = {
    "rate_limit": 429,
    "server_error": 500,
    "unavailable": 503,
    "reset": 503,
    "timeout": 504,
    "truncated": 503,
    "non_json": 502,
    "empty_choices": 502,
}
CLIENT_TIMEOUT_S = 1.0  # the read timeout; a `timeout` fault hangs for twice as long
FAULTS = Faults({}, hang_s=2 * CLIENT_TIMEOUT_S)  # no random faults: scripted Fault replies use its settings


class FirstAttemptFails:
    """A handler that answers each distinct prompt with `fault_for(prompt)` first, then `reply(prompt)`."""

    def __init__(self, fault_for, reply) -> None:
        self.fault_for, self.reply = fault_for, reply
        self.seen: collections.Counter = collections.Counter()
        self._lock = threading.Lock()

    def __call__(self, request: dict):
        prompt = request["messages"][-1]["content"]
        with self._lock:
            self.seen[prompt] += 1
            first = self.seen[prompt] == 1
        return self.fault_for(prompt) if first else self.reply(prompt)


async def rlm(server: FakeOpenAI, retries: int, sub: SubLLMConfig | None = None):
    client = ChatClient(server.base_url, "test-key", "fake-model", timeout_s=CLIENT_TIMEOUT_S, max_retries=retries)
    pool = SubLLMPool(client, sub or SubLLMConfig(), None, None)
    repl = ReplSession(LocalSandbox(), ReplConfig(cell_timeout_s=60), llm_batch=pool.batch)
    await repl.start()
    try:
        return await run_rlm_loop(client, repl, pool, "system", "user task", Budgets()), pool
    finally:
        await repl.close()
        await client.close()


# --------------------------------------------------------------------------- through the loop


@pytest.mark.parametrize("kind", ERROR_KINDS)
def test_loop_retries_a_root_fault_and_the_rollout_goes_on(kind):
    root = Script([Fault(kind), code(FINISH)])
    with FakeOpenAI(root=root, faults=FAULTS) as server:
        result, _ = run(rlm(server, retries=1))
    server.check()
    assert (result.stop_reason, result.answer, len(root.requests)) == ("answer_ready", "done", 2)


@pytest.mark.parametrize("kind", ERROR_KINDS)
def test_loop_stops_with_a_typed_provider_error_when_the_retries_are_spent(kind):
    root = Script([Fault(kind)] * 2)
    with FakeOpenAI(root=root, faults=FAULTS) as server:
        result, _ = run(rlm(server, retries=1))
    server.check()
    assert result.stop_reason == "provider_error" and len(root.requests) == 2
    assert isinstance(result.cause, ProviderError) and result.cause.status_code == STATUS[kind]
    assert result.error == str(result.cause)


def test_a_429_waits_for_its_retry_after():
    arrivals = []

    def root(request):
        arrivals.append(time.monotonic())
        return Fault("rate_limit") if len(arrivals) == 1 else code(FINISH)

    # The SDK's own first backoff is at most 0.5 s; Retry-After asks for 1.5 s.
    with FakeOpenAI(root=root, faults=Faults({}, retry_after_s=1.5)) as server:
        result, _ = run(rlm(server, retries=1))
    assert result.stop_reason == "answer_ready"
    assert arrivals[1] - arrivals[0] >= 1.4


@pytest.mark.parametrize(
    "reply",
    [
        Raw(200, b"<html><body>Bad gateway</body></html>", "text/html"),  # the SDK hands back the text
        Raw(200, b'{"id": "chatcmpl-1", "choices": [{"mess'),  # declared JSON, cut off: the SDK raises
        Raw(200, b'"a JSON string, not a completion"'),
    ],
    ids=["html", "cut-json", "json-string"],
)
def test_a_200_that_is_not_a_completion_is_retried_then_a_502(reply):
    with FakeOpenAI(root=Script([reply, reply, text("never sent")])) as server:
        client = ChatClient(server.base_url, "k", "m", timeout_s=CLIENT_TIMEOUT_S, max_retries=1)
        with pytest.raises(ProviderError, match="malformed response \\(2 attempts\\)") as raised:
            run(_complete_and_close(client))
    server.check()
    assert raised.value.status_code == 502


async def _complete_and_close(client: ChatClient):
    try:
        return await client.complete([{"role": "user", "content": "hi"}])
    finally:
        await client.close()


def test_loop_sub_llm_faults_are_retried_per_call():
    kinds = {f"q-{kind}": kind for kind in ERROR_KINDS}
    sub = FirstAttemptFails(lambda prompt: Fault(kinds[prompt]), lambda prompt: text(f"answer to {prompt}"))
    root = Script([code(f"r = llm_batch({list(kinds)!r})\nanswer['content'] = '|'.join(r)\nanswer['ready'] = True")])
    with FakeOpenAI(root=root, sub=sub, faults=FAULTS) as server:
        result, pool = run(rlm(server, retries=1))
    server.check()
    assert result.answer == "|".join(f"answer to {prompt}" for prompt in kinds)
    assert pool.stats.errors == 0 and all(count == 2 for count in sub.seen.values())


def test_loop_sub_llm_faults_past_the_retries_are_text_for_the_model():
    kinds = {f"q-{kind}": kind for kind in ERROR_KINDS}
    root = Script(
        [
            code(
                f"r = llm_batch({list(kinds)!r})\nanswer['content'] = __import__('json').dumps(r)\n"
                "answer['ready'] = True"
            )
        ]
    )
    with FakeOpenAI(
        root=root, sub=lambda request: Fault(kinds[request["messages"][-1]["content"]]), faults=FAULTS
    ) as server:
        result, pool = run(rlm(server, retries=0))
    server.check()
    replies = json.loads(result.answer)
    assert result.stop_reason == "answer_ready"  # the rollout went on
    assert all(reply.startswith("Error: sub-LLM call failed") for reply in replies), replies
    assert pool.stats.errors == len(kinds)
    assert [record.error is not None for record in pool.stats.records] == [True] * len(kinds)


def test_seeded_fault_mix_hits_root_and_sub_requests_and_the_loop_survives():
    """Random faults on every request (half of them), with retries: every rollout still answers."""
    faults = Faults.mix(0.4, slow_rate=0.1, seed=7, hang_s=2 * CLIENT_TIMEOUT_S, retry_after_s=0.1, slow_s=0.1)

    def root(request):
        if not any(m["role"] == "tool" for m in request["messages"]):
            return code("r = llm_batch(['a', 'b', 'c'])\nprint(r)")
        return code("answer['content'] = '|'.join(r)\nanswer['ready'] = True")

    with FakeOpenAI(
        root=root, sub=lambda request: text(request["messages"][-1]["content"].upper()), faults=faults
    ) as server:
        results = [run(rlm(server, retries=6)) for _ in range(3)]
    server.check()
    assert [result.answer for result, _ in results] == ["A|B|C"] * 3
    routes = {route for _, route in server.injected}
    assert routes == {"root", "sub"} and sum(server.injected.values()) >= 5


def test_a_tool_that_cannot_work_stops_the_chat_loop_with_a_tool_error():
    async def search(query: str) -> str:
        raise ToolUnavailable("SERPER_API_KEY was rejected")

    tool = Tool("search", "web search", {"type": "object", "properties": {"query": {"type": "string"}}}, search)
    with FakeOpenAI(root=Script([tool_call("search", {"query": "x"})])) as server:
        client = ChatClient(server.base_url, "k", "m", max_retries=0)
        result = run(run_chat_loop(client, [{"role": "user", "content": "q"}], [tool], Budgets()))
    assert result.stop_reason == "tool_error" and "rejected" in result.error
    assert isinstance(as_rollout_error(result.cause), ToolsetError)


# --------------------------------------------------------------------------- the error model


def test_infrastructure_errors_map_onto_verifiers_types():
    assert isinstance(as_rollout_error(ReplInfraError("worker died")), SandboxError)
    assert isinstance(as_rollout_error(ToolUnavailable("no key")), ToolsetError)
    with pytest.raises(TypeError):
        as_rollout_error(RuntimeError("a bug"))
    # What verifiers records is the class name; these are its own classes, not look-alikes.
    assert (ProviderError, SandboxError, ToolsetError, TaskError) == (
        vf.ProviderError,
        vf.SandboxError,
        vf.ToolsetError,
        vf.TaskError,
    )


def test_graders_raise_scoring_errors_that_verifiers_records_as_task_errors():
    from deepdive_rlm.search_serper import SearchUnavailable
    from oolong_rlm.scoring import MalformedGold
    from rlm_env.scoring import VerifierError
    from rlm_env.scoring.judge import JudgeError

    assert all(issubclass(error, ScoringError) for error in (JudgeError, VerifierError, MalformedGold))
    assert not issubclass(ScoringError, vf.RolloutError)  # else verifiers would record it under its own name
    assert issubclass(SearchUnavailable, ToolUnavailable)

    async def score():
        async with boundary(TaskError, "scoring"):
            raise JudgeError("judge reply is neither yes nor no")

    with pytest.raises(TaskError, match="scoring: JudgeError: judge reply is neither") as raised:
        run(score())
    assert type(raised.value) is TaskError and stop_condition(raised.value) == "task_error"


# --------------------------------------------------------------------------- through the harness


async def episode(server: FakeOpenAI, harness: dict | None = None, read_timeout_s: float = CLIENT_TIMEOUT_S):
    os.environ["FAKE_API_KEY"] = "sk-fake"
    config = vf.resolve_env_config(
        {
            "taskset": {"id": "sum-numbers-rlm", "num_tasks": 1},
            "agent": {"runtime": {"type": "subprocess"}, "harness": {"id": "sum-numbers-rlm", **(harness or {})}},
        }
    )
    env = vf.load_environment(config)
    ctx = vf.ModelContext(
        model="fake-model",
        client=vf.EvalClientConfig(
            base_url=server.base_url, api_key_var="FAKE_API_KEY", timeout={"read": read_timeout_s}
        ),
    )
    [task] = list(env.taskset)
    async with env.serving():
        return (await env.run_episode(task, ctx)).traces[0]


@pytest.mark.parametrize("kind", ERROR_KINDS)
def test_harness_records_a_root_fault_as_a_provider_error_not_a_zero(kind):
    with FakeOpenAI(root=Script([Fault(kind)]), faults=FAULTS) as server:
        trace = asyncio.run(episode(server, {"model_retries": 0}))
    server.check()
    assert not trace.ok and trace.stop_condition == "provider_error"
    assert [(e.type, e.status_code) for e in trace.errors] == [("ProviderError", STATUS[kind])]
    assert not trace.rewards  # unscored: no silent zero
    assert trace.info["rlm_env"]["stop_reason"] == "provider_error"


def test_harness_sub_llm_faults_reach_the_model_as_text_and_the_rollout_is_scored():
    kinds = {f"q-{kind}": kind for kind in ERROR_KINDS}
    root = Script(
        [
            code(f"r = llm_batch({list(kinds)!r})\nprint(r)"),
            code("answer['content'] = str(sum(extra_data))\nanswer['ready'] = True"),
        ]
    )
    with FakeOpenAI(
        root=root, sub=lambda request: Fault(kinds[request["messages"][-1]["content"]]), faults=FAULTS
    ) as server:
        trace = asyncio.run(episode(server, {"model_retries": 0}))
    server.check()
    assert trace.ok and trace.reward == 1.0, trace.errors
    calls = trace.info["rlm_env"]["sub_llm_calls"]
    assert [call["prompt"] for call in calls] == list(kinds)
    assert all(call["error"] and call["reply"].startswith("Error: sub-LLM call failed") for call in calls)
    assert trace.metrics["sub_llm_errors"] == len(kinds)


def test_harness_retries_root_and_sub_llm_faults_through_the_interception():
    kinds = {f"q-{kind}": kind for kind in ERROR_KINDS}
    sub = FirstAttemptFails(lambda prompt: Fault(kinds[prompt]), lambda prompt: text("7"))
    root = Script(
        [
            Fault("server_error"),
            code(f"r = llm_batch({list(kinds)!r})\nprint(r)"),
            Fault("non_json"),
            code("answer['content'] = str(sum(extra_data) if r == ['7'] * 8 else -1)\nanswer['ready'] = True"),
        ]
    )
    with FakeOpenAI(root=root, sub=sub, faults=FAULTS) as server:
        trace = asyncio.run(episode(server, {"model_retries": 1}))
    server.check()
    assert trace.ok and trace.reward == 1.0, trace.errors
    assert all(count == 2 for count in sub.seen.values()) and trace.metrics["sub_llm_errors"] == 0


def test_harness_records_a_repl_that_cannot_start_as_a_sandbox_error(tmp_path):
    # An interpreter that answers the sandbox's path query but will not run the worker.
    import sys

    shim = tmp_path / "python"
    shim.write_text(
        f'#!/bin/sh\ncase "$1" in -c) exec {sys.executable} "$@";; esac\necho "worker refuses to start" >&2\nexit 3\n'
    )
    shim.chmod(0o755)
    tmp_path.chmod(0o755)
    # The worker starts while the first request is out; the first cell finds it failed.
    with FakeOpenAI(root=Script([code("print(1)")])) as server:
        trace = asyncio.run(episode(server, {"sandbox": {"python": str(shim)}}))
    assert not trace.ok and trace.stop_condition == "sandbox_error"
    [error] = trace.errors
    assert error.type == "SandboxError" and "REPL failed" in error.message and "refuses to start" in error.message
    assert not trace.rewards
