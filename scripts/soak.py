"""Soak: many rollouts at once through verifiers' own run path, against a provider that keeps failing.

    uv run --no-sync python scripts/soak.py --rollouts 1000 --concurrency 64                 # the fault mix
    uv run --no-sync python scripts/soak.py --rollouts 1000 --concurrency 64 --error-rate 0  # fault-free

What runs: the `sum-numbers-rlm` taskset (tests/sum_numbers_rlm) in RLM mode, loaded and run the
way `rlm-env eval` runs it (rlm_env.run.evaluate.env_config -> vf.load_environment -> env.serving ->
env.run_slot per rollout), so every rollout goes through the real harness, the verifiers
interception server, the subprocess runtime and the REPL sandbox (bubblewrap when installed).
The model is a script on tests/fake_openai.py, served from a child process: the root model
splits the numbers in two, asks two sub-LLMs (`llm_batch`) for the halves' sums, asks again for
a half whose slot came back as an error, and answers with the total. The server injects the
fault mix (tests/fake_openai.py `Faults`: 429 with Retry-After, 500, 503, connection reset, read
timeout, cut-off body, non-JSON body, empty `choices`, slow replies) into root and sub-LLM
requests alike.

First a fault-free pass over each distinct task gives the reference reward; then the run. Every
rollout must be accounted for: scored with the reference reward, or recorded with a typed error
(rlm_env.core.errors). Printed: rollouts started / scored / mis-scored (reward differs from the
fault-free run) / recorded with a typed error / with an untyped one / lost (neither), the
injected faults, rollouts per second, and after the run the leftover processes (descendants of
this process), the file descriptors it opened during the run and did not close (compared
before and after verifiers' serving block), the temp directories of the run left
behind (REPL work dirs, runtime dirs) and the peak RSS (of this process, and of it together with
its REPL workers). The scripted server runs in a child process so as not to count as the host.
Exit status 1 if anything is lost, mis-scored, untyped or leaked.

The REPL work dirs go to a private temp dir, so other programs' sandboxes on a shared machine
are not counted.
"""

import argparse
import asyncio
import collections
import json
import logging
import math
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the scripted server and the taskset are test doubles

from fake_openai import FAULT_KINDS, FakeOpenAI, Faults, code, text  # noqa: E402 - after the sys.path line

ENV_ID = "sum-numbers-rlm"
API_KEY_VAR = "RLM_ENV_SOAK_API_KEY"
TYPED_ERRORS = ("ProviderError", "SandboxError", "ToolsetError", "TaskError")
"""What rlm_env.core.errors records for an infrastructure failure; anything else is a bug."""
SUB_PROMPT = "Add up these numbers: "
SPLIT_CELL = f"""\
half = len(extra_data) // 2
prompts = [f"{SUB_PROMPT}{{extra_data[:half]}}", f"{SUB_PROMPT}{{extra_data[half:]}}"]
sums = llm_batch(prompts)
for _ in range(3):  # ask again for a half whose sub-LLM call failed
    failed = [i for i, s in enumerate(sums) if s.startswith("Error")]
    if not failed:
        break
    for i, s in zip(failed, llm_batch([prompts[i] for i in failed])):
        sums[i] = s
print("HALVES", sums)
"""
ANSWER_CELL = 'answer["content"] = str(sum(int(s) for s in sums))\nanswer["ready"] = True'


# --------------------------------------------------------------------------- the scripted model


def root_model(request: dict) -> dict:
    """Split and ask the sub-LLMs; once their sums are printed, answer (a pure function of the request)."""
    outputs = [m.get("content") or "" for m in request["messages"] if m["role"] == "tool"]
    return code(ANSWER_CELL) if outputs and "HALVES" in outputs[-1] else code(SPLIT_CELL)


def sub_model(request: dict) -> dict:
    numbers = json.loads(request["messages"][-1]["content"].removeprefix(SUB_PROMPT))
    return text(f"The sum is \\boxed{{{sum(numbers)}}}.")


def _serve(conn) -> None:
    """The child process: the scripted server, driven over a pipe (faults on/off, stats, stop)."""
    server = FakeOpenAI(root=root_model, sub=sub_model, keep_requests=False)
    with server:
        conn.send(server.base_url)
        while True:
            command, argument = conn.recv()
            if command == "faults":
                server.faults = Faults(**argument) if argument else None
                server.injected.clear()
                server.requests_served = 0
                conn.send(None)
            elif command == "stats":
                conn.send(
                    {
                        "injected": dict(server.injected),
                        "requests": server.requests_served,
                        "failures": [repr(failure) for failure in server.failures],
                    }
                )
            else:
                conn.send(None)
                return


class ServerProcess:
    def __enter__(self) -> Self:
        context = multiprocessing.get_context("fork")  # before any event loop or sandbox exists
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child,), daemon=True)
        self.process.start()
        self.base_url = self.conn.recv()
        return self

    def call(self, command: str, argument=None):
        self.conn.send((command, argument))
        return self.conn.recv()

    def __exit__(self, *exc) -> None:
        self.call("stop")
        self.process.join(10)


# --------------------------------------------------------------------------- host measurements


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = collections.defaultdict(list)
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
            except OSError:
                continue  # it ended while we looked
            children[int(stat.rsplit(")", 1)[1].split()[1])].append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def open_fds() -> dict[int, str]:
    """This process's open file descriptors and what each points at (sockets by their addresses)."""
    sockets = socket_names()
    fds = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue  # the listing's own descriptor, closed by now
        inode = target.removeprefix("socket:[").removesuffix("]")
        fds[int(name)] = f"{target} {sockets[inode]}" if inode in sockets else target
    return fds


TCP_STATES = {"01": "ESTABLISHED", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "0A": "LISTEN"}


def socket_names() -> dict[str, str]:
    """Socket inode -> "tcp local -> remote STATE" for this process's TCP sockets."""
    names = {}
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/self/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            ports = [int(address.rsplit(":", 1)[1], 16) for address in (local, remote)]
            names[inode] = f"tcp :{ports[0]} -> :{ports[1]} {TCP_STATES.get(state, state)}"
    return names


def rss_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


class RssSampler:
    """The peak of this process's RSS plus its descendants' (REPL workers, runtimes), sampled each second."""

    def __init__(self, exclude: set[int]) -> None:
        self.exclude = exclude
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        me = os.getpid()
        while not self._stop.wait(1.0):
            total = rss_bytes(me) + sum(rss_bytes(pid) for pid in descendants(me) - self.exclude)
            self.peak = max(self.peak, total)


def describe(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
    except OSError:
        return "(gone)"


# --------------------------------------------------------------------------- the run


@dataclass
class Report:
    rollouts: int
    concurrency: int
    faults: dict | None
    tasks: int
    started: int = 0
    scored: int = 0
    mis_scored: int = 0
    typed: collections.Counter = field(default_factory=collections.Counter)
    untyped: collections.Counter = field(default_factory=collections.Counter)
    lost: list[str] = field(default_factory=list)
    stop_reasons: collections.Counter = field(default_factory=collections.Counter)
    saw_sub_errors: int = 0
    reference_failures: list[str] = field(default_factory=list)
    server: dict = field(default_factory=dict)
    server_url: str = ""
    seconds: float = 0.0
    leftover_processes: list[str] = field(default_factory=list)
    fds_before: dict[int, str] = field(default_factory=dict)
    fds_after: dict[int, str] = field(default_factory=dict)
    leftover_dirs: list[str] = field(default_factory=list)
    peak_rss_mib: float = 0.0
    peak_total_rss_mib: float = 0.0

    @property
    def new_fds(self) -> list[str]:
        return [
            f"{fd} -> {target}" for fd, target in sorted(self.fds_after.items()) if self.fds_before.get(fd) != target
        ]

    @property
    def ok(self) -> bool:
        return (
            not self.lost
            and not self.mis_scored
            and not self.untyped
            and not self.reference_failures
            and not self.leftover_processes
            and not self.new_fds
            and not self.leftover_dirs
            and not self.server.get("failures")
            and self.started == self.rollouts
            and self.scored + self.mis_scored + sum(self.typed.values()) == self.rollouts
        )


def fault_settings(error_rate: float, slow_rate: float, seed: int, read_timeout_s: float) -> dict | None:
    if error_rate == 0 and slow_rate == 0:
        return None
    mix = Faults.mix(error_rate, slow_rate)
    return {"rates": mix.rates, "seed": seed, "retry_after_s": 1.0, "hang_s": 2 * read_timeout_s, "slow_s": 0.5}


async def _run(
    server: ServerProcess, report: Report, harness_args: dict, read_timeout_s: float, private_tmp: Path
) -> None:
    import verifiers.v1 as vf

    from rlm_env.core.rollout import RolloutInfo
    from rlm_env.run.evaluate import env_config
    from rlm_env.run.results import reward_of

    config = env_config(ENV_ID, "rlm", {"num_tasks": report.tasks, "count": 8}, harness_args)
    env = vf.load_environment(config)
    tasks = list(env.taskset)
    ctx = vf.ModelContext(
        model="fake-model",
        client=vf.EvalClientConfig(base_url=server.base_url, api_key_var=API_KEY_VAR, timeout={"read": read_timeout_s}),
    )
    semaphore = asyncio.Semaphore(report.concurrency)
    report.server_url = server.base_url
    runtime_dirs: list[str] = []

    async def one(slot):
        try:
            episode = await env.run_slot(slot, ctx, semaphore)
        except Exception as error:  # noqa: BLE001 - a rollout that escapes verifiers is what we count as lost
            return f"run_slot raised {type(error).__name__}: {error}"
        for trace in episode.traces:
            if trace.agent.runtime is not None and trace.agent.runtime.id:
                runtime_dirs.append(trace.agent.runtime.id)
        return episode

    # Open descriptors are compared across the whole serving block: verifiers' interception pool
    # grows a server per 32 rollouts in flight and keeps it until serving ends, by design.
    report.fds_before = open_fds()
    async with env.serving():
        reference: dict[str, float | None] = {}
        for task, episode in zip(tasks, await asyncio.gather(*(one(s) for t in tasks for s in env.slots(t)))):
            trace = episode.traces[0] if not isinstance(episode, str) and episode.traces else None
            reference[task.data.id] = reward_of(trace) if trace is not None else None
            if reference[task.data.id] is None:
                report.reference_failures.append(f"{task.data.id}: {episode if trace is None else trace.errors}")

        await asyncio.sleep(1)  # let the reference pass's processes be reaped
        me = os.getpid()
        processes_before = descendants(me) - {server.process.pid}
        per_task = math.ceil(report.rollouts / len(tasks))
        slots = [(task, slot) for task in tasks for slot in env.slots(task, per_task)][: report.rollouts]
        server.call("faults", report.faults)
        started = time.monotonic()
        report.started = len(slots)
        with RssSampler(exclude={server.process.pid}) as sampler:
            outcomes = await asyncio.gather(*(one(slot) for _, slot in slots))
        report.seconds = time.monotonic() - started
        report.peak_total_rss_mib = sampler.peak / 2**20
        report.server = server.call("stats")
        server.call("faults", None)

        for (task, _), outcome in zip(slots, outcomes):
            if isinstance(outcome, str) or not outcome.traces:
                report.lost.append(outcome if isinstance(outcome, str) else f"no trace: {outcome.errors}")
                continue
            trace = outcome.traces[0]
            info = RolloutInfo.of(trace)
            report.stop_reasons[(info.stop_reason if info else None) or trace.stop_condition] += 1
            report.saw_sub_errors += bool(info and info.metrics.get("sub_llm_errors"))
            reward = reward_of(trace)
            if reward is not None:
                if reward == reference[task.data.id]:
                    report.scored += 1
                else:
                    report.mis_scored += 1
            elif trace.errors:
                error = trace.errors[-1]
                (report.typed if error.type in TYPED_ERRORS else report.untyped)[error.type] += 1
            else:
                report.lost.append(f"{trace.id}: neither scored nor an error (stop {trace.stop_condition})")

        await asyncio.sleep(1)  # the last rollouts' processes are reaped by their runtimes
        report.leftover_processes = [
            f"{pid} {describe(pid)}" for pid in sorted(descendants(me) - processes_before - {server.process.pid})
        ]
    await asyncio.sleep(1)  # connections closed by the teardown finish closing
    report.fds_after = open_fds()
    report.leftover_dirs = sorted(str(p) for p in private_tmp.iterdir()) + [d for d in runtime_dirs if Path(d).exists()]


def run(
    rollouts: int,
    concurrency: int,
    error_rate: float = 0.2,
    slow_rate: float = 0.1,
    seed: int = 0,
    tasks: int = 25,
    model_retries: int = 2,
    read_timeout_s: float = 3.0,
) -> Report:
    """One soak; the server child is forked first, before any event loop or sandbox exists."""
    os.environ[API_KEY_VAR] = "sk-soak"
    report = Report(
        rollouts, concurrency, fault_settings(error_rate, slow_rate, seed, read_timeout_s), min(tasks, rollouts)
    )
    harness_args = {
        "model_retries": model_retries,
        "budgets": {"max_turns": 8, "max_wall_time_s": 900},
        "sub_llm": {"timeout_s": 120},
    }
    with ServerProcess() as server:
        import rlm_env.repl.sandbox  # noqa: F401 - fixes its host-wide uid lock dir before the temp dir moves

        private_tmp = Path(tempfile.mkdtemp(prefix="rlm-soak-"))
        private_tmp.chmod(0o755)  # sandboxes without bubblewrap reach their work dir by its path
        saved_tempdir, tempfile.tempdir = tempfile.tempdir, str(private_tmp)
        try:
            asyncio.run(_run(server, report, harness_args, read_timeout_s, private_tmp))
        finally:
            tempfile.tempdir = saved_tempdir
            shutil.rmtree(private_tmp, ignore_errors=True)
    report.peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return report


def format_report(r: Report) -> str:
    if r.faults:
        rates = r.faults["rates"]
        errors = sum(rate for kind, rate in rates.items() if kind != "slow")
        mix = (
            f"{100 * errors:g}% errors ({len(rates) - 1} kinds, {100 * errors / (len(rates) - 1):g}% each) "
            f"+ {100 * rates.get('slow', 0):g}% slow, seed {r.faults['seed']}"
        )
    else:
        mix = "none"
    injected = collections.Counter()
    by_route = collections.defaultdict(collections.Counter)
    for (kind, route), count in r.server.get("injected", {}).items():
        injected[kind] += count
        by_route[kind][route] += count
    kinds = ", ".join(
        f"{kind} {injected[kind]} (root {by_route[kind]['root']}, sub {by_route[kind]['sub']})"
        for kind in FAULT_KINDS
        if injected[kind]
    )
    lines = [
        (
            f"soak: {r.rollouts} rollouts at concurrency {r.concurrency}, {ENV_ID} in rlm mode, {r.tasks} tasks; "
            f"faults: {mix}"
        ),
        (
            f"server {r.server_url}; requests served: {r.server.get('requests', 0)}; "
            f"faults injected: {sum(injected.values())}" + (f" ({kinds})" if kinds else "")
        ),
        f"{'rollouts started':<44}{r.started:>6}",
        f"{'  scored, reward as in the fault-free run':<44}{r.scored:>6}",
        f"{'  scored, reward differs (mis-scored)':<44}{r.mis_scored:>6}",
        f"{'  recorded with a typed error':<44}{sum(r.typed.values()):>6}  {dict(r.typed) or ''}",
        f"{'  recorded with an untyped error':<44}{sum(r.untyped.values()):>6}  {dict(r.untyped) or ''}",
        f"{'  lost (neither)':<44}{len(r.lost):>6}",
        f"stop reasons: {', '.join(f'{k} {v}' for k, v in r.stop_reasons.most_common())}",
        f"rollouts whose model was shown a failed sub-LLM call: {r.saw_sub_errors}",
        f"time: {r.seconds:.1f} s, {r.rollouts / r.seconds if r.seconds else 0:.2f} rollouts/s",
        (
            f"after the run: leftover processes {len(r.leftover_processes)}, open file descriptors "
            f"{len(r.fds_before)} -> {len(r.fds_after)} ({len(r.new_fds)} new), "
            f"leftover temp dirs {len(r.leftover_dirs)}"
        ),
        (
            f"peak RSS: the host process {r.peak_rss_mib:.0f} MiB; with its REPL workers and other children "
            f"{r.peak_total_rss_mib:.0f} MiB (sampled each second)"
        ),
    ]
    for title, items in (
        ("reference run failures", r.reference_failures),
        ("lost", r.lost),
        ("leftover processes", r.leftover_processes),
        ("new file descriptors", r.new_fds),
        ("leftover temp dirs", r.leftover_dirs),
        ("server failures", r.server.get("failures", [])),
    ):
        if items:
            lines.append(f"{title} ({len(items)}): " + "; ".join(items[:5]) + (" ..." if len(items) > 5 else ""))
    lines.append("RESULT: " + ("OK" if r.ok else "FAILED"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rollouts", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--error-rate",
        type=float,
        default=0.2,
        help="probability per request of an error fault, shared equally by the 8 kinds",
    )
    parser.add_argument(
        "--slow-rate",
        type=float,
        default=None,
        help="probability per request of a slow reply (default 0.1, or 0 with --error-rate 0)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tasks", type=int, default=25, help="distinct tasks the rollouts cycle through")
    parser.add_argument("--model-retries", type=int, default=2)
    args = parser.parse_args(argv)
    slow = args.slow_rate if args.slow_rate is not None else (0.0 if args.error_rate == 0 else 0.1)
    logging.basicConfig(level=logging.ERROR)  # verifiers logs every failed model call as a warning
    report = run(args.rollouts, args.concurrency, args.error_rate, slow, args.seed, args.tasks, args.model_retries)
    print(format_report(report))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
