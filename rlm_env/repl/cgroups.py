"""One cgroup per local sandbox, so memory and process limits hold for the sandbox as a whole.

Where the host allows it, each LocalSandbox gets its own cgroup, created below a parent this
process may write to:

- cgroup v2: the parent is `SandboxConfig.cgroup_parent`, or else this process's own cgroup;
  it must have the memory and pids controllers enabled for its children
  (`cgroup.subtree_control`), which is what delegating a cgroup to rlm-env means. The
  sandbox's cgroup gets `memory.max`, `memory.swap.max = 0` and `pids.max`.
- cgroup v1 (hybrid hosts): below this process's own cgroup in the memory hierarchy
  (`memory.limit_in_bytes`, and `memory.memsw.limit_in_bytes` where swap accounting is on)
  and, when mounted, the pids hierarchy (`pids.max`).

The worker joins the cgroup before it starts (a `sh` prefix that writes its pid into
`cgroup.procs` and execs the rest), so every process it ever starts is inside, and stopping
the sandbox kills everything in the cgroup. Where neither is possible (no write access, a
v2 parent without the controllers delegated), `detect` says why and the sandbox runs with
per-process limits only; rlm_env.repl.sandbox states what that leaves open.
"""

import asyncio
import functools
import itertools
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

NAME_PREFIX = "rlm-sandbox-"
_counter = itertools.count()


@dataclass(frozen=True)
class CgroupSupport:
    version: int | None
    """2, 1, or None where no cgroup can be made."""
    parents: dict[str, Path] = field(default_factory=dict)
    """Controller ("memory", "pids") -> the directory sandbox cgroups are created in."""
    reason: str = ""
    """Why there is no cgroup (version None), for the warning."""


@functools.cache
def detect(parent: str | None = None) -> CgroupSupport:
    """Where this process can make sandbox cgroups, checked once per parent."""
    try:
        mounts = _cgroup_mounts()
        own = _own_cgroups()
    except OSError as error:
        return CgroupSupport(None, reason=f"cannot read the cgroup setup ({error})")
    v2_reason = "no cgroup v2 mount"
    if "cgroup2" in mounts:
        if parent is not None:
            candidate = Path(parent)
        else:
            mount_point, mount_root = mounts["cgroup2"]
            candidate = _join(mount_point, mount_root, own.get("", "/"))
        v2_reason = _usable_v2(candidate)
        if not v2_reason:
            return CgroupSupport(2, {"memory": candidate, "pids": candidate})
        if parent is not None:
            return CgroupSupport(None, reason=f"cgroup_parent {parent}: {v2_reason}")
    if "memory" in mounts and "memory" in own:
        memory = _join(*mounts["memory"], own["memory"])
        if os.access(memory, os.W_OK):
            parents = {"memory": memory}
            if "pids" in mounts and "pids" in own:
                pids = _join(*mounts["pids"], own["pids"])
                if os.access(pids, os.W_OK):
                    parents["pids"] = pids
            return CgroupSupport(1, parents)
        return CgroupSupport(None, reason=f"{v2_reason}, and {memory} (cgroup v1 memory) is not writable")
    return CgroupSupport(None, reason=v2_reason)


def _usable_v2(candidate: Path) -> str:
    """Why sandbox cgroups cannot be made below `candidate`, or "" if they can."""
    try:
        enabled = (candidate / "cgroup.subtree_control").read_text().split()
        available = (candidate / "cgroup.controllers").read_text().split()
    except OSError as error:
        return f"{candidate} is not a readable cgroup v2 directory ({error.strerror})"
    if not os.access(candidate, os.W_OK):
        return f"{candidate} is not writable"
    missing = [c for c in ("memory", "pids") if c not in enabled]
    if missing and all(c in available for c in missing):
        try:  # works where the parent holds no processes itself
            (candidate / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in missing))
            missing = []
        except OSError:
            pass
    if missing:
        return (
            f"{candidate} does not delegate the {' and '.join(missing)} controller(s) to its children "
            "(set SandboxConfig.cgroup_parent to a cgroup that does)"
        )
    return ""


def _cgroup_mounts() -> dict[str, tuple[str, str]]:
    """ "cgroup2" and each v1 controller -> (mount point, root of the mount)."""
    mounts: dict[str, tuple[str, str]] = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            before, _, after = line.partition(" - ")
            fields, tail = before.split(), after.split()
            if len(fields) < 5 or len(tail) < 3:
                continue
            if tail[0] == "cgroup2":
                mounts.setdefault("cgroup2", (fields[4], fields[3]))
            elif tail[0] == "cgroup":
                for option in tail[2].split(","):
                    mounts.setdefault(option, (fields[4], fields[3]))
    return mounts


def _own_cgroups() -> dict[str, str]:
    """Controller ("" for v2) -> this process's cgroup path."""
    own: dict[str, str] = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                own[controller] = path
    return own


def _join(mount_point: str, mount_root: str, path: str) -> Path:
    if mount_root != "/" and path.startswith(mount_root):
        path = path[len(mount_root) :]
    return Path(mount_point) / path.lstrip("/")


class SandboxCgroup:
    """The cgroup(s) of one sandbox: created with its limits, emptied and removed on close."""

    def __init__(self, support: CgroupSupport, memory_bytes: int, max_pids: int) -> None:
        self.version = support.version
        name = f"{NAME_PREFIX}{os.getpid()}-{next(_counter)}"
        self.dirs: list[Path] = []
        for parent in dict.fromkeys(support.parents.values()):
            _remove_stale(parent)
            directory = parent / name
            directory.mkdir()
            self.dirs.append(directory)
        try:
            if self.version == 2:
                (self.dirs[0] / "memory.max").write_text(str(memory_bytes))
                _write_if_present(self.dirs[0] / "memory.swap.max", "0")
                (self.dirs[0] / "pids.max").write_text(str(max_pids))
            else:
                memory = support.parents["memory"] / name
                (memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
                _write_if_present(memory / "memory.memsw.limit_in_bytes", str(memory_bytes))
                if "pids" in support.parents:
                    (support.parents["pids"] / name / "pids.max").write_text(str(max_pids))
        except OSError:
            self.remove_now()
            raise
        self.has_pids = self.version == 2 or "pids" in support.parents

    def enter_argv(self) -> list[str]:
        """A prefix that moves the process into this cgroup, then execs the command after it."""
        script = "".join(f"echo $$ > {shlex.quote(str(d / 'cgroup.procs'))} && " for d in self.dirs)
        return ["/bin/sh", "-c", script + 'exec "$@"', "rlm-cgroup-enter"]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for directory in self.dirs:
            try:
                found.update(int(p) for p in (directory / "cgroup.procs").read_text().split())
            except OSError:
                continue
        return found

    async def kill_all(self) -> None:
        """SIGKILL everything in the cgroup and wait (briefly) until it is empty."""
        for _ in range(100):
            pids = self.pids()
            if not pids:
                return
            if not (self.version == 2 and _write_if_present(self.dirs[0] / "cgroup.kill", "1")):
                for pid in pids:
                    try:
                        os.kill(pid, 9)
                    except (ProcessLookupError, PermissionError):
                        pass
            await asyncio.sleep(0.02)

    async def remove(self) -> None:
        await self.kill_all()
        for _ in range(50):
            if self.remove_now():
                return
            await asyncio.sleep(0.02)

    def remove_now(self) -> bool:
        left = []
        for directory in self.dirs:
            try:
                directory.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                left.append(directory)
        self.dirs = left
        return not left


def _write_if_present(path: Path, value: str) -> bool:
    try:
        path.write_text(value)
        return True
    except FileNotFoundError:
        return False


def _remove_stale(parent: Path) -> None:
    """Remove empty sandbox cgroups left by a host process that died without closing them."""
    try:
        entries = [e for e in os.listdir(parent) if e.startswith(NAME_PREFIX)]
    except OSError:
        return
    for entry in entries:
        pid = entry[len(NAME_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            try:
                (parent / entry).rmdir()
            except OSError:
                pass  # still has processes: a later sandbox, or an operator, clears it
