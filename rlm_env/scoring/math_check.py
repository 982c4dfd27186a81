"""Math equivalence: `verify_math` and the pool of math_verify worker processes behind it.

`verify_math` runs `math_verify` in a separate worker process with a hard time limit, because
sympy can hang on a pathological answer (`9^{9^{9^{9}}}` never finishes, a 1 MB sum takes
minutes) inside C code that no signal interrupts. The scoring process only waits, then kills
the worker. Warm workers (math_verify imported) are kept in a small pool and reused; a killed
one is replaced on demand. The outcomes that are not a plain yes/no:

- the time limit passes while the answer is checked -> `VerifyResult(correct=False,
  timed_out=True)`: a 0 the model earned (a huge or degenerate answer), kept visible as a metric
  (a comparison that hangs because of the gold lands here too: watch that metric per task);
- the verifier itself fails (its worker dies or does not start, or the GOLD cannot be parsed,
  or parsing the gold alone takes the whole time limit) -> `VerifierError`, so the rollout
  records a typed error instead of a silent 0.
"""

import atexit
import json
import os
import re
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from rlm_env.core.errors import ScoringError

VERIFY_TIMEOUT_S = 10.0  # a typical check takes milliseconds; the slack is for loaded machines
# Some INTELLECT-3-RL golds are stored with doubled backslashes ("50\\mathrm{C}", "3.49\\,"): a
# doubled backslash before a letter or a spacing/percent sign is one command, never a LaTeX row
# break (those are followed by a space, digit or sign), so it is collapsed in gold and answer alike.
_DOUBLED_COMMAND = re.compile(r"\\\\(?=[A-Za-z,;:!%])")


@dataclass(frozen=True)
class VerifyResult:
    correct: bool
    """The answer is mathematically equivalent to the gold."""
    timed_out: bool
    """The check passed the time limit and its worker was killed (counts as not equivalent)."""
    seconds: float
    """Wall time from handing the answer to the worker to its verdict (or to the kill)."""


class VerifierError(ScoringError):
    """The math verifier itself failed: a scoring error on the rollout (verifiers' TaskError), never a zero."""


def verify_math(answer: str, gold: str, timeout_s: float = VERIFY_TIMEOUT_S) -> VerifyResult:
    r"""Whether `answer` equals `gold` under math_verify, checked in a worker process that is
    killed after `timeout_s` seconds. Both are plain answers (`\frac{1}{2}`, `0.5`, `[1, 2)`),
    without the `\boxed{}`. Blocks: call it through asyncio.to_thread in async code.

    >>> verify_math(r"\frac{1}{2}", "0.5").correct
    True
    """
    worker = _checkout()
    healthy = False
    try:
        start = time.monotonic()
        worker.send({"answer": _as_boxed(answer), "gold": _as_boxed(gold)})
        reply = worker.receive(timeout_s)
        if reply is None:
            raise VerifierError(f"parsing the gold answer {gold[:200]!r} alone took over {timeout_s:g} s")
        if reply == ["gold_unparsable"]:
            healthy = True
            raise VerifierError(f"math_verify finds no answer in the gold {gold[:200]!r}: fix the dataset row")
        reply = worker.receive(timeout_s - (time.monotonic() - start))
        if reply is None:
            return VerifyResult(correct=False, timed_out=True, seconds=time.monotonic() - start)
        healthy = True
        return VerifyResult(correct=reply == ["correct", True], timed_out=False, seconds=time.monotonic() - start)
    finally:
        if healthy:
            _checkin(worker)
        else:  # it may still be computing, or be dead: never reuse it
            worker.kill()


def _as_boxed(text: str) -> str:
    # math_verify then extracts the answer the same way from gold and answer
    return "\\boxed{" + _DOUBLED_COMMAND.sub(r"\\", text.strip()) + "}"


# The worker imports only math_verify (not rlm-env), so it starts in well under a second.
# It answers each request with ["gold_parsed"] (or ["gold_unparsable"]), then ["correct", bool];
# the first line tells a slow gold from a slow answer.
_WORKER_SOURCE = r"""
import json, logging, os, sys
protocol = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)  # stray prints from sympy or math_verify must not corrupt the protocol
logging.getLogger("math_verify").setLevel(logging.ERROR)  # its timeouts are off on purpose
from math_verify import parse, verify
parse("\\boxed{1}", parsing_timeout=None)  # builds the LaTeX parser before the first timed check
def send(*message):
    protocol.write(json.dumps(message) + "\n")
    protocol.flush()
send("ready")
for line in sys.stdin:
    request = json.loads(line)
    gold = parse(request["gold"], parsing_timeout=None)
    if not gold:
        send("gold_unparsable")
        continue
    send("gold_parsed")
    answer = parse(request["answer"], parsing_timeout=None)
    send("correct", bool(answer) and verify(gold, answer, timeout_seconds=None))
"""
_WORKER_START_TIMEOUT_S = 120.0  # generous: a loaded machine may take a while to import sympy
_MAX_IDLE_WORKERS = 8


class _Worker:
    """One math_verify process and a line reader on its stdout that honours a deadline."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _WORKER_SOURCE], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self.buffer = b""
        if self.receive(_WORKER_START_TIMEOUT_S) != ["ready"]:
            self.kill()
            raise VerifierError(f"the math_verify worker did not start within {_WORKER_START_TIMEOUT_S:g} s")

    def send(self, request: dict) -> None:
        try:
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            raise VerifierError(f"the math_verify worker died (exit code {self.process.poll()})") from None

    def receive(self, timeout_s: float) -> list | None:
        """The next message, or None once `timeout_s` has passed (raw reads: a buffered
        readline could hide a second message from select)."""
        deadline = time.monotonic() + timeout_s
        fd = self.process.stdout.fileno()
        while b"\n" not in self.buffer:
            if not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                raise VerifierError(
                    f"the math_verify worker died (exit code {self.process.wait()}; "
                    "its traceback, if any, is on stderr)"
                )
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return json.loads(line)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        self.process.stdin.close()
        self.process.stdout.close()


_idle_workers: list[_Worker] = []
_idle_lock = threading.Lock()


def _checkout() -> _Worker:
    with _idle_lock:
        while _idle_workers:
            worker = _idle_workers.pop()
            if worker.process.poll() is None:
                return worker
            worker.kill()  # died while idle (e.g. the OOM killer): replace it, it owes no verdict
    return _Worker()


def _checkin(worker: _Worker) -> None:
    with _idle_lock:
        if len(_idle_workers) < _MAX_IDLE_WORKERS:
            _idle_workers.append(worker)
            return
    worker.kill()


@atexit.register
def _stop_idle_workers() -> None:
    with _idle_lock:
        while _idle_workers:
            _idle_workers.pop().kill()
