"""A REPL started in the background (ReplSession.start_soon): the rollout's first model call goes
out while the sandbox starts, and a start that fails is still the rollout's REPL error."""

import asyncio
import time

from conftest import run
from fake_openai import FakeOpenAI, code, text
from rlm_env.core.client import ChatClient
from rlm_env.core.loop import Budgets, run_rlm_loop
from rlm_env.core.sub_llm import SubLLMConfig, SubLLMPool
from rlm_env.repl import LocalSandbox, ReplSession, SandboxConfig
from rlm_env.repl.sandbox import spawn_local

FINISH = "answer['content'] = str(len(extra_data))\nanswer['ready'] = True"


def slow_spawn(events: list):
    """A spawn that takes a second, noting when it began and ended."""

    async def spawn(argv, env):
        events.append(("spawn", time.monotonic()))
        await asyncio.sleep(1.0)
        process = await spawn_local(argv, env)
        events.append(("spawned", time.monotonic()))
        return process

    return spawn


async def rollout(server: FakeOpenAI, sandbox: LocalSandbox, extra_data="x" * 100):
    client = ChatClient(server.base_url, "test-key", "fake-model", max_retries=2)
    pool = SubLLMPool(client, SubLLMConfig(), [], 10)
    repl = ReplSession(sandbox, llm_batch=pool.batch)
    repl.start_soon(extra_data)
    try:
        return await run_rlm_loop(client, repl, pool, "system", "user task", Budgets(max_turns=3))
    finally:
        await repl.close()
        await client.close()


def test_the_first_request_goes_out_while_the_sandbox_starts():
    events, arrivals = [], []

    def root(request):
        arrivals.append(time.monotonic())
        return code(FINISH)

    with FakeOpenAI(root=root) as server:
        sandbox = LocalSandbox(spawn=slow_spawn(events))
        result = run(rollout(server, sandbox))
    assert result.stop_reason == "answer_ready" and result.answer == "100"
    assert arrivals[0] < dict(events)["spawned"]
    assert not sandbox.root.exists()


def test_a_sandbox_that_cannot_start_stops_the_rollout_with_a_repl_error():
    config = SandboxConfig(backend="bwrap", python="/nonexistent/python3")
    with FakeOpenAI(root=lambda request: code(FINISH)) as server:  # a retried request gets its reply too
        sandbox = LocalSandbox(config)
        result = run(rollout(server, sandbox))
    assert result.stop_reason == "repl_error" and "/nonexistent/python3" in result.error, result.error
    assert not sandbox.root.exists() and sandbox.cgroup is None


def test_a_sandbox_that_failed_is_the_rollouts_error_even_when_no_cell_ran():
    config = SandboxConfig(backend="bwrap", python="/nonexistent/python3")
    with FakeOpenAI(root=lambda request: text("no code")) as server:
        result = run(rollout(server, LocalSandbox(config)))
    assert result.stop_reason == "repl_error" and "/nonexistent/python3" in result.error, result.error


def test_closing_while_the_sandbox_starts_stops_the_start_and_leaves_nothing():
    events = []

    async def scenario(sandbox):
        repl = ReplSession(sandbox)
        repl.start_soon("data")
        await asyncio.sleep(0.2)  # inside the slow spawn
        await repl.close()

    sandbox = LocalSandbox(spawn=slow_spawn(events))
    run(scenario(sandbox))
    assert [name for name, _ in events] == ["spawn"]  # it never got as far as the process
    assert not sandbox.root.exists() and sandbox.process is None and sandbox.cgroup is None
