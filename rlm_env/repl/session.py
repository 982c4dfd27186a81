"""Host side of the REPL: drives one worker over JSON lines and relays llm_batch.

The session talks to the worker through a `WorkerHost`, so the same code drives a worker in a
local sandbox (rlm_env.repl.sandbox.LocalSandbox) or one started by a verifiers runtime.

Every frame from the worker is checked here before use: its size (a bounded read, so a
runaway line cannot make the host buffer gigabytes), then its schema and types, then the
limits of ReplConfig. The worker's supervisor enforces the cell timeout and replaces a
broken executor itself (clauses 6 and 8 of the REPL contract in rlm_env/repl/worker.py);
this side keeps a backstop that restarts the whole worker when the supervisor stops
answering or exits. What the model's code caused comes back as a CellResult the model sees,
with the reason on `restart_reason`; a worker that will not start, or a frame from the
supervisor (which runs no model code) that fails the checks, raises ReplInfraError.
"""

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, AsyncIterator, Awaitable, Callable, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from rlm_env.repl.inputs import INPUT_FILES
from rlm_env.repl.worker import PROTECTED_NAMES, clean_text, encode

logger = logging.getLogger(__name__)

LlmBatchHandler = Callable[[list[str]], Awaitable[list[str]]]

SUPERVISOR_GRACE_S = 30.0
"""Seconds past the cell timeout the supervisor has to answer before the host gives up on it."""
EXIT_WAIT_S = 5.0
_RESTORED = ", ".join(f"`{name}`" for name in PROTECTED_NAMES if name != "answer")
STATE_LOST = (
    "[The REPL was restarted: {reason}. All variables were lost; "
    + _RESTORED
    + " and `answer` (with its current content) were restored. Re-run what you need.]"
)


class ReplConfig(BaseModel):
    """Limits of the REPL as the model sees it."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    max_output_chars: int = Field(default=8192, ge=256)
    """Characters of cell output shown to the model; longer output keeps head and tail."""
    cell_timeout_s: float = Field(default=120.0, gt=0)
    """Seconds one cell may run, not counting time spent waiting for `llm_batch`, before it is
    killed and the REPL restarted."""
    max_answer_chars: int = Field(default=100_000, ge=1)
    """Characters `answer["content"]` may hold; longer content is cut and the model told."""
    max_batch_prompts: int = Field(default=1000, ge=1)
    """Prompts one `llm_batch` call may send."""
    max_prompt_chars: int = Field(default=500_000, ge=1)
    """Characters one `llm_batch` prompt may have."""
    max_batch_chars: int = Field(default=5_000_000, ge=1)
    """Characters of prompts one `llm_batch` call may send in all (bounds what the host buffers)."""
    start_timeout_s: float = Field(default=60.0, gt=0)
    """Seconds the worker may take to start (and load the input data) before it is an error."""

    @property
    def max_frame_bytes(self) -> int:
        """The largest frame the worker may send: a full batch or answer, JSON-escaped."""
        return 6 * (self.max_batch_chars + self.max_answer_chars + self.max_output_chars + 16_384) + (1 << 20)


class WorkerProcess(Protocol):
    """A live process with stdio (verifiers' RuntimeProcess has this shape)."""

    stdout: AsyncIterator[bytes]

    async def write(self, data: bytes) -> None: ...
    async def kill(self) -> None: ...
    async def wait(self) -> int: ...


class WorkerHost(Protocol):
    """Where the worker runs: gives it files to read, starts and stops it."""

    async def add_file(self, name: str, source: Path) -> str:
        """Make the read-only host file `source` readable by the worker as `name`; returns the
        worker's path to it. Reads or links `source` before its first await (see InputFiles)."""
        ...

    async def start_worker(self) -> WorkerProcess: ...
    async def stop_worker(self) -> None: ...
    async def close(self) -> None: ...


class ReplInfraError(RuntimeError):
    """The REPL machinery failed (worker would not start, malformed frame from the supervisor):
    not the model's fault."""


@dataclass
class CellResult:
    output: str
    """What the model sees: cell output plus any notes from the environment."""
    answer: dict
    seconds: float
    timed_out: bool = False
    restarted: bool = False
    truncated_chars: int = 0
    restart_reason: str | None = None
    """Why the REPL restarted during or just before this cell (reasons joined by "; ")."""


@dataclass
class ReplStats:
    calls: int = 0
    seconds: float = 0.0
    timeouts: int = 0
    restarts: int = 0
    llm_batches: int = 0
    batch_sizes: list[int] = field(default_factory=list)
    llm_batch_seconds: float = 0.0
    """Seconds cells spent waiting for llm_batch (not counted against the cell timeout)."""
    restart_reasons: list[str] = field(default_factory=list)


# Frames from the worker, checked strictly: a missing field, an extra one or a wrong type fails.
class _Frame(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class _Answer(_Frame):
    content: str
    ready: bool


class _Restart(_Frame):
    reason: str
    timed_out: bool
    before_cell: bool


class _Ready(_Frame):
    type: Literal["ready"]


class _Error(_Frame):
    type: Literal["error"]
    message: str


class _Batch(_Frame):
    type: Literal["llm_batch"]
    id: int
    prompts: list[str]
    answer: _Answer | None


class _Result(_Frame):
    type: Literal["result"]
    output: str
    truncated_chars: int = Field(ge=0)
    answer: _Answer
    notes: list[str]
    restarts: list[_Restart]


_FRAME = TypeAdapter(Annotated[_Ready | _Error | _Batch | _Result, Field(discriminator="type")])


class WorkerDied(Exception):
    """The whole worker process ended or stopped answering (the executor dying is handled inside)."""

    def __init__(self, reason: str, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.timed_out = timed_out


class ReplSession:
    """One persistent REPL for one rollout."""

    def __init__(
        self, host: WorkerHost, config: ReplConfig | None = None, llm_batch: LlmBatchHandler | None = None
    ) -> None:
        self.host = host
        self.config = config or ReplConfig()
        self.llm_batch = llm_batch
        self.stats = ReplStats()
        self.answer: dict = {"content": "", "ready": False}
        """The model's answer as last reported: after each cell, and when a cell sends a batch."""
        self._data_path: str | None = None
        self._process: WorkerProcess | None = None
        self._frames: _FrameStream | None = None
        self._interrupted = False  # a cell was cut off mid-way (wall time): the worker is out of step
        self._starting: asyncio.Task | None = None

    async def start(self, extra_data: Any = None) -> None:
        """Write the input data into the sandbox once and start the worker; on failure the host
        is closed (nothing left behind) and ReplInfraError raised."""
        try:
            if extra_data is not None:
                try:
                    source = INPUT_FILES.file_for(extra_data)
                    self._data_path = await self.host.add_file("extra_data" + source.suffix, source)
                except OSError as error:
                    raise ReplInfraError(f"the REPL's input data could not be written: {error}") from error
            await self._start_worker()
        except BaseException:
            self._process = None
            await self.host.close()
            raise

    def start_soon(self, extra_data: Any = None) -> None:
        """`start` in the background. A rollout's first model call need not wait for the worker
        (the reply takes longer than the start): `started` and the first `execute` wait for it
        and raise its ReplInfraError; `close` stops a start still under way."""
        self._starting = asyncio.create_task(self.start(extra_data))

    async def started(self) -> None:
        """Wait for a start begun with `start_soon`; ReplInfraError if it failed."""
        if self._starting is not None:
            starting, self._starting = self._starting, None
            await starting

    async def execute(self, code: str) -> CellResult:
        await self.started()
        if self._process is None:
            raise ReplInfraError("execute() called before start()")
        self.stats.calls += 1
        started = time.perf_counter()
        lost = None
        if self._interrupted:
            # The last cell was cancelled (the rollout's wall time, say) while the worker ran it.
            lost = await self._restart(started, "the previous cell was interrupted before it finished")
        self._interrupted = True
        try:
            await self._send({"type": "exec", "code": code})
            frame = await self._serve_cell()
        except WorkerDied as died:
            return await self._restart(started, str(died), died.timed_out)
        self._interrupted = False
        result = self._cell_result(frame, time.perf_counter() - started)
        if lost is not None:
            result.output = f"{lost.output}\n{result.output}"
            result.restarted = True
            result.restart_reason = "; ".join(filter(None, [lost.restart_reason, result.restart_reason]))
        return result

    async def close(self) -> None:
        if self._starting is not None:
            starting, self._starting = self._starting, None
            starting.cancel()
            try:
                await starting
            except asyncio.CancelledError:
                if asyncio.current_task().cancelling():
                    raise  # close() itself was cancelled, not just the start
            except ReplInfraError as error:  # no cell needed the REPL; say why it was not there
                logger.warning("the REPL never started: %s", error)
        self._process = None
        await self.host.close()

    def _cell_result(self, frame: _Result, seconds: float) -> CellResult:
        self.stats.seconds += seconds
        self.answer = frame.answer.model_dump()
        output = frame.output
        if frame.notes:
            output += ("\n" if output and not output.endswith("\n") else "") + "\n".join(
                f"[note: {note}]" for note in frame.notes
            )
        for restart in frame.restarts:
            note = STATE_LOST.format(reason=restart.reason)
            if restart.before_cell:
                output = f"{note}\n{output}"
            else:
                output += ("\n" if output and not output.endswith("\n") else "") + note
        timed_out = any(r.timed_out for r in frame.restarts)
        reasons = [r.reason for r in frame.restarts]
        self.stats.timeouts += timed_out
        self.stats.restarts += len(reasons)
        self.stats.restart_reasons += reasons
        return CellResult(
            output=output,
            answer=self.answer,
            seconds=seconds,
            timed_out=timed_out,
            restarted=bool(reasons),
            truncated_chars=frame.truncated_chars,
            restart_reason="; ".join(reasons) or None,
        )

    async def _restart(self, started: float, reason: str, timed_out: bool = False) -> CellResult:
        """Start the whole worker again (ReplInfraError if it will not) and tell the model why."""
        reason = f"{reason}; the whole sandbox was restarted, so files written in it may be gone too"
        seconds = time.perf_counter() - started
        self.stats.seconds += seconds
        self.stats.timeouts += int(timed_out)
        self.stats.restarts += 1
        self.stats.restart_reasons.append(reason)
        await self.host.stop_worker()
        self._process = None
        await self._start_worker()
        self._interrupted = False
        return CellResult(
            output=STATE_LOST.format(reason=reason),
            answer=self.answer,
            seconds=seconds,
            timed_out=timed_out,
            restarted=True,
            restart_reason=reason,
        )

    async def _start_worker(self) -> None:
        c = self.config
        try:
            self._process = await self.host.start_worker()
        except OSError as error:
            raise ReplInfraError(f"REPL worker could not be started: {error}") from error
        self._frames = _FrameStream(self._process.stdout, c.max_frame_bytes)
        init = {
            "type": "init",
            "data_path": self._data_path,
            "answer": self.answer,
            "cell_timeout_s": c.cell_timeout_s,
            "max_output_chars": c.max_output_chars,
            "max_answer_chars": c.max_answer_chars,
            "max_batch_prompts": c.max_batch_prompts,
            "max_prompt_chars": c.max_prompt_chars,
            "max_batch_chars": c.max_batch_chars,
        }
        try:
            await self._send(init)
            frame = await asyncio.wait_for(self._next_frame(), c.start_timeout_s)
        except (TimeoutError, WorkerDied) as error:
            why = f"no reply within {c.start_timeout_s:g} s" if isinstance(error, TimeoutError) else str(error)
            stderr = await _drain(self._process)
            await self.host.stop_worker()
            raise ReplInfraError(f"REPL worker failed to start ({why}): {stderr[-2000:]}") from error
        if not isinstance(frame, _Ready):
            await self.host.stop_worker()
            if isinstance(frame, _Error):
                raise ReplInfraError(f"REPL worker failed to start: {frame.message}")
            raise ReplInfraError(f"REPL worker sent a {frame.type!r} frame instead of ready")

    async def _serve_cell(self) -> _Result:
        """Relay batches until the cell's result; the backstop clock stops while a batch is served."""
        budget = self.config.cell_timeout_s + SUPERVISOR_GRACE_S
        waited = 0.0
        while True:
            before = time.monotonic()
            try:
                frame = await asyncio.wait_for(self._next_frame(), budget - waited)
            except TimeoutError:
                raise WorkerDied(f"the REPL stopped responding for {budget:g} s", timed_out=True) from None
            waited += time.monotonic() - before
            if isinstance(frame, _Result):
                return frame
            if isinstance(frame, _Batch):
                self._check_batch(frame)
                if frame.answer is not None:
                    self.answer = frame.answer.model_dump()
                results = await self._run_llm_batch(frame.prompts)
                await self._send({"type": "llm_batch_result", "id": frame.id, "results": results})
            elif isinstance(frame, _Error):
                raise ReplInfraError(f"REPL worker failed: {frame.message}")
            else:
                raise ReplInfraError("REPL worker sent 'ready' in the middle of a cell")

    def _check_batch(self, frame: _Batch) -> None:
        c = self.config
        if (
            len(frame.prompts) > c.max_batch_prompts
            or sum(map(len, frame.prompts)) > c.max_batch_chars
            or any(len(p) > c.max_prompt_chars for p in frame.prompts)
        ):
            raise ReplInfraError("REPL worker sent an llm_batch over the configured limits")

    async def _run_llm_batch(self, prompts: list[str]) -> list[str]:
        self.stats.llm_batches += 1
        self.stats.batch_sizes.append(len(prompts))
        if self.llm_batch is None:
            return ["Error: llm_batch is not available in this environment."] * len(prompts)
        started = time.perf_counter()
        try:
            results = await self.llm_batch(prompts)
        finally:
            self.stats.llm_batch_seconds += time.perf_counter() - started
        if not isinstance(results, list) or len(results) != len(prompts):
            raise ReplInfraError(f"llm_batch handler returned {len(results)} results for {len(prompts)} prompts")
        return [clean_text(r if isinstance(r, str) else str(r))[0] for r in results]

    async def _next_frame(self) -> _Ready | _Error | _Batch | _Result:
        assert self._frames is not None
        try:
            line = await self._frames.next()
        except _FrameTooLarge as error:
            raise ReplInfraError(f"REPL worker sent {error}") from error
        if line is None:
            raise WorkerDied(f"the REPL process exited ({await self._exit_status()})")
        try:
            frame = _FRAME.validate_json(line)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:3])
            raise ReplInfraError(f"malformed frame from the REPL worker ({problems}): {line[:200]!r}") from None
        if isinstance(frame, _Result):
            c = self.config
            if len(frame.output) > c.max_output_chars + 1000 or len(frame.answer.content) > c.max_answer_chars:
                raise ReplInfraError("REPL worker sent a result over the configured limits")
        return frame

    async def _exit_status(self) -> str:
        assert self._process is not None
        try:
            return f"exit code {await asyncio.wait_for(self._process.wait(), EXIT_WAIT_S)}"
        except TimeoutError:  # its stdout closed but it lingers: do not wait on it
            await self._process.kill()
            return "stdout closed, process killed"

    async def _send(self, frame: dict) -> None:
        assert self._process is not None
        try:
            await self._process.write(encode(frame))
        except (BrokenPipeError, ConnectionResetError) as error:
            raise WorkerDied(f"the REPL process closed its input ({error})") from error


class _FrameTooLarge(Exception):
    pass


class _FrameStream:
    """Newline-delimited frames from a chunk stream, each at most `limit` bytes."""

    def __init__(self, chunks: AsyncIterator[bytes], limit: int) -> None:
        self._chunks = chunks
        self.limit = limit
        self._buffer = bytearray()
        self._scanned = 0  # no newline before this offset: each byte is searched once

    async def next(self) -> bytes | None:
        while True:
            end = self._buffer.find(b"\n", self._scanned)
            if end >= 0:
                if end > self.limit:
                    raise _FrameTooLarge(f"a frame of {end:,} bytes (the limit is {self.limit:,})")
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                self._scanned = 0
                return line
            self._scanned = len(self._buffer)
            if self._scanned > self.limit:
                raise _FrameTooLarge(f"a frame longer than {self.limit:,} bytes")
            chunk = await anext(self._chunks, None)
            if chunk is None:
                return None  # a partial last line means the worker died mid-frame
            self._buffer += chunk


async def _drain(process: WorkerProcess) -> str:
    stderr = getattr(process, "stderr", None)
    if stderr is None:
        return ""
    parts = []
    try:
        async with asyncio.timeout(2):
            async for chunk in stderr:
                parts.append(chunk)
    except TimeoutError:
        pass
    return b"".join(parts).decode("utf-8", errors="replace")
