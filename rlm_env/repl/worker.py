"""The REPL worker: runs model-written Python inside the sandbox, one worker per rollout.

Standard library only, so it runs in any Python >= 3.10 on Linux. The host starts it as
``python -I worker.py [--limits JSON] [--uid N --gid N] [--chdir DIR]`` and speaks JSON lines
with it over the process's stdin/stdout.

The REPL contract (every clause is tested in tests/test_repl_contract.py, the attacks on it in
tests/test_repl_attacks.py):

1. One persistent Python namespace per rollout; state survives across cells.
2. The environment provides these names:
   - ``extra_data``: the task's input data, loaded from a read-only file the host wrote into
     the sandbox (``.txt`` -> ``str``, ``.json`` -> parsed JSON); also reachable as ``context``.
   - ``answer``: a dict that starts as ``{"content": "", "ready": False}``.
   - ``llm_batch(prompts: list[str]) -> list[str]``: fresh sub-LLM calls, run in parallel on
     the host; the cell blocks until every answer is back. Failed calls come back as strings
     in the list, never as exceptions. A call that breaks the limits (more than
     ``max_batch_prompts`` prompts, an item that is not a ``str``, a prompt over
     ``max_prompt_chars`` or a batch over ``max_batch_chars`` characters) raises ``TypeError``
     or ``ValueError`` in the cell naming the limit, and nothing is sent. It works while a
     cell runs, from any thread; batches from several threads run one after another.
3. Time spent waiting for ``llm_batch`` does not count against the cell timeout: the cell
   clock pauses while the host serves a batch. A batch is bounded instead by the sub-LLM
   timeout, the sub-LLM call budget and the rollout's wall time; when the wall time ends
   during a batch the rollout stops with that stop reason, and its answer is ``answer`` as it
   stood when the batch was sent (each batch carries it to the host). Threads a cell starts
   keep running between cells, bounded by the CPU-time limit and the wall time.
4. Protected names are restored after every cell if the model rebinds them, and the model is
   told once per name. ``answer`` keeps the model's content: a rebound non-dict becomes the
   new content, a dict is normalised to ``{"content": str, "ready": bool}``. Content longer
   than ``max_answer_chars`` is cut to that length, and characters UTF-8 cannot carry (lone
   surrogates) become U+FFFD; the model is told each time.
5. Each cell returns its stdout and stderr, in order, including what child processes and C
   code write to file descriptors 1 and 2. A trailing expression is echoed, like IPython.
   Output longer than ``max_output_chars`` keeps its head and tail with a visible marker
   saying how many characters were cut; output past the file-size limit is lost, with a note.
   A cell that closes or redirects fds 0, 1 and 2 or replaces ``sys.stdout`` gets them back
   at the start of the next cell.
6. A cell whose own time passes the cell timeout is killed and the model gets a fresh
   namespace (input data and protected names reloaded, the last ``answer`` kept, files in
   the work dir kept), the cell's output so far, and a note that state was lost and why.
   The same happens when the cell's process dies (``os._exit``, a signal, the memory limit)
   or the cell's code tampers with the worker's internal channel (clause 8); the reason is
   also recorded on the host (``CellResult.restart_reason``).
7. Processes a cell starts do not outlive it: when the cell ends, every process it started
   is killed (so a fork bomb's leftovers cannot write into later cells).
8. Model code cannot reach the host protocol. The worker is two processes: a supervisor,
   which holds the protocol on its stdin/stdout, runs no model code, is not dumpable (so
   processes of the same user cannot read its descriptors through /proc or ptrace it) and,
   when started as root, keeps root while the cell's process drops to the sandbox's user;
   and an executor, forked from the supervisor, which runs the cells. Everything the
   executor sends is untrusted: the supervisor checks each frame's schema, types and size,
   and a bad frame, a frame out of turn, a closed channel or a dead executor is the model's
   doing (clause 6), never an infrastructure error. The supervisor answers each host frame
   with exactly one frame, so the protocol cannot get out of step. The host checks every
   frame from the supervisor as well; one that fails is an infrastructure error.

Host <-> supervisor frames (one JSON object per line; the supervisor answers each host frame
with exactly one frame):
  host -> worker  {"type": "init", "data_path": str | null, "answer": ANSWER, "cell_timeout_s": float,
                   "max_output_chars": int, "max_answer_chars": int, "max_batch_prompts": int,
                   "max_prompt_chars": int, "max_batch_chars": int}
                  {"type": "exec", "code": str}
                  {"type": "llm_batch_result", "id": int, "results": [str, ...]}
  worker -> host  {"type": "ready"}
                  {"type": "llm_batch", "id": int, "prompts": [str, ...], "answer": ANSWER | null}
                  {"type": "result", "output": str, "truncated_chars": int, "answer": ANSWER,
                   "notes": [str, ...], "restarts": [{"reason": str, "timed_out": bool,
                   "before_cell": bool}, ...]}
                  {"type": "error", "message": str}   (the worker cannot go on: infrastructure)
  ANSWER = {"content": str, "ready": bool}
Supervisor <-> executor frames: "exec" and "llm_batch_result" down; "ready", "llm_batch"
(same fields) and {"type": "result", "answer": ANSWER, "notes": [str, ...]} up.
"""

# Everything the executor needs is imported here, in the supervisor, before the executor is
# forked: the two processes then share these modules' pages instead of each holding a copy
# (about 1 MB per rollout).
import ast
import io
import json
import linecache
import os
import re
import resource
import select
import signal
import sys
import threading
import time
import traceback

DATA_NAMES = ("extra_data", "context")  # both hold the task's input
PROTECTED_NAMES = (*DATA_NAMES, "llm_batch", "answer")
"""The names the environment provides, restored after every cell; the one list of them (the host's messages read it)."""
READ_CHUNK = 1 << 16
HOST_FRAME_LIMIT = 1 << 30  # the host is trusted; this only stops a runaway line
MAX_NOTES_CHARS = 16_384
EXECUTOR_START_TIMEOUT_S = 60.0
# Exit codes the executor uses when the cell's code broke its channel, so the reason can be told.
EXIT_CHANNEL_BROKEN = 86
EXIT_CHANNEL_DESYNC = 87
EXIT_SETUP_FAILED = 88
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER = 1, 4, 36
_SURROGATES = re.compile("[\ud800-\udfff]")
_UTF8_CONTINUATION = bytes(range(0x80, 0xC0))
_libc = None


# ---------------------------------------------------------------- frames


class FrameError(Exception):
    """A frame that is too big, not JSON, or not what the protocol allows at this point."""


class FrameReader:
    """Newline-delimited frames from one descriptor, each at most `limit` bytes."""

    def __init__(self, fd: int, limit: int) -> None:
        self.fd = fd
        self.limit = limit
        self.buffer = bytearray()
        self.scanned = 0  # the buffer holds no newline before this offset
        self.eof = False

    def pop(self) -> bytes | None:
        """The next complete line, or None; raises FrameError once a line passes the limit."""
        end = self.buffer.find(b"\n", self.scanned)
        if end < 0:
            self.scanned = len(self.buffer)
            if self.scanned > self.limit:
                raise FrameError(f"a frame longer than {self.limit:,} bytes")
            return None
        if end > self.limit:
            raise FrameError(f"a frame of {end:,} bytes (the limit is {self.limit:,})")
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 1]
        self.scanned = 0
        return line

    def fill(self) -> bool:
        """Read what is there (blocking if nothing is); False at end of file."""
        data = os.read(self.fd, READ_CHUNK)
        if not data:
            self.eof = True
            return False
        self.buffer += data
        return True

    def read_line(self) -> bytes | None:
        """Block until a whole line is there; None at end of file."""
        while (line := self.pop()) is None:
            if self.eof or not self.fill():
                return None
        return line


def encode(frame: dict) -> bytes:
    text = json.dumps(frame, ensure_ascii=False, separators=(",", ":"))
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate slipped through: never let it break the channel
        data = _SURROGATES.sub("\ufffd", text).encode("utf-8")
    return data + b"\n"


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def clean_text(text: str) -> tuple[str, bool]:
    """`text` with lone surrogates replaced by U+FFFD, and whether any were."""
    if text.isascii() or not _SURROGATES.search(text):
        return text, False
    return _SURROGATES.sub("\ufffd", text), True


def _has_surrogate(text: str) -> bool:
    return not text.isascii() and _SURROGATES.search(text) is not None


# ---------------------------------------------------------------- process helpers


def prctl(option: int, value: int) -> None:
    global _libc
    if _libc is None:
        import ctypes

        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.prctl(option, value, 0, 0, 0) != 0:
        import ctypes

        raise OSError(ctypes.get_errno(), f"prctl({option}, {value}) failed")


def _children_files_work() -> bool:
    return os.path.exists(f"/proc/self/task/{os.getpid()}/children")


def _descendants(root: int) -> set[int]:
    """Every process below `root`: from /proc/PID/task/TID/children where the kernel has it."""
    if _children_files_work():
        found, todo = set(), [root]
        while todo:
            pid = todo.pop()
            try:
                tasks = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue  # the process ended while we looked
            for tid in tasks:
                try:
                    with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                        kids = [int(k) for k in f.read().split()]
                except OSError:
                    continue
                for kid in kids:
                    if kid not in found:
                        found.add(kid)
                        todo.append(kid)
        return found
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    # The command name may hold spaces and parentheses: split after the last ')'.
                    parents[int(entry)] = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    below, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier and pid not in below}
        below |= frontier
    return below


def kill_descendants(root: int) -> None:
    """SIGKILL every process below `root` and reap it, repeating while a fork bomb keeps making
    more. A killed process is gone only once the kernel has run its exit, which on a busy host
    takes longer than a scan: later rounds wait a little first (about 2 s in all at most)."""
    for attempt in range(100):
        below = _descendants(root)
        if not below:
            return
        if attempt:
            time.sleep(min(0.0005 * 2**attempt, 0.02))
        for pid in below:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        reap_children()


def reap_children() -> None:
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


def describe_exit(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGKILL:
            return (
                "the cell's process was killed (SIGKILL; the sandbox's memory limit does this when its "
                "processes together use too much memory)"
            )
        if sig == signal.SIGXCPU:
            return "the cell's process used up its CPU-time limit"
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return f"the cell's process was killed by signal {name}"
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else status
    if code == EXIT_CHANNEL_BROKEN:
        return "the cell's code closed or replaced the REPL's own file descriptors"
    if code == EXIT_CHANNEL_DESYNC:
        return "the cell's code interfered with the REPL's internal channel"
    if code == EXIT_SETUP_FAILED:
        return "the REPL's executor failed (the cell's code may have changed a module it relies on)"
    return f"the cell's process exited (exit code {code})"


# ---------------------------------------------------------------- answers and output


def normalise_answer(value, max_chars: int) -> tuple[dict, set[str]]:
    """Coerce whatever the model left in `answer` to the contract's dict; say what was fixed.

    The fixes are "shape" (not a dict of str content and bool ready), "long" (content cut to
    max_chars) and "encoding" (lone surrogates replaced)."""
    fixed: set[str] = set()
    if value is None:  # rebound to None, or deleted
        value, fixed = {"content": "", "ready": False}, {"shape"}
    elif isinstance(value, dict):
        # dict's own methods: a subclass may have replaced them
        content, ready = dict.get(value, "content", ""), dict.get(value, "ready", False)
        if (
            type(value) is not dict
            or set(dict.keys(value)) != {"content", "ready"}
            or type(content) is not str
            or type(ready) is not bool
        ):
            fixed.add("shape")
        if type(value) is not dict:
            value = {}
    else:
        content, ready = value, False
        value = {}
        fixed.add("shape")
    if type(content) is not str:
        try:
            content = str.__str__(content) if isinstance(content, str) else str(content)
        except Exception:  # noqa: BLE001 - the model's object would not print: keep its type
            content = f"<unprintable {type(content).__name__}>"
        if type(content) is not str:
            content = f"<unprintable {type(content).__name__}>"
    try:
        ready = bool(ready)
    except Exception:  # noqa: BLE001 - a __bool__ that raises is not ready
        ready = False
    if len(content) > max_chars:
        content = content[:max_chars]
        fixed.add("long")
    content, replaced = clean_text(content)
    if replaced:
        fixed.add("encoding")
    if fixed:
        value.clear()
        value.update(content=content, ready=ready)
    return value, fixed


def _split(max_chars: int) -> tuple[int, int]:
    head = (max_chars * 2) // 3
    return head, max_chars - head


def _join(head: str, tail: str, cut: int) -> str:
    return f"{head}\n\n[... output truncated: {cut:,} characters not shown ...]\n\n{tail}"


def read_output(fd: int, max_chars: int) -> tuple[str, int]:
    """The capture file's text, cut to head + tail past max_chars, and the chars cut."""
    size = os.fstat(fd).st_size
    # Bytes, not chars, bound what is read: a 500 MB print never enters memory whole.
    if size <= 4 * max_chars:
        text = os.pread(fd, size, 0).decode("utf-8", errors="replace")
        if len(text) <= max_chars:
            return text, 0
        head_len, tail_len = _split(max_chars)
        cut = len(text) - head_len - tail_len
        return _join(text[:head_len], text[len(text) - tail_len :], cut), cut
    head_len, tail_len = _split(max_chars)
    head = os.pread(fd, 4 * head_len, 0).decode("utf-8", errors="replace")[:head_len]
    tail_bytes = os.pread(fd, 4 * tail_len, size - 4 * tail_len)
    tail = tail_bytes.decode("utf-8", errors="replace")[-tail_len:] if tail_len else ""
    chars, offset = 0, 0
    while offset < size:  # a UTF-8 character is every byte that is not a continuation byte
        data = os.pread(fd, 1 << 20, offset)
        if not data:
            break
        chars += len(data.translate(None, _UTF8_CONTINUATION))
        offset += len(data)
    cut = chars - len(head) - len(tail)
    return _join(head, tail, cut), cut


def load_extra_data(path: str | None):
    if path is None:
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f) if path.endswith(".json") else f.read()


def _point_at_devnull(fd: int) -> None:
    devnull = os.open(os.devnull, os.O_RDWR)
    if devnull != fd:  # when `fd` was closed, the open may have reused it
        os.dup2(devnull, fd)
        os.close(devnull)


def _make_capture_file() -> int:
    """An anonymous file for cell output: nothing on disk the model could delete or replace."""
    import fcntl

    try:
        fd = os.memfd_create("rlm-cell-output", os.MFD_CLOEXEC)
    except (AttributeError, OSError):  # no memfd: an unlinked temporary file does the same
        import tempfile

        fd = os.dup(tempfile.TemporaryFile().fileno())
    # Append mode, so every writer (the cell, its children) lands in order after a truncate.
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_APPEND)
    return fd


# ---------------------------------------------------------------- supervisor


class Child:
    """The live executor as the supervisor sees it."""

    def __init__(self, pid: int, reader: FrameReader, write_fd: int) -> None:
        self.pid = pid
        self.reader = reader
        self.write_fd = write_fd
        self.pidfd: int | None = None
        try:
            self.pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            pass  # older kernel: the supervisor polls instead
        self.status: int | None = None

    def exited(self) -> bool:
        if self.status is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = self.pid, 0
            if pid == self.pid:
                self.status = status
        return self.status is not None

    def wait_exit(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not self.exited():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if self.pidfd is not None:
                select.select([self.pidfd], [], [], left)
            else:
                time.sleep(min(left, 0.01))
        return True

    def close(self) -> None:
        for fd in (self.reader.fd, self.write_fd, self.pidfd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass


class Supervisor:
    """Holds the host protocol, runs no model code, and forks the executor that does."""

    def __init__(self, limits: dict[str, int], uid: int | None, gid: int | None) -> None:
        self.limits = limits
        self.uid, self.gid = uid, gid
        self.pid = os.getpid()
        # The protocol moves to private descriptors; 0 and 1 point at /dev/null so nothing
        # this process prints by mistake can reach the host's channel.
        self.host = FrameReader(os.dup(0), HOST_FRAME_LIMIT)
        self.host_out = os.dup(1)
        _point_at_devnull(0)
        _point_at_devnull(1)
        self.capture_fd = _make_capture_file()
        self.config: dict = {}
        self.data = None
        self.answer = {"content": "", "ready": False}
        self.child: Child | None = None
        self.pending: list[dict] = []  # restarts between cells, reported with the next cell

    # -- host side

    def send_host(self, frame: dict) -> None:
        try:
            write_all(self.host_out, encode(frame))
        except OSError:
            self.shutdown()  # the host is gone

    def read_host_frame(self) -> dict:
        line = self.host.read_line()
        if line is None:
            self.shutdown()
        return json.loads(line)

    def shutdown(self) -> None:
        self.kill_child()
        os._exit(0)

    def fail(self, message: str) -> None:
        """Tell the host the worker cannot go on (an infrastructure failure) and exit."""
        self.send_host({"type": "error", "message": message[-4000:]})
        self.kill_child()
        os._exit(1)

    def serve(self) -> None:
        frame = self.read_host_frame()
        if frame.get("type") != "init":
            self.fail(f"expected an init frame, got {str(frame)[:200]}")
        self.config = frame
        self.answer = frame["answer"]
        try:
            self.data = load_extra_data(frame["data_path"])
        except (OSError, ValueError) as error:
            self.fail(f"could not load the input data from {frame['data_path']}: {error!r}")
        self.child_limit = 6 * (frame["max_batch_chars"] + frame["max_answer_chars"] + MAX_NOTES_CHARS) + (1 << 16)
        self.start_child()
        self.send_host({"type": "ready"})
        while True:
            kind, value = self.next_event(None, watch_host=True, watch_child=True)
            if kind == "host":
                if value.get("type") == "exec":
                    self.send_host(self.run_cell(value["code"]))
                elif value.get("type") != "llm_batch_result":  # a late reply for a dead executor is dropped
                    self.fail(f"unexpected frame from the host: {str(value)[:200]}")
            else:
                # Between cells the executor has nothing to say: whatever it sent is the model's doing.
                reason = (
                    value
                    if kind == "child_gone"
                    else "the code of an earlier cell wrote to the REPL's internal channel"
                )
                self.replace_child()
                self.pending.append({"reason": reason, "timed_out": False, "before_cell": True})

    def next_event(self, deadline: float | None, watch_host: bool, watch_child: bool) -> tuple[str, object]:
        """The next thing that happens: ("host", frame), ("child", line), ("child_gone", reason)
        or ("timeout", None)."""
        child = self.child
        while True:
            if watch_host and (line := self.host.pop()) is not None:
                return "host", json.loads(line)
            if watch_child:
                try:
                    line = child.reader.pop()
                except FrameError as error:
                    return "child_gone", f"the cell's code sent the REPL's internal channel {error}"
                if line is not None:
                    return "child", line
                if child.reader.eof:
                    # The channel closes a moment before the process is reaped: give it that moment.
                    if child.wait_exit(1.0):
                        return "child_gone", describe_exit(child.status)
                    return "child_gone", "the cell's code closed the REPL's internal channel"
            fds = []
            if watch_host:
                fds.append(self.host.fd)
            if watch_child:
                fds.append(child.reader.fd)
                if child.pidfd is not None:
                    fds.append(child.pidfd)
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            if watch_child and child.pidfd is None:
                timeout = 0.2 if timeout is None else min(timeout, 0.2)
            ready, _, _ = select.select(fds, [], [], timeout)
            if watch_host and self.host.fd in ready and not self.host.fill():
                self.shutdown()
            if watch_child:
                if child.reader.fd in ready:
                    try:
                        child.reader.fill()
                    except OSError:
                        child.reader.eof = True
                if (child.pidfd in ready or child.pidfd is None) and child.exited():
                    return "child_gone", describe_exit(child.status)
            if deadline is not None and time.monotonic() >= deadline:
                return "timeout", None

    # -- one cell

    def run_cell(self, code: str) -> dict:
        restarts, self.pending = self.pending, []
        os.ftruncate(self.capture_fd, 0)
        budget = float(self.config["cell_timeout_s"])
        started, batch_seconds = time.monotonic(), 0.0

        def deadline() -> float:
            return started + batch_seconds + budget

        def restart(reason: str, timed_out: bool = False) -> dict:
            output, cut = self.read_output()
            self.replace_child()
            restarts.append({"reason": reason, "timed_out": timed_out, "before_cell": False})
            return self.result_frame(output, cut, [], restarts)

        if not self.send_child({"type": "exec", "code": code}, deadline()):
            return restart("the cell's code left the REPL unable to take the next cell")
        while True:
            kind, value = self.next_event(deadline(), watch_host=False, watch_child=True)
            if kind == "timeout":
                return restart(f"the cell ran past the {budget:g} s timeout", timed_out=True)
            if kind == "child_gone":
                return restart(value)
            frame, problem = self.check_child_frame(value)
            if problem:
                return restart(f"the cell's code sent the REPL a malformed message ({problem})")
            if frame["type"] == "result":
                self.answer = frame["answer"]
                output, cut = self.read_output()
                return self.result_frame(output, cut, frame["notes"], restarts)
            if frame["type"] == "error" and type(frame.get("message")) is str:
                last = (frame["message"].strip().splitlines() or [""])[-1][:300]
                return restart(
                    f"the REPL's executor failed ({clean_text(last)[0]}); the cell's code may have "
                    "changed something it relies on"
                )
            if frame["type"] != "llm_batch":
                return restart(f"the cell's code sent the REPL an out-of-turn {frame['type']!r} message")
            waited, reply, broken = self.relay_batch(frame)
            batch_seconds += waited
            if broken:
                return restart(broken)
            if not self.send_child(reply, deadline()):
                if self.child.exited():
                    return restart(describe_exit(self.child.status))
                return restart(f"the cell ran past the {budget:g} s timeout", timed_out=True)

    def relay_batch(self, frame: dict) -> tuple[float, dict | None, str | None]:
        """Hand a batch to the host and wait for its reply; the cell clock does not run meanwhile.

        Returns the seconds waited, the reply for the executor, and why the executor had to go
        if it misbehaved in the meantime (the host's reply is still awaited, to stay in step)."""
        started = time.monotonic()
        if frame["answer"] is not None:
            self.answer = frame["answer"]
        self.send_host(frame)
        broken, watch_child = None, True
        while True:
            kind, value = self.next_event(None, watch_host=True, watch_child=watch_child)
            if kind == "host":
                if value.get("type") == "llm_batch_result" and value.get("id") == frame["id"]:
                    reply = {"type": "llm_batch_result", "id": frame["id"], "results": value["results"]}
                    return time.monotonic() - started, reply, broken
                self.fail(f"expected the llm_batch_result for batch {frame['id']}, got {str(value)[:200]}")
            # The executor should be waiting for the reply; anything else from it ends it now.
            broken = (
                value if kind == "child_gone" else "the cell's code wrote to the REPL's internal channel during a batch"
            )
            self.kill_child()
            watch_child = False

    def check_child_frame(self, line: bytes) -> tuple[dict, str | None]:
        """Parse and check one frame from the executor (untrusted); return it or the problem."""
        try:
            frame = json.loads(line)
        except ValueError:
            return {}, "not JSON"
        if type(frame) is not dict:
            return {}, "not a JSON object"
        kind = frame.get("type")
        c = self.config
        if kind == "result":
            if set(frame) != {"type", "answer", "notes"}:
                return {}, "a result with the wrong fields"
            notes = frame["notes"]
            if (
                type(notes) is not list
                or any(type(n) is not str for n in notes)
                or sum(len(n) for n in notes) > MAX_NOTES_CHARS
                or any(_has_surrogate(n) for n in notes)
            ):
                return {}, "bad notes"
            problem = self._check_answer(frame["answer"])
            return frame, problem
        if kind == "llm_batch":
            if (
                set(frame) != {"type", "id", "prompts", "answer"}
                or type(frame["id"]) is not int
                or not 0 <= frame["id"] < 2**53
            ):
                return {}, "an llm_batch with the wrong fields"
            prompts = frame["prompts"]
            if type(prompts) is not list or any(type(p) is not str for p in prompts):
                return {}, "llm_batch prompts that are not a list of strings"
            if (
                len(prompts) > c["max_batch_prompts"]
                or any(len(p) > c["max_prompt_chars"] for p in prompts)
                or sum(len(p) for p in prompts) > c["max_batch_chars"]
            ):
                return {}, "an llm_batch over the size limits"
            if any(_has_surrogate(p) for p in prompts):
                return {}, "llm_batch prompts that are not valid text"
            if frame["answer"] is not None and (problem := self._check_answer(frame["answer"])):
                return {}, problem
            return frame, None
        if type(kind) is not str:
            return {}, "a frame without a type"
        return frame, None  # "ready" and "error"; the caller decides whether one is allowed now

    def _check_answer(self, answer) -> str | None:
        if (
            type(answer) is not dict
            or set(answer) != {"content", "ready"}
            or type(answer["content"]) is not str
            or type(answer["ready"]) is not bool
        ):
            return "an answer that is not {'content': str, 'ready': bool}"
        if len(answer["content"]) > self.config["max_answer_chars"] or _has_surrogate(answer["content"]):
            return "an answer over the size limit or not valid text"
        return None

    def read_output(self) -> tuple[str, int]:
        output, cut = read_output(self.capture_fd, int(self.config["max_output_chars"]))
        fsize = self.limits.get("RLIMIT_FSIZE")
        if fsize and os.fstat(self.capture_fd).st_size >= fsize:
            output += f"\n[output stopped at the {fsize // (1 << 20):,} MiB file-size limit; the rest was lost]\n"
        return output, cut

    def result_frame(self, output: str, cut: int, notes: list[str], restarts: list[dict]) -> dict:
        return {
            "type": "result",
            "output": output,
            "truncated_chars": cut,
            "answer": self.answer,
            "notes": notes,
            "restarts": restarts,
        }

    # -- the executor's life

    def start_child(self) -> None:
        """Fork a fresh executor and wait until it is ready; failing that is an infrastructure error."""
        down_r, down_w = os.pipe()
        up_r, up_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            status = EXIT_SETUP_FAILED
            try:
                os.close(down_w)
                os.close(up_r)
                Executor(self, down_r, up_w).main()
            except BaseException:  # noqa: BLE001 - report the set-up failure, then always exit
                try:
                    write_all(up_w, encode({"type": "error", "message": traceback.format_exc()}))
                except OSError:
                    pass
            finally:
                os._exit(status)
        os.close(down_r)
        os.close(up_w)
        os.set_blocking(down_w, False)
        self.child = Child(pid, FrameReader(up_r, self.child_limit), down_w)
        kind, value = self.next_event(time.monotonic() + EXECUTOR_START_TIMEOUT_S, watch_host=False, watch_child=True)
        if kind == "child":
            frame, _ = self.check_child_frame(value)
            if frame.get("type") == "ready":
                return
            if frame.get("type") == "error":
                self.fail(f"the REPL executor failed to start: {frame.get('message')}")
        self.fail(f"the REPL executor failed to start: {value if kind != 'child' else value[:200]!r}")

    def replace_child(self) -> None:
        self.kill_child()
        self.start_child()

    def kill_child(self) -> None:
        child, self.child = self.child, None
        if child is None:
            return
        try:
            os.kill(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        kill_descendants(self.pid)  # orphans of the cell's processes were re-parented to us
        if child.status is None:
            try:
                os.waitpid(child.pid, 0)
            except ChildProcessError:
                pass
        child.close()

    def send_child(self, frame: dict, deadline: float) -> bool:
        """Write a frame to the executor, giving up at the deadline or if it cannot take it."""
        child, data = self.child, memoryview(encode(frame))
        while data:
            try:
                data = data[os.write(child.write_fd, data) :]
                continue
            except BlockingIOError:
                pass
            except OSError:
                return False  # the cell closed its end
            timeout = deadline - time.monotonic()
            if timeout <= 0 or child.exited():
                return False
            select.select([], [child.write_fd], [], min(timeout, 0.2))
        return True


# ---------------------------------------------------------------- executor


class Executor:
    """Runs the cells: the only process here that runs model code."""

    def __init__(self, supervisor: Supervisor, read_fd: int, write_fd: int) -> None:
        self.sup_pid = supervisor.pid
        self.config = supervisor.config
        self.limits = supervisor.limits
        self.capture_fd = supervisor.capture_fd
        self.reader = FrameReader(read_fd, HOST_FRAME_LIMIT)
        self.write_fd = write_fd
        self._isolate(supervisor)
        self.pid = os.getpid()
        self.batch_lock = threading.Lock()
        self.batch_id = 0
        self.in_cell = False
        self.told: set[str] = set()
        self.max_answer_chars = int(self.config["max_answer_chars"])
        data = supervisor.data
        self.originals = {**dict.fromkeys(DATA_NAMES, data), "llm_batch": self.llm_batch}
        self.namespace: dict = {"__name__": "__main__", "__builtins__": __builtins__}
        self.namespace.update(self.originals)
        self.namespace["answer"] = dict(supervisor.answer)
        self.stdio = None
        self.reset_stdio()

    def _isolate(self, supervisor: Supervisor) -> None:
        keep = {self.reader.fd, self.write_fd, self.capture_fd}
        _point_at_devnull(0)
        os.dup2(self.capture_fd, 1)
        os.dup2(self.capture_fd, 2)
        for entry in os.listdir("/proc/self/fd"):  # above all the supervisor's protocol descriptors
            fd = int(entry)
            if fd > 2 and fd not in keep:
                try:
                    os.close(fd)
                except OSError:
                    pass
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the file-size limit a write raises OSError
        try:
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write("1000")  # the memory limit should take the cell's process, not the supervisor
        except OSError:
            pass
        for name, value in self.limits.items():
            resource.setrlimit(getattr(resource, name), (value, value))  # soft = hard: cannot be raised
        if supervisor.gid is not None:
            os.setgroups([])
            os.setgid(supervisor.gid)
        if supervisor.uid is not None:
            os.setuid(supervisor.uid)
        # After the uid change (which resets both): /proc/self stays readable for the model's own
        # code, and the executor dies with the supervisor.
        prctl(PR_SET_DUMPABLE, 1)
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != self.sup_pid:
            os._exit(0)
        prctl(PR_SET_CHILD_SUBREAPER, 1)  # orphans of cell processes come to us, so they can be killed

    def main(self) -> None:
        self.send({"type": "ready"})
        while True:
            frame = self.receive()
            if frame.get("type") != "exec":
                os._exit(EXIT_CHANNEL_DESYNC)
            self.send(self.execute(frame["code"]))

    def send(self, frame: dict) -> None:
        try:
            write_all(self.write_fd, encode(frame))
        except OSError:
            os._exit(EXIT_CHANNEL_BROKEN)

    def receive(self) -> dict:
        try:
            line = self.reader.read_line()
        except (OSError, FrameError):
            os._exit(EXIT_CHANNEL_BROKEN)
        if line is None:
            os._exit(0)  # the supervisor closed the channel
        try:
            frame = json.loads(line)
        except ValueError:
            os._exit(EXIT_CHANNEL_DESYNC)
        if type(frame) is not dict:
            os._exit(EXIT_CHANNEL_DESYNC)
        return frame

    def llm_batch(self, prompts: list) -> list:
        """Ask fresh sub-LLMs; one reply string per prompt, in order, errors as strings."""
        c = self.config
        if isinstance(prompts, (str, bytes)) or not isinstance(prompts, (list, tuple)):
            raise TypeError("llm_batch expects a list of prompt strings, e.g. llm_batch(['q1', 'q2'])")
        if len(prompts) > c["max_batch_prompts"]:
            raise ValueError(
                f"llm_batch takes at most {c['max_batch_prompts']:,} prompts per call (got "
                f"{len(prompts):,}); send them in smaller batches"
            )
        clean, total = [], 0
        for i, prompt in enumerate(prompts):
            if not isinstance(prompt, str):
                raise TypeError(
                    f"llm_batch prompts must be strings, but prompt {i} is a {type(prompt).__name__}; "
                    "convert it first, e.g. with str() or json.dumps()"
                )
            if len(prompt) > c["max_prompt_chars"]:
                raise ValueError(
                    f"llm_batch prompt {i} has {len(prompt):,} characters; one prompt may have at most "
                    f"{c['max_prompt_chars']:,}. Split the text into smaller chunks"
                )
            total += len(prompt)
            clean.append(clean_text(str.__str__(prompt))[0])
        if total > c["max_batch_chars"]:
            raise ValueError(
                f"this llm_batch call has {total:,} characters of prompts; one call may send at most "
                f"{c['max_batch_chars']:,}. Send the prompts in smaller batches"
            )
        if not self.in_cell:
            raise RuntimeError("llm_batch can only be called while a cell is running")
        with self.batch_lock:  # the channel carries one batch at a time
            self.batch_id += 1
            self.send({"type": "llm_batch", "id": self.batch_id, "prompts": clean, "answer": self.answer_snapshot()})
            reply = self.receive()
            if reply.get("type") != "llm_batch_result" or reply.get("id") != self.batch_id:
                os._exit(EXIT_CHANNEL_DESYNC)
            return list(reply["results"])

    def answer_snapshot(self) -> dict | None:
        """The answer as it stands mid-cell, if it is already in shape (so a stop keeps it)."""
        value = self.namespace.get("answer")
        if type(value) is not dict or type(value.get("content")) is not str or type(value.get("ready")) is not bool:
            return None
        content = clean_text(value["content"][: self.max_answer_chars])[0]
        return {"content": content, "ready": value["ready"]}

    def reset_stdio(self) -> None:
        """Give fds 0, 1, 2 and sys.stdin/stdout/stderr back, whatever the last cell did to them."""
        try:
            _point_at_devnull(0)
            os.dup2(self.capture_fd, 1)
            os.dup2(self.capture_fd, 2)
        except OSError:
            os._exit(EXIT_CHANNEL_BROKEN)
        if self.stdio is None or any(stream.closed for stream in self.stdio):
            self.stdio = (
                io.TextIOWrapper(io.FileIO(0, "rb", closefd=False), encoding="utf-8"),
                io.TextIOWrapper(
                    io.FileIO(1, "wb", closefd=False), encoding="utf-8", errors="backslashreplace", write_through=True
                ),
                io.TextIOWrapper(
                    io.FileIO(2, "wb", closefd=False), encoding="utf-8", errors="backslashreplace", write_through=True
                ),
            )
        sys.stdin, sys.stdout, sys.stderr = self.stdio
        sys.__stdin__, sys.__stdout__, sys.__stderr__ = self.stdio

    def execute(self, code: str) -> dict:
        self.reset_stdio()
        self.in_cell = True
        run_cell(code, self.namespace, self.pid, self.capture_fd)
        with self.batch_lock:  # a batch from one of the cell's threads finishes first
            self.in_cell = False
        kill_descendants(self.pid)
        notes = self.restore_protected()
        return {"type": "result", "answer": self.namespace["answer"], "notes": notes}

    def restore_protected(self) -> list[str]:
        notes = []
        for name, original in self.originals.items():
            if self.namespace.get(name) is not original:
                self.namespace[name] = original
                notes.append(
                    self._tell(
                        name,
                        f"`{name}` is provided by the environment and was restored; "
                        "store your own values under another name.",
                    )
                )
        try:
            answer, fixed = normalise_answer(self.namespace.get("answer"), self.max_answer_chars)
        except Exception:  # noqa: BLE001 - a dict whose methods the model replaced: start a clean one
            answer, fixed = {"content": "", "ready": False}, {"shape"}
        if type(answer) is not dict:
            answer = dict(answer)
        self.namespace["answer"] = answer
        if "shape" in fixed:
            notes.append(
                self._tell(
                    "answer",
                    '`answer` must be a dict like {"content": "...", "ready": True}; '
                    "it was rebuilt, keeping your content.",
                )
            )
        if "long" in fixed:
            notes.append(
                f"`answer['content']` was cut to its first {self.max_answer_chars:,} characters, "
                "the most an answer may hold."
            )
        if "encoding" in fixed:
            notes.append(
                "`answer['content']` held characters UTF-8 cannot encode (lone surrogates); they were "
                "replaced with U+FFFD."
            )
        return [note for note in notes if note]

    def _tell(self, name: str, message: str) -> str:
        if name in self.told:
            return ""
        self.told.add(name)
        return message


_cell_count = 0


def run_cell(code: str, namespace: dict, executor_pid: int, error_fd: int) -> None:
    """Execute one cell; print a trailing expression's repr; report errors like Python does."""
    global _cell_count
    _cell_count += 1
    filename = f"<cell {_cell_count}>"
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    try:
        tree = ast.parse(code, filename=filename)
        last = tree.body[-1] if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        if last is not None:
            tree.body.pop()
        exec(compile(tree, filename, "exec"), namespace)
        if last is not None:
            value = eval(compile(ast.Expression(last.value), filename, "eval"), namespace)
            if value is not None:
                print(repr(value))
    except SyntaxError as error:
        _report("".join(traceback.format_exception_only(type(error), error)), error_fd)
    except BaseException as error:  # noqa: BLE001 - the model's own error, shown to the model
        if isinstance(error, SystemExit):
            _report(
                f"SystemExit({error.code}) ignored: the REPL keeps running; set answer['ready'] = True to finish.\n",
                error_fd,
            )
        else:
            tb = error.__traceback__.tb_next if error.__traceback__ else None  # drop run_cell's frame
            try:
                text = "".join(traceback.format_exception(type(error), error, tb))
            except BaseException:  # noqa: BLE001 - an exception whose __str__ raises
                text = f"{type(error).__name__} (its message could not be printed)\n"
            _report(text, error_fd)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:  # noqa: BLE001 - the cell closed or replaced it; reset next cell
                pass
        if os.getpid() != executor_pid:
            # A child forked by the cell must not return into the executor loop and read the channel.
            os._exit(0)


def _report(text: str, fd: int) -> None:
    """Write an error for the model straight to the capture file, whatever sys.stderr now is."""
    try:
        sys.stdout.flush()
    except BaseException:  # noqa: BLE001 - the cell closed or replaced it
        pass
    try:
        write_all(fd, text.encode("utf-8", errors="backslashreplace"))
    except OSError:
        pass


# ---------------------------------------------------------------- entry point


def parse_args(argv: list[str]) -> dict[str, str]:
    """`--name value` pairs (argparse costs start-up time every REPL pays)."""
    options = {"--limits": "{}", "--uid": None, "--gid": None, "--chdir": None}
    if len(argv) % 2 or any(flag not in options for flag in argv[::2]):
        sys.exit(f"usage: worker.py [--limits JSON] [--uid N] [--gid N] [--chdir DIR], got {argv}")
    options.update(zip(argv[::2], argv[1::2]))
    return options


def main() -> None:
    options = parse_args(sys.argv[1:])
    if options["--chdir"]:
        os.chdir(options["--chdir"])
    # Not dumpable: processes of the same user (the cell's, without a uid of their own) can
    # neither ptrace this process nor open its protocol descriptors through /proc.
    prctl(PR_SET_DUMPABLE, 0)
    prctl(PR_SET_CHILD_SUBREAPER, 1)  # processes orphaned by a killed executor come to us
    uid = int(options["--uid"]) if options["--uid"] is not None else None
    gid = int(options["--gid"]) if options["--gid"] is not None else None
    Supervisor(json.loads(options["--limits"]), uid, gid).serve()


if __name__ == "__main__":
    main()
