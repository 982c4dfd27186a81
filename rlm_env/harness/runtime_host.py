"""Run the REPL worker inside a verifiers runtime (docker, prime; modal and e2b on verifiers 0.4.0 only).

The runtime is the sandbox there: the worker is uploaded with `runtime.write`, started with
the runtime's process start (`exec`, or `open_process` on verifiers 0.4.0: see
rlm_env.harness.compat), and only applies its resource limits itself. On the subprocess
runtime (the host) the harness uses LocalSandbox instead, spawned through the runtime.
"""

import json
from pathlib import Path
from typing import Any

from rlm_env.harness import compat
from rlm_env.repl.sandbox import SandboxConfig, resource_limits
from rlm_env.repl.session import WorkerProcess
from rlm_env.repl.worker_code import WORKER_SOURCE

REMOTE_DIR = ".rlm_env"


class RuntimeWorkerHost:
    """WorkerHost over a verifiers Runtime; files live in the runtime's work dir."""

    def __init__(self, runtime: Any, config: SandboxConfig | None = None, python: str = "python3") -> None:
        self.runtime = runtime
        self.config = config or SandboxConfig()
        self.python = self.config.python or python
        self.process: WorkerProcess | None = None
        self._uploaded = False

    async def add_file(self, name: str, source: Path) -> str:
        return await self._write(name, source.read_bytes())

    async def _write(self, name: str, data: bytes) -> str:
        path = f"{REMOTE_DIR}/{name}"
        await self.runtime.write(path, data)
        return path

    async def start_worker(self) -> WorkerProcess:
        await self.stop_worker()
        if not self._uploaded:
            await self._write("worker.py", WORKER_SOURCE.read_bytes())
            self._uploaded = True
        # No RLIMIT_NPROC: it counts every process of the user, and in a runtime's container
        # those are not ours to count.
        limits = resource_limits(self.config)
        argv = [self.python, "-I", f"{REMOTE_DIR}/worker.py", "--limits", json.dumps(limits)]
        self.process = await compat.process_starter(self.runtime)(
            argv, {"PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1"}
        )
        return self.process

    async def stop_worker(self) -> None:
        if self.process is not None:
            await self.process.kill()
            await self.process.wait()
            self.process = None

    async def close(self) -> None:
        await self.stop_worker()
