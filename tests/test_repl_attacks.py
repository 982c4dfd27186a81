"""Attacks on the REPL from model-written cells: one test per property the worker and sandbox
claim (rlm_env/repl/worker.py clause 8, rlm_env/repl/sandbox.py), plus bad input a model
sends by mistake. Each runs on every backend where the property applies; where a backend
does not enforce it the test is skipped with the reason, so the summary shows the gaps.

Backends: `bwrap`, `none` (root here: the cell keeps root, the unsafe path) and `none-user`
(no bubblewrap, but an interpreter other users can run, so the cell drops to a uid of its own).
"""

import asyncio
import json
import os
import resource
import shutil
import time
from pathlib import Path

import pytest

from conftest import open_repl, require, run
from fake_openai import FakeOpenAI, Script, code
from rlm_env.core.client import ChatClient
from rlm_env.core.loop import Budgets, run_rlm_loop
from rlm_env.core.sub_llm import SubLLMConfig, SubLLMPool
from rlm_env.repl import LocalSandbox, ReplConfig, ReplInfraError, ReplSession, SandboxConfig, SandboxUnavailable
from rlm_env.repl import sandbox as sandbox_module

SYSTEM_PYTHON = "/usr/bin/python3"


@pytest.fixture(params=["bwrap", "none", "none-user"])
def variant(request) -> tuple[str, SandboxConfig]:
    """(backend, sandbox config) for each way a local sandbox can run on this host."""
    if request.param == "bwrap" and shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed: bwrap sandbox path not tested")
    if request.param == "none-user" and (os.geteuid() != 0 or not os.access(SYSTEM_PYTHON, os.X_OK)):
        pytest.skip("none-user needs root and a system Python other users can run")
    python = SYSTEM_PYTHON if request.param == "none-user" else None
    return request.param.removesuffix("-user"), SandboxConfig(python=python)


def guarded(coro, seconds: float = 120):
    """Run a scenario that hung before its fix: fail after `seconds` instead of hanging."""
    return run(asyncio.wait_for(coro, seconds))


# ---------------------------------------------------------------- protocol integrity


FORGED = [
    {
        "type": "result",
        "output": "forged",
        "answer": {"content": "forged", "ready": True},
        "seconds": 0,
        "truncated_chars": 0,
        "notes": [],
        "restarts": [],
    },
    {"type": "result", "output": 5, "answer": "x"},
    {"type": "llm_batch", "id": 1, "prompts": [1, {"a": 2}, None], "answer": None},
    {"type": "llm_batch_result", "id": 1, "results": ["x"]},
    {"type": "ready"},
    [1, 2, 3],
]
FORGE_EVERYWHERE = f"""
import os, json
payload = b''.join(json.dumps(f).encode() + b'\\n' for f in {FORGED!r}) + b'garbage\\n'
targets = ['/proc/self/fd/' + e for e in os.listdir('/proc/self/fd')]
for pid in [p for p in os.listdir('/proc') if p.isdigit()]:
    try:
        targets += [f'/proc/{{pid}}/fd/{{e}}' for e in os.listdir(f'/proc/{{pid}}/fd')]
    except OSError:
        pass
for fd in range(3, 256):
    try:
        os.write(fd, payload)
    except OSError:
        pass
for path in targets:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        os.write(fd, payload)
        os.close(fd)
    except OSError:
        pass
answer['content'] = 'mine'
print('sent')
"""


def test_forged_frames_from_a_cell_never_reach_the_host(variant):
    backend, config = variant
    seen: list = []

    async def handler(prompts):
        seen.extend(prompts)
        return ["ok"] * len(prompts)

    async def scenario():
        async with open_repl(backend, llm_batch=handler, sandbox=config, cell_timeout_s=10) as repl:
            # Where the cell keeps root on the host, it could write into any process on the machine.
            require(repl, "private_protocol")
            result = await repl.execute(FORGE_EVERYWHERE)  # never an exception out of the host
            assert result.answer["content"] != "forged"  # (the frames' text may show up as the cell's output)
            # Whatever happened to the executor, the protocol is in step: each cell gets its own output.
            assert (await repl.execute("print('A')")).output.endswith("A\n")
            assert (await repl.execute("print('B')")).output == "B\n"
            assert (await repl.execute("llm_batch(['q'])")).output == "['ok']\n"
            assert all(isinstance(p, str) for p in seen) and seen[-1] == "q"

    guarded(scenario())


def test_the_cells_process_holds_no_descriptor_of_the_host_protocol(variant):
    backend, config = variant

    async def scenario():
        async with open_repl(backend, sandbox=config) as repl:
            require(repl, "private_protocol")
            # The pipe the host writes frames into (its other end is the worker's stdin).
            host_pipes = {os.fstat(repl.host.process.process.stdin.transport.get_extra_info("pipe").fileno()).st_ino}
            result = await repl.execute(
                "import os\nreach = set()\n"
                "for pid in ['self'] + [p for p in os.listdir('/proc') if p.isdigit()]:\n"
                "    try:\n        entries = os.listdir(f'/proc/{pid}/fd')\n    except OSError:\n        continue\n"
                "    for e in entries:\n        try:\n            reach.add(os.stat(f'/proc/{pid}/fd/{e}').st_ino)\n"
                "        except OSError:\n            pass\n"
                "print(sorted(reach))"
            )
            reachable = set(json.loads(result.output))
            assert reachable and not (reachable & host_pipes)

    guarded(scenario())


class _ScriptedProcess:
    """A fake worker process: says ready, then sends the given lines, one per host frame."""

    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines
        self.queue: asyncio.Queue = asyncio.Queue()
        self.stdout = self._stdout()

    async def _stdout(self):
        while (chunk := await self.queue.get()) is not None:
            yield chunk

    async def write(self, data: bytes) -> None:
        frame = json.loads(data)
        if frame["type"] == "init":
            await self.queue.put(b'{"type": "ready"}\n')
        else:
            for line in self.lines:
                await self.queue.put(line)

    async def kill(self) -> None:
        await self.queue.put(None)

    async def wait(self) -> int:
        return -9


class _ScriptedHost:
    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines

    async def add_file(self, name, source):
        return name

    async def start_worker(self):
        return _ScriptedProcess(self.lines)

    async def stop_worker(self):
        pass

    async def close(self):
        pass


@pytest.mark.parametrize(
    "line",
    [
        (
            b'{"type": "result", "output": 5, "answer": {"content": "", "ready": false}, "truncated_chars": 0, '
            b'"notes": [], "restarts": []}'
        ),
        b'{"type": "result", "output": "x", "answer": "not a dict", "truncated_chars": 0, "notes": [], "restarts": []}',
        b'{"type": "result", "output": "x"}',
        b'{"type": "llm_batch", "id": 1, "prompts": [1, 2], "answer": null}',
        b'{"type": "llm_batch", "id": "1", "prompts": ["a"], "answer": null}',
        b'{"type": "nonsense"}',
        b"[1, 2, 3]",
        b"not json at all",
        b'{"type": "result", "output": "\xff\xfe", "answer": {"content": "", "ready": false}}',
    ],
)
def test_a_malformed_frame_from_the_worker_is_a_repl_error_not_a_crash(line):
    async def scenario():
        repl = ReplSession(_ScriptedHost([line + b"\n"]), llm_batch=_echo)
        await repl.start()
        with pytest.raises(ReplInfraError, match="malformed frame"):
            await repl.execute("1")

    guarded(scenario(), 10)


async def _echo(prompts):
    return list(prompts)


# ---------------------------------------------------------------- bounded frames and answers


def test_a_huge_answer_is_cut_with_a_note_and_the_state_kept(backend):
    async def scenario():
        async with open_repl(backend) as repl:
            before = _host_rss_mb()
            result = await repl.execute("kept = 1\nanswer['content'] = 'a' * 500_000_000")
            # (lengths first: a failing comparison of 500 MB strings would stall pytest's report)
            assert not result.restarted and len(result.answer["content"]) == 100_000
            assert len(result.output) < 1000 and "was cut to its first 100,000 characters" in result.output
            assert (await repl.execute("kept, len(answer['content'])")).output == "(1, 100000)\n"
            assert _host_rss_mb() - before < 50

    guarded(scenario())


def test_a_runaway_line_from_the_worker_is_refused_without_buffering_it():
    mib = b"x" * (1 << 20)

    class Flood(_ScriptedProcess):
        async def _stdout(self):
            yield b'{"type": "ready"}\n'
            await self.queue.get()  # the exec frame
            for _ in range(500):  # 500 MiB without a newline
                yield mib

        async def write(self, data: bytes) -> None:
            await self.queue.put(data)

    class FloodHost(_ScriptedHost):
        async def start_worker(self):
            return Flood([])

    async def scenario():
        repl = ReplSession(FloodHost([]))
        await repl.start()
        started = time.monotonic()
        with pytest.raises(ReplInfraError, match="frame longer than"):
            await repl.execute("1")
        assert time.monotonic() - started < 10

    guarded(scenario(), 30)


def test_an_oversized_frame_from_the_cell_restarts_it_with_the_reason(backend):
    flood = (
        "import os, stat\nfor fd in range(3, 64):\n    try:\n"
        "        if stat.S_ISFIFO(os.fstat(fd).st_mode):\n"
        "            for _ in range(64):\n                os.write(fd, b'x' * (1 << 20))\n"
        "    except OSError:\n        pass"
    )

    async def scenario():
        async with open_repl(backend, cell_timeout_s=20, max_batch_chars=1_000_000) as repl:
            result = await repl.execute(flood)
            assert result.restarted and "internal channel" in result.restart_reason
            assert (await repl.execute("6 * 7")).output == "42\n"
            assert repl.stats.restart_reasons == [result.restart_reason]

    guarded(scenario())


# ---------------------------------------------------------------- no host stall


def test_llm_batch_limits_keep_the_host_responsive(backend):
    received: list[list[str]] = []

    async def handler(prompts):
        received.append(prompts)
        return ["ok"] * len(prompts)

    async def scenario():
        gaps, stop = [], asyncio.Event()

        async def ticker():
            last = time.monotonic()
            while not stop.is_set():
                await asyncio.sleep(0.01)
                gaps.append(time.monotonic() - last)
                last = time.monotonic()

        async with open_repl(backend, llm_batch=handler, cell_timeout_s=60) as repl:
            tick = asyncio.create_task(ticker())
            huge = await repl.execute("llm_batch(['x' * 100_000_000])")
            many = await repl.execute("llm_batch(['q'] * 100_000)")
            total = await repl.execute("llm_batch(['y' * 400_000] * 20)")
            full = await repl.execute("r = llm_batch(['z' * 500_000] * 10)\nlen(r)")
            stop.set()
            await tick
        assert "ValueError: llm_batch prompt 0 has 100,000,000 characters" in huge.output
        assert "ValueError: llm_batch takes at most 1,000 prompts per call (got 100,000)" in many.output
        assert "ValueError: this llm_batch call has 8,000,000 characters" in total.output
        assert full.output == "10\n"
        assert [len(b) for b in received] == [10]  # nothing over a limit reached the host
        assert max(gaps) < 0.5

    guarded(scenario())


# ---------------------------------------------------------------- per-sandbox memory and disk


def test_memory_limit_holds_for_the_sandbox_as_a_whole(backend):
    # Four processes of 300 MiB each, under the 512 MiB per-process limit, over the sandbox's.
    cell = (
        "import subprocess, sys\n"
        "child = \"b = bytearray(b'x') * (300 << 20); print('held', flush=True); "
        "import time; time.sleep(3); print('done', flush=True)\"\n"
        "procs = [subprocess.Popen([sys.executable, '-c', child]) for _ in range(4)]\n"
        "[p.wait() for p in procs]\nprint('finished')"
    )
    config = SandboxConfig(memory_mb=512, disk_mb=16, max_file_size_mb=16)

    async def scenario():
        async with open_repl(backend, sandbox=config, cell_timeout_s=60) as repl:
            require(repl, "memory_per_sandbox")
            result = await repl.execute(cell)
            assert result.output.count("done") <= 2, result.output
            assert (await repl.execute("'alive'")).output == "'alive'\n"

    guarded(scenario())


def test_disk_quota_holds_for_the_sandbox_as_a_whole(backend):
    cell = (
        "import os\nwritten = []\nfor d in ['.', '/tmp']:\n    for i in range(3):\n"
        "        try:\n            with open(f'{d}/blob{i}', 'wb') as f:\n"
        "                f.write(b'x' * (30 << 20))\n            written.append(f'{d}/blob{i}')\n"
        "        except OSError as e:\n            written.append(e.strerror)\nprint(written)"
    )

    async def scenario():
        async with open_repl(backend, sandbox=SandboxConfig(disk_mb=64)) as repl:
            require(repl, "disk_quota")
            result = await repl.execute(cell)
            assert result.output == (
                "['./blob0', './blob1', 'No space left on device', "
                "'/tmp/blob0', '/tmp/blob1', 'No space left on device']\n"
            )

    guarded(scenario())


# ---------------------------------------------------------------- restart files out of reach


def test_model_code_cannot_break_its_own_restart(variant):
    backend, config = variant

    async def scenario():
        async with open_repl(backend, extra_data="THE DATA", sandbox=config, cell_timeout_s=2) as repl:
            require(repl, "private_files")  # a cell running as root on the host could delete anything
            data_path = repl.host.worker_path("extra_data.txt")
            argv = Path(f"/proc/{repl.host.process.process.pid}/cmdline").read_bytes().split(b"\0")
            code_path = next(arg.decode() for arg in argv if arg.endswith(b"/worker.pyc"))  # as the cell sees it
            vandal = (
                f"import os, glob\nfor p in [{data_path!r}, {code_path!r}] + glob.glob('*') + glob.glob('.*'):\n"
                "    for attack in (os.remove, lambda p: open(p, 'w').close(), lambda p: os.chmod(p, 0)):\n"
                "        try:\n            attack(p)\n        except OSError:\n            pass\n"
                "try:\n    os.chmod('.', 0)\nexcept OSError:\n    pass\n"
                "while True:\n    pass"
            )
            result = await repl.execute(vandal)
            assert result.timed_out and result.restarted
            assert (await repl.execute("extra_data")).output == "'THE DATA'\n"
            # A restart of the whole sandbox reads the data file and the worker's code again.
            cell = asyncio.create_task(repl.execute("import time; time.sleep(30)"))
            await asyncio.sleep(1)
            await repl.host.process.kill()
            killed = await cell
            assert killed.restarted and "REPL process exited" in killed.restart_reason
            assert (await repl.execute("extra_data")).output == "'THE DATA'\n"

    guarded(scenario())


def test_a_cell_cannot_change_the_input_other_rollouts_read(variant):
    backend, config = variant
    shared = "THE SHARED DATA\n" * 1000  # one object, as a loader's cache hands it to concurrent rollouts

    def check(repl) -> str:
        return f"print(open({repl.host.worker_path('extra_data.txt')!r}).read() == extra_data, len(extra_data))"

    async def scenario():
        async with open_repl(backend, extra_data=shared, sandbox=config) as first:
            require(first, "private_files")
            async with open_repl(backend, extra_data=shared, sandbox=config) as second:
                path = first.host.worker_path("extra_data.txt")
                vandal = (
                    f"import os\np = {path!r}\n"
                    "attacks = [lambda: os.chmod(p, 0o666), lambda: open(p, 'r+').write('MINE'),\n"
                    "           lambda: open(p, 'a').write('MINE'), lambda: os.truncate(p, 0), lambda: os.remove(p)]\n"
                    "for attack in attacks:\n    try:\n        attack()\n    except OSError:\n        pass\n"
                )
                await first.execute(vandal)
                assert (await second.execute(check(second))).output == "True 16000\n"
            async with open_repl(backend, extra_data=shared, sandbox=config) as later:
                assert (await later.execute(check(later))).output == "True 16000\n"

    guarded(scenario())


# ---------------------------------------------------------------- encoding


def test_lone_surrogates_are_replaced_and_the_state_kept(backend):
    seen = []

    async def handler(prompts):
        seen.extend(prompts)
        return ["ok\ud800"] * len(prompts)

    async def scenario():
        async with open_repl(backend, llm_batch=handler) as repl:
            result = await repl.execute("kept = 1\nanswer['content'] = 'ok \\ud800 end'")
            assert not result.restarted
            assert result.answer["content"] == "ok \ufffd end"
            assert "lone surrogates" in result.output
            assert (await repl.execute("print('\\udc80'); llm_batch(['a\\udc80'])")).output == "\\udc80\n['ok\ufffd']\n"
            assert seen == ["a\ufffd"]
            assert (await repl.execute("kept")).output == "1\n"

    guarded(scenario())


# ---------------------------------------------------------------- fail closed without bubblewrap


def test_without_bubblewrap_no_repl_starts_unless_the_config_accepts_it(monkeypatch):
    real_which = shutil.which
    monkeypatch.setattr(sandbox_module.shutil, "which", lambda name: None if name == "bwrap" else real_which(name))
    for config in (SandboxConfig(), SandboxConfig(backend="none")):
        with pytest.raises(SandboxUnavailable) as refused:
            LocalSandbox(config)
        message = str(refused.value)
        assert "\n" not in message
        assert "apt-get install bubblewrap" in message and "accept_no_isolation" in message
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        LocalSandbox(SandboxConfig(backend="bwrap", accept_no_isolation=True))

    async def accepted():
        repl = ReplSession(LocalSandbox(SandboxConfig(accept_no_isolation=True)))
        assert repl.host.backend == "none"
        await repl.start()
        try:
            assert (await repl.execute("1 + 1")).output == "2\n"
        finally:
            await repl.close()

    guarded(accepted())


# ---------------------------------------------------------------- bad input from the model


def test_a_cell_that_closes_fds_0_1_2_gets_them_back(backend):
    async def scenario():
        async with open_repl(backend) as repl:
            result = await repl.execute("import os, sys\nos.close(0); os.close(1); os.close(2)\nprint('lost')")
            assert "OSError" in result.output and not result.restarted
            assert (await repl.execute("print('back'); os.system('echo child')")).output == "back\nchild\n0\n"
            await repl.execute("sys.stdout.close(); sys.stderr = None")
            assert (await repl.execute("print('again')")).output == "again\n"

    guarded(scenario())


@pytest.mark.parametrize(
    "value, content",
    [
        ("None", ""),
        ("['a', 'b']", "['a', 'b']"),
        (
            (
                "type('D', (dict,), {'keys': lambda self: 1 / 0, '__getitem__': lambda self, k: 1 / 0})"
                "(content='sub', ready=True)"
            ),
            "sub",
        ),
        ("{'content': type('S', (), {'__str__': lambda self: 1 / 0})(), 'ready': 'yes'}", "<unprintable S>"),
    ],
)
def test_an_answer_that_is_not_a_dict_is_told_and_the_rollout_goes_on(backend, value, content):
    async def scenario():
        async with open_repl(backend) as repl:
            result = await repl.execute(f"kept = 1\nanswer = {value}")
            assert not result.restarted
            assert result.answer["content"] == content
            assert "`answer` must be a dict" in result.output
            assert (await repl.execute("kept, type(answer).__name__")).output == "(1, 'dict')\n"

    guarded(scenario())


def test_rebinding_or_deleting_llm_batch_is_undone(backend):
    async def scenario():
        async with open_repl(backend, llm_batch=_echo) as repl:
            result = await repl.execute("del llm_batch\nimport builtins\nbuiltins.llm_batch = None")
            assert "`llm_batch` is provided by the environment and was restored" in result.output
            assert (await repl.execute("llm_batch(['x'])")).output == "['x']\n"

    guarded(scenario())


def test_printing_500_mb_is_cut_and_output_past_the_file_limit_is_noted(backend):
    async def scenario():
        async with open_repl(backend) as repl:
            before = _host_rss_mb()
            result = await repl.execute("print('x' * 500_000_000)")
            assert len(result.output) < 8400 and result.truncated_chars == 500_000_001 - 8192
            assert _host_rss_mb() - before < 50
        async with open_repl(backend, sandbox=SandboxConfig(max_file_size_mb=16)) as repl:
            result = await repl.execute("print('y' * (32 << 20))\nprint('after')")
            assert "[output stopped at the 16 MiB file-size limit; the rest was lost]" in result.output
            assert (await repl.execute("print('next')")).output == "next\n"

    guarded(scenario())


def test_llm_batch_with_items_that_are_not_strings_is_a_clear_error(backend):
    async def scenario():
        async with open_repl(backend, llm_batch=_echo) as repl:
            result = await repl.execute("llm_batch(['a', 3, None])")
            assert "TypeError: llm_batch prompts must be strings, but prompt 1 is a int" in result.output
            assert (await repl.execute("llm_batch(('a', 'b'))")).output == "['a', 'b']\n"
            assert repl.stats.llm_batches == 1

    guarded(scenario())


def test_llm_batch_from_a_thread_after_its_cell_ended_is_refused(backend):
    async def scenario():
        async with open_repl(backend, llm_batch=_echo) as repl:
            await repl.execute(
                "import threading, time\nerrors = []\n"
                "def later():\n    time.sleep(0.5)\n    try:\n        llm_batch(['x'])\n"
                "    except RuntimeError as e:\n        errors.append(str(e))\n"
                "threading.Thread(target=later).start()"
            )
            await asyncio.sleep(1)
            result = await repl.execute("errors")
            assert result.output == "['llm_batch can only be called while a cell is running']\n"

    guarded(scenario())


# ---------------------------------------------------------------- dead and missing workers


def test_worker_killed_from_outside_mid_cell_restarts_and_the_rollout_goes_on(backend):
    async def scenario():
        async with open_repl(backend, extra_data="D") as repl:
            await repl.execute("answer['content'] = 'draft'")
            cell = asyncio.create_task(repl.execute("kept = 1\nimport time; time.sleep(30)"))
            await asyncio.sleep(1)
            await repl.host.process.kill()
            result = await cell
            assert result.restarted and not result.timed_out
            assert "the REPL process exited" in result.output
            after = await repl.execute("print('kept' in globals(), extra_data, answer['content'])")
            assert after.output == "False D draft\n"
            assert repl.stats.restart_reasons == [result.restart_reason]

    guarded(scenario(), 60)


def test_the_cells_process_killed_from_outside_is_replaced(backend):
    async def scenario():
        async with open_repl(backend) as repl:
            cell = asyncio.create_task(repl.execute("kept = 1\nimport time; time.sleep(30)"))
            await asyncio.sleep(1)
            os.kill(_executor_pid(repl.host.process.process.pid), 9)  # as the kernel's OOM killer would
            result = await cell
            assert result.restarted and "killed (SIGKILL" in result.restart_reason
            assert (await repl.execute("'kept' in globals()")).output == "False\n"

    guarded(scenario(), 60)


def test_a_worker_that_cannot_start_is_a_repl_error_and_leaves_nothing(backend):
    config = SandboxConfig(backend=backend, accept_no_isolation=True, python="/nonexistent/python3")
    made = []

    async def scenario():
        with pytest.raises(ReplInfraError, match="/nonexistent/python3"):
            made.append(LocalSandbox(config))  # without bubblewrap it checks the interpreter here
            await ReplSession(made[0]).start()  # with it, when it starts the worker

    guarded(scenario(), 60)
    assert all(not sandbox.root.exists() and sandbox.cgroup is None for sandbox in made)


def test_a_worker_that_never_answers_is_a_repl_error_and_is_killed(backend):
    started = []

    async def silent(argv, env):
        process = await sandbox_module.spawn_local(["sleep", "600"], env)
        started.append(process)
        return process

    async def scenario():
        config = SandboxConfig(backend=backend, accept_no_isolation=True)
        repl = ReplSession(LocalSandbox(config, spawn=silent), ReplConfig(start_timeout_s=1))
        t0 = time.monotonic()
        with pytest.raises(ReplInfraError, match="no reply within 1 s"):
            await repl.start()
        assert time.monotonic() - t0 < 10
        assert started[0].process.returncode is not None  # killed, and its sandbox removed
        assert not repl.host.root.exists() and repl.host.cgroup is None

    guarded(scenario(), 60)


# ---------------------------------------------------------------- the loop sees what happened


def test_wall_time_ending_during_a_batch_stops_the_rollout_with_the_answer(backend):
    async def slow(prompts):
        await asyncio.sleep(60)
        return ["late"] * len(prompts)

    async def scenario(server):
        client = ChatClient(server.base_url, "test-key", "fake-model", max_retries=0)
        pool = SubLLMPool(client, SubLLMConfig(), None, None)
        async with open_repl(backend, llm_batch=slow, cell_timeout_s=1) as repl:
            # (the client's first request takes a few seconds to set up)
            result = await run_rlm_loop(client, repl, pool, "system", "task", Budgets(max_wall_time_s=8))
        return result

    root = Script([code("answer['content'] = 'draft'\nllm_batch(['slow question'])")])
    with FakeOpenAI(root=root) as server:
        result = guarded(scenario(server), 40)
    assert result.stop_reason == "max_wall_time" and result.answer == "draft"
    assert 8 <= result.wall_seconds < 15


def _executor_pid(worker_pid: int) -> int:
    """The host pid of the executor: the worker process whose parent is the supervisor."""

    def cmdline(pid: int) -> bytes:
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return b""

    todo, found = [worker_pid], []
    while todo:
        pid = todo.pop()
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            for kid in kids:
                todo.append(kid)
                if b"worker.py" in cmdline(kid) and b"worker.py" in cmdline(pid) and b"bwrap" not in cmdline(pid):
                    found.append(kid)
    assert len(found) == 1, found
    return found[0]


def _host_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
