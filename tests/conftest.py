"""Shared test helpers: REPL sandboxes on every backend this machine has."""

import asyncio
import contextlib
import shutil

import pytest

from rlm_env.repl import LocalSandbox, ReplConfig, ReplSession, SandboxConfig

BACKENDS = ["bwrap", "none"]


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """Run a REPL test once per sandbox backend; bwrap is skipped (and reported) if missing."""
    if request.param == "bwrap" and shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed: bwrap sandbox path not tested")
    return request.param


@contextlib.asynccontextmanager
async def open_repl(backend: str, extra_data=None, llm_batch=None, sandbox: SandboxConfig | None = None, **repl_config):
    # The `none` backend is the unsafe path: tests that run it say so, as a user would have to.
    config = (sandbox or SandboxConfig()).model_copy(
        update={"backend": backend, "accept_no_isolation": backend == "none"}
    )
    session = ReplSession(LocalSandbox(config), ReplConfig(**repl_config), llm_batch=llm_batch)
    await session.start(extra_data)  # closes the sandbox itself if it fails
    try:
        yield session
    finally:
        await session.close()


def require(session: ReplSession, prop: str) -> None:
    """Skip, visibly, a property the session's sandbox backend does not enforce."""
    sandbox = session.host
    if not sandbox.isolation[prop]:
        pytest.skip(f"{sandbox.backend!r} sandbox (uid={sandbox.uid}) does not enforce {prop} isolation")


def run(coro):
    return asyncio.run(coro)


def run_env(server, env_id: str, taskset: dict | None = None, harness: dict | None = None) -> list:
    """Every task of `env_id` once, through verifiers (load by id, interception, subprocess
    runtime) against `server`; returns (task, trace) pairs."""
    import copy
    import os

    import verifiers.v1 as vf

    os.environ["FAKE_API_KEY"] = "sk-fake"
    config = vf.resolve_env_config(
        copy.deepcopy(
            {
                "taskset": {"id": env_id, **(taskset or {})},
                "agent": {"runtime": {"type": "subprocess"}, "harness": {"id": env_id, **(harness or {})}},
            }
        )
    )
    env = vf.load_environment(config)
    ctx = vf.ModelContext(
        model="fake", client=vf.EvalClientConfig(base_url=server.base_url, api_key_var="FAKE_API_KEY")
    )

    async def go():
        async with env.serving():
            return [(task, (await env.run_episode(task, ctx)).traces[0]) for task in env.taskset]

    return asyncio.run(go())


def hub_unreachable_error(module: str, taskset: str, config: str) -> str:
    """The DatasetUnavailable message `taskset(config()).load()` gives with the hub offline.

    Runs in a fresh interpreter because `datasets` reads its offline switches at import time."""
    import os
    import subprocess
    import sys

    script = (
        f"from {module} import {taskset}, {config}\nfrom rlm_env.data import DatasetUnavailable\n"
        f"try:\n    {taskset}({config}()).load()\nexcept DatasetUnavailable as e:\n    print(e)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": "/nonexistent-hf-home"}
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120).stdout
