"""Attacks on each property the sandbox claims (rlm_env/repl/sandbox.py), on every backend.

A property a backend does not enforce is skipped with a reason naming the backend, so the
test summary shows exactly what each path covers.
"""

import asyncio
import os
import resource
import socket
import subprocess
import threading
from pathlib import Path

from conftest import open_repl, require, run
from rlm_env.repl import SandboxConfig

REPO = Path(__file__).resolve().parents[1]


def test_infinite_loop_is_stopped_and_the_repl_recovers(backend):
    async def scenario():
        async with open_repl(backend, cell_timeout_s=1.0) as repl:
            result = await repl.execute("import itertools\nfor _ in itertools.count():\n    pass")
            assert result.timed_out
            assert (await repl.execute("sum(range(10))")).output == "45\n"

    run(scenario())


def test_memory_bomb_is_contained(backend):
    async def scenario():
        async with open_repl(backend, sandbox=SandboxConfig(memory_mb=1024)) as repl:
            result = await repl.execute("hog = []\nwhile True:\n    hog.append(bytearray(50 * 2**20))")
            assert "MemoryError" in result.output
            assert (await repl.execute("del hog\n'alive'")).output == "'alive'\n"
        assert _host_rss_mb() < 2000

    run(scenario())


def test_fork_bomb_is_contained_and_the_host_can_still_fork(backend):
    async def scenario():
        async with open_repl(backend, cell_timeout_s=20, sandbox=SandboxConfig(max_processes=32)) as repl:
            require(repl, "process_limit")
            result = await repl.execute("import os\nwhile True:\n    os.fork()")
            assert "BlockingIOError" in result.output or result.timed_out
            assert (await repl.execute("'alive'")).output == "'alive'\n"
        assert subprocess.run(["true"]).returncode == 0

    run(scenario())


def test_huge_print_is_truncated_and_host_memory_stays_bounded(backend):
    async def scenario():
        async with open_repl(backend) as repl:
            before = _host_rss_mb()
            result = await repl.execute("print('x' * 50_000_000)")
            assert result.truncated_chars == 50_000_001 - 8192
            assert len(result.output) < 8400
            assert _host_rss_mb() - before < 30

    run(scenario())


def test_no_secrets_or_host_home_reach_the_repl(backend, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
    monkeypatch.setenv("HF_TOKEN", "hf_not_real")
    monkeypatch.setenv("MY_SECRET", "hunter2")
    monkeypatch.setenv("SERPER_KEY_FILE", "/nope")

    async def scenario():
        async with open_repl(backend) as repl:
            result = await repl.execute(
                "import os\n"
                "print(sorted(k for k in os.environ if any(w in k.upper() for w in ('KEY', 'TOKEN', 'SECRET'))))\n"
                "print(os.environ['HOME'])"
            )
            leaked, home = result.output.splitlines()
            assert leaked == "[]"
            assert home != os.environ.get("HOME") and "hunter2" not in result.output

    run(scenario())


def test_network_connection_to_host_loopback_fails(backend):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()

    async def scenario():
        async with open_repl(backend) as repl:
            require(repl, "network")
            result = await repl.execute(
                f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=3)\n"
                "    print('connected')\nexcept OSError as e:\n    print('failed', type(e).__name__)"
            )
            assert result.output.startswith("failed")

    try:
        run(scenario())
        assert not accepted
    finally:
        server.close()


def test_writes_outside_the_work_dir_fail(backend, tmp_path):
    target = tmp_path / "outside"
    target.mkdir()
    target.chmod(0o777)  # even a world-writable host directory must stay out of reach

    async def scenario():
        async with open_repl(backend) as repl:
            require(repl, "filesystem")
            paths = [str(target / "x"), str(REPO / "pwned.txt"), "/etc/pwned", "/usr/pwned", "/pwned"]
            code = "\n".join(
                [
                    "import os",
                    "results = []",
                    f"for p in {paths!r}:",
                    "    try:",
                    "        open(p, 'w').write('x'); results.append('wrote ' + p)",
                    "    except OSError as e:",
                    "        results.append('blocked')",
                    "open('inside.txt', 'w').write('ok')",
                    "print(results, open('inside.txt').read())",
                ]
            )
            result = await repl.execute(code)
            assert result.output == f"{['blocked'] * len(paths)} ok\n"
        assert not (target / "x").exists() and not (REPO / "pwned.txt").exists()

    run(scenario())


def test_two_concurrent_repls_cannot_see_each_others_files(backend):
    async def scenario():
        async with open_repl(backend) as first, open_repl(backend) as second:
            require(first, "private_files")
            await first.execute("open('secret.txt', 'w').write('mine')")
            first_dir = str(first.host.workdir)
            second_dir = str(second.host.workdir)
            result = await second.execute(
                f"import os\nfor d in [{first_dir!r}, {first_dir + '/secret.txt'!r}]:\n"
                "    try:\n        print(os.listdir(d) if os.path.isdir(d) else open(d).read())\n"
                "    except OSError as e:\n        print('blocked')\n"
                "print(os.path.exists('secret.txt'))"
            )
            assert "mine" not in result.output and "secret.txt'" not in result.output
            assert result.output.endswith("False\n")
            assert first_dir != second_dir

    run(scenario())


def test_direct_fd_writes_from_c_and_children_do_not_break_the_protocol(backend):
    code = (
        "import ctypes, os, subprocess\n"
        "libc = ctypes.CDLL(None)\n"
        "libc.write(1, b'{not json\\n', 10)\n"
        "libc.write(2, b'}}}\\n', 4)\n"
        "os.system('printf \"no newline\"')\n"
        "subprocess.run(['sh', '-c', 'echo child >&2'])\n"
        "print()"
    )

    async def scenario():
        async with open_repl(backend) as repl:
            result = await repl.execute(code)
            assert result.output == "{not json\n}}}\nno newlinechild\n\n"
            assert (await repl.execute("6 * 7")).output == "42\n"

    run(scenario())


def test_concurrent_repls_run_side_by_side(backend):
    async def scenario():
        async with open_repl(backend, extra_data="a") as first, open_repl(backend, extra_data="b") as second:
            results = await asyncio.gather(
                first.execute("import time; time.sleep(0.5); extra_data"),
                second.execute("import time; time.sleep(0.5); extra_data"),
            )
            assert [r.output for r in results] == ["'a'\n", "'b'\n"]

    run(scenario())


def _host_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
