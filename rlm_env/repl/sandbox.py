"""Local isolation for the REPL worker: one sandbox per rollout.

It fails closed: without bubblewrap no REPL starts unless the config says so in as many words
(``SandboxConfig.accept_no_isolation``); the error names both fixes.

What a local sandbox covers (each property is attacked in tests/test_repl_sandbox.py and
tests/test_repl_attacks.py):

- A fresh worker process per rollout, in its own session, with a scrubbed environment: only
  PATH, HOME (the work dir), TMPDIR, LANG and a few thread-count variables; no API keys, no
  host HOME.
- A private writable work directory (the worker's cwd and HOME) and /tmp. The input data and
  the worker's own code are read-only to the model, so nothing its code does can break a
  restart (the executor is re-forked from the supervisor and reads no files at all).
- Resource limits on the cell's process and everything it starts, set as soft = hard rlimits
  so model code cannot raise them: address space per process, process count, file size and
  CPU seconds.
- Limits for the sandbox as a whole, where the host lets this process make a cgroup
  (rlm_env.repl.cgroups: v2 where delegated, else v1): all its processes together may use
  ``memory_mb`` of memory plus room for the files it may hold in memory (the tmpfs work dir
  and /tmp, the output capture), and ``max_processes`` processes; past the memory limit the
  kernel kills the cell's process (the model is told and gets a fresh one). Stopping the
  sandbox kills every process in its cgroup.
- When started as root, the cell's process runs as a user id of its own (one per live
  sandbox, held with a lock file), so the process limit counts only its processes, it cannot
  signal or trace the supervisor or the host, the kernel keeps it out of other sandboxes'
  files, and every process it left behind can be killed.

With bubblewrap (``backend="bwrap"``, chosen by ``"auto"`` when ``bwrap`` is on PATH) it also
gets: no network (a new network namespace with only its own loopback), its own PID, IPC and
UTS namespaces, a read-only view of just the system and Python directories it needs, and a
read-only root; the work dir and /tmp are size-limited tmpfs mounts of ``disk_mb`` each, the
sandbox's disk quota (bubblewrap >= 0.5 for ``--size``; an older one gets unsized tmpfs and a
warning); killing the sandbox kills every process in it.

What it does not cover:

- Without bubblewrap (``backend="none"``, only with ``accept_no_isolation``) there is no
  network isolation, the whole host file system is visible (writable wherever the cell's
  user may write, e.g. /tmp), the work dir on the host disk has no quota, and a root host
  whose Python lives in a directory other users cannot enter (such as /root) keeps the cell
  running as root, which also disables the process limit and lets model code read the
  host's processes, their environment (API keys) and the worker's protocol.
- Without a usable cgroup (see rlm_env.repl.cgroups for when that is), memory is limited per
  process (address space), not per sandbox: N processes may use N times ``memory_mb``, which
  the process limit bounds; a warning says so once.
- Kernel exploits and side channels are out of scope. Remote runtimes (docker, prime; modal
  on verifiers 0.4.0) bring their own isolation; there the worker only applies the rlimits.
"""

import asyncio
import fcntl
import functools
import json
import logging
import os
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from rlm_env.repl import cgroups
from rlm_env.repl.inputs import link_or_copy
from rlm_env.repl.session import ReplInfraError, WorkerProcess
from rlm_env.repl.worker_code import worker_code

logger = logging.getLogger(__name__)

SANDBOX_HOME = "/home/repl"
SANDBOX_WORKER_DIR = "/opt/rlm_env"
SANDBOX_INPUT = "/opt/rlm_env/input"
UID_RANGE = range(200_000, 201_000)
UID_LOCK_DIR = Path(tempfile.gettempdir()) / "rlm-env-uids"
SUPERVISOR_MEMORY_MB = 64
"""Room in the sandbox's cgroup for the supervisor and bubblewrap themselves."""
STOP_WAIT_S = 5.0


class SandboxUnavailable(ReplInfraError):
    """The configured isolation is not available on this host."""


class SandboxConfig(BaseModel):
    """Isolation and resource limits for one REPL worker."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    backend: Literal["auto", "bwrap", "none"] = "auto"
    """`bwrap` (bubblewrap namespaces), `none` (process limits only, no isolation), or `auto`:
    bwrap when installed, otherwise `none` if `accept_no_isolation` allows it."""
    accept_no_isolation: bool = False
    """Run model code without bubblewrap (backend `none`): no network or file-system isolation,
    and as root possibly no user separation (see rlm_env/repl/sandbox.py). Off by default, so
    a host without bubblewrap refuses to start a REPL instead of running model code openly."""
    memory_mb: int = Field(default=4096, ge=256)
    """Memory in MiB for the sandbox's processes together where a cgroup is available, and
    address space for each process everywhere (numpy, scipy and sympy need about 1 GiB)."""
    max_processes: int = Field(default=64, ge=4)
    """Processes and threads the cell may run at once, its own process included."""
    max_file_size_mb: int = Field(default=1024, ge=1)
    """Largest file the cell may write, in MiB (also bounds one cell's captured output)."""
    disk_mb: int = Field(default=1024, ge=16)
    """Size in MiB of the work dir and of /tmp (each a tmpfs) with bubblewrap: the sandbox's
    disk quota. Their contents live in memory and count towards the sandbox's cgroup."""
    cpu_seconds: int = Field(default=3600, ge=10)
    """CPU seconds the cell's process may use over its life; past it it is killed and replaced."""
    cgroup_parent: str | None = None
    """A cgroup v2 directory delegated to rlm-env (memory and pids enabled in its
    cgroup.subtree_control) to create each sandbox's cgroup in; unset: found automatically,
    see rlm_env/repl/cgroups.py."""
    use_cgroup: bool = True
    """Give each sandbox its own cgroup where the host allows it (per-sandbox memory and
    process limits); off: per-process limits only."""
    python: str | None = None
    """Python interpreter that runs the worker; the host's own interpreter by default, so
    the REPL can import the packages installed beside rlm-env (numpy, scipy, sympy)."""


def resource_limits(config: SandboxConfig, max_processes: int | None = None) -> dict[str, int]:
    """The rlimits the worker applies to its executor (`--limits`): memory, file size, CPU, no core
    files, and processes when `max_processes` is given."""
    mib = 1 << 20
    limits = {"RLIMIT_AS": config.memory_mb * mib}
    if max_processes is not None:
        limits["RLIMIT_NPROC"] = max_processes
    return limits | {"RLIMIT_FSIZE": config.max_file_size_mb * mib, "RLIMIT_CPU": config.cpu_seconds, "RLIMIT_CORE": 0}


class LocalProcess:
    """A live worker process with the same shape as verifiers' RuntimeProcess."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.stdout: AsyncIterator[bytes] = _chunks(process.stdout)
        self.stderr: AsyncIterator[bytes] = _chunks(process.stderr)

    async def write(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        await self.process.stdin.drain()

    async def wait(self) -> int:
        # Process.wait() also waits for the pipes to close, which never happens while a full
        # stdout pipe has no reader: watch the exit status alone.
        while self.process.returncode is None:
            await asyncio.sleep(0.01)
        return self.process.returncode

    async def kill(self) -> None:
        _signal_group(self.process.pid, signal.SIGKILL)


Spawn = Callable[[list[str], dict[str, str]], Awaitable[WorkerProcess]]
"""Starts argv with env and returns the live process: `spawn_local`, or a verifiers
runtime's process start (rlm_env.harness.compat.process_starter) so the runtime owns (and finally reaps) the worker."""


async def spawn_local(argv: list[str], env: dict[str, str]) -> LocalProcess:
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True
    )
    return LocalProcess(process)


async def _chunks(stream: asyncio.StreamReader | None) -> AsyncIterator[bytes]:
    assert stream is not None
    while chunk := await stream.read(1 << 16):
        yield chunk


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # started with a new session, so pgid == pid
    except ProcessLookupError:
        pass


class LocalSandbox:
    """A host dir (input data; the work dir without bubblewrap) plus at most one live worker,
    isolated as SandboxConfig says."""

    _warned: ClassVar[set[str]] = set()

    def __init__(self, config: SandboxConfig | None = None, spawn: Spawn | None = None) -> None:
        self.config = config or SandboxConfig()
        self.spawn = spawn or spawn_local
        self.backend = resolve_backend(self.config)
        self.python = self.config.python or sys.executable
        drop_uid = os.geteuid() == 0 and self._others_can_run_python()  # (may raise: before any dir exists)
        self.root = Path(tempfile.mkdtemp(prefix="rlm-repl-"))
        self.root.chmod(0o755)
        self.input_dir = self.root / "input"  # root-owned, read-only to the cell
        self.input_dir.mkdir(mode=0o755)
        self.workdir = self.root / "work"
        """The cell's work dir on the host (without bubblewrap; with it the work dir is a tmpfs)."""
        self.workdir.mkdir(mode=0o700)
        self.uid, self._uid_lock = None, None
        if drop_uid:
            self.uid, self._uid_lock = allocate_uid()
            os.chown(self.workdir, self.uid, self.uid)
        self.cgroup: cgroups.SandboxCgroup | None = None
        self._cgroup_support = cgroups.detect(self.config.cgroup_parent) if self.config.use_cgroup else None
        self.process: WorkerProcess | None = None
        if self.backend == "none":
            as_root = "" if self.uid is not None or os.geteuid() != 0 else " and as root"
            self._warn_once(
                "none",
                "REPL sandbox without bubblewrap (accepted by accept_no_isolation): model code "
                f"runs without network or file-system isolation{as_root}. Install it with `apt-get "
                "install bubblewrap`.",
            )
        if self._cgroup_support is not None and self._cgroup_support.version is None:
            self._warn_once(
                "cgroup",
                f"REPL sandboxes get no cgroup ({self._cgroup_support.reason}): memory is "
                "limited per process, not per sandbox.",
            )
        if self.backend == "bwrap" and not bwrap_supports_size():
            self._warn_once(
                "size",
                "this bubblewrap has no --size (needs 0.5 or later): the REPL's work dir and /tmp have no disk quota.",
            )

    @classmethod
    def _warn_once(cls, key: str, message: str) -> None:
        if key not in cls._warned:
            cls._warned.add(key)
            logger.warning(message)

    @property
    def isolation(self) -> dict[str, bool]:
        """Which properties this sandbox enforces; tests report the ones it does not."""
        bwrap = self.backend == "bwrap"
        support = self._cgroup_support
        return {
            "network": bwrap,
            "filesystem": bwrap,
            "private_files": bwrap or self.uid is not None,
            "process_limit": self.uid is not None or os.geteuid() != 0,
            # The cell cannot reach the supervisor's or the host's descriptors: another uid, or
            # same-uid processes kept apart by namespaces and a non-dumpable supervisor.
            "private_protocol": bwrap or self.uid is not None,
            "memory_per_sandbox": support is not None and support.version is not None,
            "disk_quota": bwrap and bwrap_supports_size(),
        }

    def worker_path(self, name: str) -> str:
        """Where a file of the input dir appears to the worker."""
        return f"{SANDBOX_INPUT}/{name}" if self.backend == "bwrap" else str(self.input_dir / name)

    async def add_file(self, name: str, source: Path) -> str:
        # A link shares one copy between sandboxes only where the cell cannot write through it:
        # a read-only bind mount (bubblewrap) or another uid (the file is ours, mode 0444).
        link_or_copy(source, self.input_dir / name, share=self.backend == "bwrap" or self.uid is not None)
        return self.worker_path(name)

    async def start_worker(self) -> WorkerProcess:
        await self.stop_worker()
        worker_args = ["--limits", json.dumps(resource_limits(self.config, self._process_limit()))]
        if self.uid is not None:
            worker_args += ["--uid", str(self.uid), "--gid", str(self.uid)]
        code = worker_code(self.python)
        if self.backend == "bwrap":
            sandbox_code = f"{SANDBOX_WORKER_DIR}/{code.name}"
            argv = self._bwrap_argv(code, sandbox_code) + [self.python, "-I", sandbox_code, *worker_args]
        else:
            argv = [self.python, "-I", str(code), "--chdir", str(self.workdir), *worker_args]
        # `env -i` scrubs the environment whoever spawns the process (a runtime may merge in its own).
        env = self._env()
        argv = ["env", "-i", *(f"{key}={value}" for key, value in env.items()), *argv]
        if self.cgroup is None and self._cgroup_support is not None and self._cgroup_support.version is not None:
            self.cgroup = cgroups.SandboxCgroup(
                self._cgroup_support, self._cgroup_memory_bytes(), self.config.max_processes + 8
            )
        if self.cgroup is not None:
            argv = self.cgroup.enter_argv() + argv
        self.process = await self.spawn(argv, env)
        return self.process

    async def stop_worker(self) -> None:
        """Kill the worker and everything it started, without waiting on a process that lingers."""
        if self.process is None:
            return
        process, self.process = self.process, None
        await process.kill()
        if self.cgroup is not None:
            await self.cgroup.kill_all()
        if self.uid is not None and self.backend == "none":
            # Children that called setsid() escaped the process group; they all share our uid.
            subprocess.run(
                ["kill", "-KILL", "-1"],
                user=self.uid,
                group=self.uid,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
        try:
            await asyncio.wait_for(process.wait(), STOP_WAIT_S)
        except TimeoutError:
            logger.warning("REPL worker %s did not exit %g s after SIGKILL", getattr(process, "pid", "?"), STOP_WAIT_S)

    async def close(self) -> None:
        await self.stop_worker()
        if self.cgroup is not None:
            await self.cgroup.remove()
            self.cgroup = None
        shutil.rmtree(self.root, ignore_errors=True)
        if self._uid_lock is not None:
            self._uid_lock.close()
            self._uid_lock = None

    def _cgroup_memory_bytes(self) -> int:
        # The processes get memory_mb; files the sandbox holds in memory (its tmpfs mounts and the
        # output capture) get room of their own, so a full disk cannot starve a restart.
        c = self.config
        tmpfs_mb = 2 * c.disk_mb if self.backend == "bwrap" else 0
        return (c.memory_mb + tmpfs_mb + c.max_file_size_mb + SUPERVISOR_MEMORY_MB) << 20

    def _env(self) -> dict[str, str]:
        home = SANDBOX_HOME if self.backend == "bwrap" else str(self.workdir)
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": home,
            "TMPDIR": "/tmp",
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
            # One BLAS thread each: many REPLs share the host's cores.
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }

    def _process_limit(self) -> int:
        processes = self.config.max_processes
        if self.uid is None and os.geteuid() != 0:
            # RLIMIT_NPROC counts every process of the user, so leave room for the ones running.
            processes += count_user_processes(os.geteuid())
        return processes

    def _bwrap_argv(self, code: Path, sandbox_code: str) -> list[str]:
        argv = [
            "bwrap",
            "--die-with-parent",
            "--new-session",
            "--unshare-net",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
        ]
        if os.geteuid() == 0:
            argv += ["--cap-add", "CAP_SETUID,CAP_SETGID"]  # the executor drops to its own uid
        else:
            argv += ["--unshare-user"]
        size = ["--size", str(self.config.disk_mb << 20)] if bwrap_supports_size() else []
        # Mount /proc, /dev and the private /tmp first, so binds below /tmp (a venv in /tmp) stay visible.
        argv += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", *size, "--tmpfs", "/tmp"]
        for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(top):
                argv += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                argv += ["--ro-bind", top, top]
        argv += ["--ro-bind", "/usr", "/usr"]
        for path in ("/etc/ld.so.cache", "/etc/localtime", "/etc/ssl", "/etc/alternatives"):
            argv += ["--ro-bind-try", path, path]
        for path in python_dirs(self.python):
            argv += _parents(path) + ["--ro-bind", path, path]
        argv += _parents(sandbox_code) + ["--ro-bind", str(code), sandbox_code]
        argv += ["--ro-bind", str(self.input_dir), SANDBOX_INPUT]
        argv += _parents(SANDBOX_HOME) + ["--perms", "0777", *size, "--tmpfs", SANDBOX_HOME]
        argv += ["--chdir", SANDBOX_HOME, "--remount-ro", "/", "--"]
        return argv

    def _others_can_run_python(self) -> bool:
        """A dropped uid can only run the interpreter if every directory on its path is open."""
        if self.backend == "bwrap":
            return True  # bwrap mounts the Python directories at open paths
        for path in [Path(self.python)] + [Path(d) for d in python_dirs(self.python)]:
            for parent in path.resolve().parents:
                if not parent.stat().st_mode & stat.S_IXOTH:
                    return False
        return True


def resolve_backend(config: SandboxConfig) -> str:
    """The backend to use, refusing (SandboxUnavailable) to run without isolation unasked."""
    has_bwrap = shutil.which("bwrap") is not None
    if config.backend == "bwrap" and not has_bwrap:
        raise SandboxUnavailable(
            "sandbox backend 'bwrap' requested but bubblewrap is not installed: "
            "install it (`apt-get install bubblewrap`)"
        )
    backend = ("bwrap" if has_bwrap else "none") if config.backend == "auto" else config.backend
    if backend == "none" and not config.accept_no_isolation:
        why = "bubblewrap is not installed" if config.backend == "auto" else "backend 'none' has no isolation"
        raise SandboxUnavailable(
            f"refusing to run model code without a sandbox ({why}): install bubblewrap "
            "(`apt-get install bubblewrap`), or set sandbox.accept_no_isolation = true"
        )
    return backend


@functools.cache
def bwrap_supports_size() -> bool:
    try:
        help_text = subprocess.run(["bwrap", "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--size" in help_text


def python_dirs(python: str) -> list[str]:
    """Directories the interpreter needs: its prefixes and site-packages, outermost first."""
    query = (
        "import json, site, sys, sysconfig; print(json.dumps([sys.prefix, sys.base_prefix, "
        "sysconfig.get_paths()['purelib'], sysconfig.get_paths()['platlib'], *site.getsitepackages()]))"
    )
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        import site

        paths = [
            sys.prefix,
            sys.base_prefix,
            sysconfig.get_paths()["purelib"],
            sysconfig.get_paths()["platlib"],
            *site.getsitepackages(),
        ]
    else:
        try:
            paths = json.loads(
                subprocess.run([python, "-c", query], capture_output=True, text=True, check=True, timeout=60).stdout
            )
        except (OSError, subprocess.SubprocessError, ValueError) as error:
            raise SandboxUnavailable(
                f"the REPL's Python {python} cannot run ({error}): set sandbox.python to "
                "a working interpreter, or leave it unset for this one"
            ) from error
    paths.append(os.path.dirname(os.path.realpath(python)))
    paths = sorted({os.path.realpath(p) for p in paths if os.path.isdir(p)} | {p for p in paths if os.path.isdir(p)})
    # Drop paths already covered by a parent in the list.
    return [p for p in paths if not any(p != q and p.startswith(q + "/") for q in paths)]


def _parents(path: str) -> list[str]:
    """bwrap creates missing parents with mode 0700; make them 0755 so the dropped uid can pass."""
    args = []
    parts = Path(path).parent.parts
    for i in range(2, len(parts) + 1):
        args += ["--perms", "0755", "--dir", str(Path(*parts[:i]))]
    return args


def allocate_uid() -> tuple[int, object]:
    """Reserve a user id no other live sandbox on this host holds (a lock file per uid)."""
    UID_LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
    for uid in UID_RANGE:
        lock = open(UID_LOCK_DIR / f"{uid}.lock", "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        return uid, lock
    raise SandboxUnavailable(f"all {len(UID_RANGE)} sandbox user ids are in use; close some REPLs")


def count_user_processes(uid: int) -> int:
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry.name}/task"))
            except (FileNotFoundError, PermissionError):
                continue  # the process ended while we looked
    return count
