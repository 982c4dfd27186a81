"""The worker runs from bytecode compiled once per process and interpreter (rlm_env/repl/worker_code.py)."""

import logging
import os
import subprocess
import sys
from pathlib import Path

from conftest import open_repl, run
from rlm_env.repl import worker_code
from rlm_env.repl.worker_code import WORKER_SOURCE


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def test_every_sandbox_runs_the_one_compiled_worker(backend):
    compiled = worker_code.worker_code(sys.executable)
    assert compiled.suffix == ".pyc" and compiled.stat().st_mode & 0o777 == 0o444
    assert worker_code.worker_code(sys.executable) == compiled  # compiled once

    async def scenario():
        async with open_repl(backend) as first, open_repl(backend) as second:
            for repl in (first, second):
                assert (await repl.execute("1 + 1")).output == "2\n"
                argv = _cmdline(repl.host.process.process.pid)
                assert any(arg.endswith("/worker.pyc") for arg in argv), argv
            # A traceback through the worker's own frames names the worker, not a temp file.
            crash = await first.execute("llm_batch('not a list')")
            assert "TypeError" in crash.output and "rlm-worker-" not in crash.output

    run(scenario())


def test_a_compiled_worker_that_was_deleted_is_compiled_again(backend):
    compiled = worker_code.worker_code(sys.executable)
    os.unlink(compiled)  # what a /tmp cleaner does under a long run

    async def scenario():
        async with open_repl(backend) as repl:
            assert (await repl.execute("'alive'")).output == "'alive'\n"

    run(scenario())
    again = worker_code.worker_code(sys.executable)
    assert again != compiled and again.exists()


def test_another_interpreter_gets_bytecode_it_wrote_itself(tmp_path):
    wrapper = tmp_path / "python-wrapper"  # another path than this interpreter's: compiled by running it
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    compiled = worker_code.worker_code(str(wrapper))
    assert compiled.suffix == ".pyc" and compiled != worker_code.worker_code(sys.executable)
    usage = subprocess.run([str(wrapper), "-I", str(compiled), "--bogus"], capture_output=True, text=True)
    assert usage.returncode != 0 and "usage: worker.py" in usage.stderr


def test_an_interpreter_that_cannot_compile_it_runs_the_source_and_says_so_once(tmp_path, caplog):
    broken = tmp_path / "old-python"
    broken.write_text("#!/bin/sh\necho 'SyntaxError: invalid syntax' >&2\nexit 1\n")
    broken.chmod(0o755)
    with caplog.at_level(logging.WARNING, logger="rlm_env.repl.worker_code"):
        assert worker_code.worker_code(str(broken)) == WORKER_SOURCE
        assert worker_code.worker_code(str(broken)) == WORKER_SOURCE
    warnings = [r.getMessage() for r in caplog.records if "runs from source" in r.getMessage()]
    assert len(warnings) == 1 and "SyntaxError: invalid syntax" in warnings[0]
