"""The REPL worker's code as bytecode, compiled once per process for the interpreter that runs it.

Run as a script, worker.py is compiled again by every worker that starts: CPU on every
rollout's start, and about 2 MB of heap that the compiler leaves behind in the supervisor
(and in the executor forked from it), for as long as the rollout lives. Python runs a `.pyc`
file given as the script, so the host compiles the worker once and every sandbox runs that.
"""

import atexit
import logging
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

WORKER_SOURCE = Path(__file__).with_name("worker.py")
TRACEBACK_NAME = "/opt/rlm_env/worker.py"
"""The file name the worker's own frames show in tracebacks, wherever its code lives."""

# Hash-based and unchecked: the .pyc is run directly, never checked against a source file.
_COMPILE = (
    "import py_compile, sys; py_compile.compile(sys.argv[1], sys.argv[2], sys.argv[3], doraise=True, "
    "invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)"
)
_compiled: dict[str, Path] = {}
_warned: set[str] = set()


def worker_code(python: str) -> Path:
    """The worker for `python` to run: its compiled `.pyc`, or worker.py itself where that
    interpreter cannot compile it (a warning says so once)."""
    known = _compiled.get(python)
    if known is not None and known.exists():  # a cleaner may empty /tmp under a long run
        return known
    try:
        compiled = _compile(python)
    except (OSError, subprocess.SubprocessError, py_compile.PyCompileError) as error:
        if python not in _warned:
            _warned.add(python)
            logger.warning(
                "the REPL worker runs from source (slower start): cannot compile it for %s: %s",
                python,
                error,
            )
        return WORKER_SOURCE
    _compiled[python] = compiled
    return compiled


def _compile(python: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="rlm-worker-"))
    folder.chmod(0o755)  # a sandbox's dropped uid runs it from here
    atexit.register(shutil.rmtree, folder, True)
    target = folder / "worker.pyc"
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        py_compile.compile(
            str(WORKER_SOURCE),
            str(target),
            TRACEBACK_NAME,
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
    else:  # bytecode is per interpreter version: let that interpreter write it
        result = subprocess.run(
            [python, "-I", "-c", _COMPILE, str(WORKER_SOURCE), str(target), TRACEBACK_NAME],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode != 0:
            raise OSError(result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "compile failed")
    target.chmod(0o444)
    return target
