"""Benchmark what the RLM scaffold costs per rollout: the loop alone and verifiers' `env.run_slot`.

Run: uv run --no-sync python scripts/bench_rollouts.py [--json out.json]
Quick (under a minute on a quiet 2-core machine): ... --single 3 --concurrency 4 --rounds 1

Every rollout plays the same script against a scripted ~0-latency server (tests/fake_openai.py,
run in its own process so its CPU and GIL are not the host's): 10 root turns over a 1 MB
`extra_data`, one `llm_batch` of 8 prompts on turn 5, then the answer. Two paths, both with a
real bubblewrap REPL per rollout:
- loop: rlm_env.core.loop.run_rlm_loop with ChatClient / SubLLMPool straight to the server.
- run_slot: verifiers' `env.run_slot` (interception, subprocess runtime), as rlm-env eval and
  prime-rl's env server run it, in a warm process (one warm-up rollout first).
Figures: per-turn overhead p50/p90 and the batch turn, measured at the server (end of reply k
to arrival of request k+1 of the same rollout); start-up (rollout start to its first request);
PSS per added rollout (host + descendants, and the host process alone, every rollout held in
flight at turn 7) and the input files their sandboxes hold (bytes shown to the workers against
bytes stored: sandboxes share one file per distinct input); CPU per
rollout (getrusage of the host and its children, plus the sandboxed workers' CPU read just
before they are killed); rollouts/s. Baselines from the same run: `python -I -c pass` (wall,
CPU, and the PSS of an idle bare interpreter) and a trivial cell's round trip on a live REPL.
"""

import argparse
import asyncio
import gc
import itertools
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fake_openai import FakeOpenAI, code, text
from rlm_env.core.client import ChatClient
from rlm_env.core.loop import Budgets, run_rlm_loop
from rlm_env.core.prompts import DataInfo, rlm_system_prompt
from rlm_env.core.sub_llm import SubLLMConfig, SubLLMPool
from rlm_env.repl import LocalSandbox, ReplConfig, ReplSession, SandboxConfig
from rollout_bench_rlm import PROMPT, context

ENV_ID = "rollout-bench-rlm"
ROOT_TURNS, BATCH_TURN, BATCH_SIZE, HOLD_TURN = 10, 4, 8, 6
TAG = re.compile(r"\[rollout ([\w-]+)\]")
_request = threading.local()  # what the server's handler learnt about the request it is answering


# --------------------------------------------------------------------------- the scripted server


def root_reply(tag: str, turn: int) -> dict:
    """Root turn `turn` (0-based) of the script: read a slice, one llm_batch, answer on the last."""
    if turn == BATCH_TURN:
        return code(
            f"parts = llm_batch(['[rollout {tag}] Summarise: ' + extra_data[i * 2000:(i + 1) * 2000] "
            f"for i in range({BATCH_SIZE})])\nprint(parts)"
        )
    if turn == ROOT_TURNS - 1:
        return code(f"answer['content'] = {tag!r}\nanswer['ready'] = True")
    if turn < ROOT_TURNS:
        return code(f"print(len(extra_data))\nprint(extra_data[{turn * 400}:{turn * 400 + 400}])")
    raise AssertionError(f"rollout {tag} asked for root turn {turn + 1} of {ROOT_TURNS}")


class _Listener(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the default backlog of 5 drops connections when 64 rollouts call at once


class BenchServer(FakeOpenAI):
    """The test double playing the script; logs each request's arrival and reply end, can hold a turn."""

    def __init__(self) -> None:
        super().__init__(root=self.root, sub=self.sub)
        self.log: list[dict] = []
        self.hold_turn: int | None = None
        self.held = 0
        self.released = threading.Event()
        self._server.server_close()
        self._server = _Listener(("127.0.0.1", 0), self._handler_class())

    def root(self, request: dict) -> dict:
        tag = TAG.search(request["messages"][1]["content"]).group(1)
        turn = sum(message["role"] == "assistant" for message in request["messages"])
        _request.record = {"tag": tag, "kind": "root", "turn": turn}
        if turn == self.hold_turn:
            with self._lock:
                self.held += 1
            self.released.wait()
        return root_reply(tag, turn)

    def sub(self, request: dict) -> dict:
        _request.record = {"tag": TAG.search(request["messages"][-1]["content"]).group(1), "kind": "sub", "turn": -1}
        return text("The records list ids and values. \\boxed{records}")

    def _handler_class(self):
        base, server = super()._handler_class(), self

        class TimedHandler(base):
            protocol_version = "HTTP/1.1"  # keep-alive, as vLLM and hosted APIs do

            def do_POST(self) -> None:
                arrived = time.monotonic()  # CLOCK_MONOTONIC: comparable with the host process's clock
                _request.record = None
                super().do_POST()
                if _request.record is not None:
                    server.log.append({**_request.record, "arrived": arrived, "replied": time.monotonic()})

        return TimedHandler


def serve() -> None:
    """`--serve`: run BenchServer, print its URL, then answer commands (one JSON line each) on stdin."""
    server = BenchServer()
    with server:
        print(json.dumps({"base_url": server.base_url}), flush=True)
        for line in sys.stdin:
            command, _, argument = line.strip().partition(" ")
            reply: dict = {}
            if command == "log":  # hand over and clear what the last phase did
                log, server.log = server.log, []
                reply = {"log": log, "failures": [repr(failure) for failure in server.failures]}
                server.failures.clear()
                server.requests.clear()
            elif command == "hold":
                server.held, server.hold_turn = 0, int(argument)
                server.released.clear()
            elif command == "held":
                reply = {"held": server.held}
            elif command == "release":
                server.hold_turn = None
                server.released.set()
            print(json.dumps(reply), flush=True)


class ServerProcess:
    """The host's handle on the server process."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self._base_url: str | None = None

    @property
    def base_url(self) -> str:
        """Read on first use, so the server imports while the host measures its baselines."""
        if self._base_url is None:
            self._base_url = json.loads(self.process.stdout.readline())["base_url"]
        return self._base_url

    def ask(self, command: str) -> dict:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def take_log(self) -> list[dict]:
        reply = self.ask("log")
        if reply["failures"]:
            raise RuntimeError(f"the scripted server failed: {reply['failures'][:3]}")
        return reply["log"]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=10)


# --------------------------------------------------------------------------- measuring


def descendants(pid: int, exclude: set[int] = frozenset()) -> list[int]:
    """`pid` and every process below it (children of all its threads), minus the `exclude` subtrees."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        if current in exclude:
            continue
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as f:
                    todo += [int(child) for child in f.read().split()]
        except FileNotFoundError:
            continue  # it ended while we looked
    return found


def tree_pss_mb(pid: int, exclude: set[int]) -> float:
    """Sum of PSS (proportional set size) over `pid` and its descendants, in MB."""
    total_kb = 0
    for current in descendants(pid, exclude):
        try:
            with open(f"/proc/{current}/smaps_rollup") as f:
                total_kb += sum(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total_kb / 1000


def process_cpu_s(pid: int) -> float:
    """utime + stime of a live process and of its reaped children, from /proc/<pid>/stat."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()  # the name may hold spaces and ')'
    except FileNotFoundError:
        return 0.0
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def host_cpu_s() -> float:
    """CPU seconds of this process (all threads) and of its reaped children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class SandboxCPU:
    """Adds up the CPU of sandboxed workers, read just before LocalSandbox kills them.

    Why: the worker runs below bubblewrap in its own PID namespace; killing bwrap orphans it,
    so its CPU never reaches this process's RUSAGE_CHILDREN. bwrap itself is reaped by us and
    counted there, so only the processes below it are read here. The reads' own CPU (this
    thread's) is kept apart so it can be subtracted.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self.own_seconds = 0.0

    def install(self) -> None:
        original, meter = LocalSandbox.stop_worker, self

        async def stop_worker(sandbox: LocalSandbox) -> None:
            if sandbox.process is not None:
                started = time.thread_time()
                inner = getattr(sandbox.process, "process", None) or sandbox.process._process  # ours / verifiers'
                meter.seconds += sum(process_cpu_s(pid) for pid in descendants(inner.pid)[1:])
                meter.own_seconds += time.thread_time() - started
            await original(sandbox)

        LocalSandbox.stop_worker = stop_worker

    def total(self) -> float:
        """Worker CPU so far, minus the host CPU spent reading it."""
        return self.seconds - self.own_seconds


class LiveSandboxes:
    """Every LocalSandbox this process opened and has not closed, to look at their input files."""

    def __init__(self) -> None:
        self.open: set[LocalSandbox] = set()

    def install(self) -> None:
        original_init, original_close, live = LocalSandbox.__init__, LocalSandbox.close, self

        def init(sandbox: LocalSandbox, *args, **kwargs) -> None:
            original_init(sandbox, *args, **kwargs)
            live.open.add(sandbox)

        async def close(sandbox: LocalSandbox) -> None:
            live.open.discard(sandbox)
            await original_close(sandbox)

        LocalSandbox.__init__, LocalSandbox.close = init, close

    def input_files(self) -> dict:
        """The sandboxes' input files: bytes they show the workers in all, and bytes stored (distinct files)."""
        linked, stored = 0, {}
        for sandbox in self.open:
            for path in sandbox.input_dir.iterdir():
                info = path.stat()
                linked += info.st_size
                stored[info.st_dev, info.st_ino] = info.st_size
        return {"input_mb_linked": linked / 1e6, "input_mb_stored": sum(stored.values()) / 1e6}


def quantile(values: list[float], q: int) -> float:
    """The q-th percentile (q in 10..90) of at least two values."""
    return statistics.quantiles(values, n=10, method="inclusive")[q // 10 - 1] if len(values) > 1 else values[0]


def turn_figures(log: list[dict], tags: list[str], started: dict[str, float]) -> dict:
    """Per-turn overhead, batch turn and start-up of `tags`, from the server's log."""
    gaps, batch, startup = [], [], []
    for tag in tags:
        roots = sorted((r for r in log if r["tag"] == tag and r["kind"] == "root"), key=lambda r: r["turn"])
        subs = sum(r["tag"] == tag and r["kind"] == "sub" for r in log)
        if [r["turn"] for r in roots] != list(range(ROOT_TURNS)) or subs != BATCH_SIZE:
            raise RuntimeError(f"rollout {tag}: {len(roots)} root and {subs} sub-LLM requests, not the script's")
        for previous, following in itertools.pairwise(roots):
            gap_ms = (following["arrived"] - previous["replied"]) * 1000
            (batch if previous["turn"] == BATCH_TURN else gaps).append(gap_ms)
        startup.append((roots[0]["arrived"] - started[tag]) * 1000)
    return {
        "turn_p50_ms": quantile(gaps, 50),
        "turn_p90_ms": quantile(gaps, 90),
        "batch_turn_ms": statistics.median(batch),
        "startup_ms": statistics.median(startup),
    }


# --------------------------------------------------------------------------- the two paths


class LoopPath:
    """Rollouts of the loop alone, built as rlm_env.harness.adapter builds them, without verifiers."""

    name = "loop"

    def __init__(self, base_url: str, context_chars: int) -> None:
        self.base_url, self.context_chars = base_url, context_chars
        self.count = 0
        self.started: dict[str, float] = {}

    def tags(self, n: int) -> list[str]:
        self.count += n
        return [f"loop-{i}" for i in range(self.count - n, self.count)]

    async def rollout(self, tag: str, semaphore: asyncio.Semaphore | None = None) -> None:
        async with semaphore or asyncio.Semaphore():
            self.started[tag] = time.monotonic()
            budgets, sub_config, repl_config = Budgets(), SubLLMConfig(), ReplConfig()
            client = ChatClient(self.base_url, "sk-bench", "bench-model", tag_requests=True)
            pool = SubLLMPool(client.with_model(sub_config.model), sub_config, [], budgets.max_sub_llm_calls)
            repl = ReplSession(LocalSandbox(SandboxConfig(backend="bwrap")), repl_config, llm_batch=pool.batch)
            extra_data = context(self.context_chars)
            info = DataInfo.describe(extra_data)
            repl.start_soon(extra_data)
            del extra_data
            system = rlm_system_prompt(info, [], [], repl_config.max_output_chars, repl_config.cell_timeout_s)
            try:
                result = await run_rlm_loop(client, repl, pool, system, PROMPT.format(tag=tag), budgets)
            finally:
                await repl.close()
                await client.close()
                await pool.client.close()
        if result.stop_reason != "answer_ready" or result.answer != tag:
            raise RuntimeError(f"rollout {tag} ended {result.stop_reason} ({result.error}) with {result.answer!r}")


class SlotPath:
    """Rollouts through verifiers' `env.run_slot`, inside `env.serving()` (entered by the caller)."""

    name = "run_slot"

    def __init__(self, base_url: str, context_chars: int, num_tasks: int) -> None:
        import verifiers.v1 as vf

        os.environ["BENCH_API_KEY"] = "sk-bench"
        config = vf.resolve_env_config(
            {
                "taskset": {"id": ENV_ID, "num_tasks": num_tasks, "context_chars": context_chars},
                "agent": {
                    "runtime": {"type": "subprocess"},
                    "harness": {"id": ENV_ID, "sandbox": {"backend": "bwrap"}},
                },
            }
        )
        self.env = vf.load_environment(config)
        self.ctx = vf.ModelContext(
            model="bench-model", client=vf.EvalClientConfig(base_url=base_url, api_key_var="BENCH_API_KEY")
        )
        self.tasks = iter(self.env.taskset)
        self.by_tag: dict = {}
        self.started: dict[str, float] = {}

    def tags(self, n: int) -> list[str]:
        tasks = [next(self.tasks) for _ in range(n)]
        self.by_tag.update((task.data.id, task) for task in tasks)
        return [task.data.id for task in tasks]

    async def rollout(self, tag: str, semaphore: asyncio.Semaphore | None = None) -> None:
        [slot] = self.env.slots(self.by_tag[tag])
        self.started[tag] = time.monotonic()
        episode = await self.env.run_slot(slot, self.ctx, semaphore)
        if not episode.ok or [trace.reward for trace in episode.traces] != [1.0]:
            errors = [error for trace in episode.traces for error in trace.errors] or episode.errors
            raise RuntimeError(f"rollout {tag} failed: {errors}")


# --------------------------------------------------------------------------- phases


async def timed_phase(path, server: ServerProcess, meter: SandboxCPU, count: int, concurrency: int) -> dict:
    """`count` rollouts, at most `concurrency` in flight: turn figures, rollouts/s, CPU per rollout."""
    tags = path.tags(count)
    server.take_log()
    semaphore = asyncio.Semaphore(concurrency)
    cpu, worker_cpu, started = host_cpu_s(), meter.total(), time.monotonic()
    if concurrency == 1:  # one after the other, so start-up excludes any wait for a free slot
        for tag in tags:
            await path.rollout(tag)
    else:
        await asyncio.gather(*(path.rollout(tag, semaphore) for tag in tags))
    wall = time.monotonic() - started
    worker_cpu = meter.total() - worker_cpu
    cpu = host_cpu_s() - cpu + worker_cpu
    figures = turn_figures(server.take_log(), tags, path.started)
    if concurrency > 1:
        del figures["startup_ms"]  # it would include the wait for a free slot
    return {
        **figures,
        "rollouts": count,
        "concurrency": concurrency,
        "rollouts_per_s": count / wall,
        "cpu_per_rollout_ms": cpu / count * 1000,
        "worker_cpu_per_rollout_ms": worker_cpu / count * 1000,
        "load_1m": os.getloadavg()[0],
    }


async def memory_phase(path, server: ServerProcess, sandboxes: LiveSandboxes, count: int) -> dict:
    """PSS of the host tree, and of the host process alone, with 1 and with `count` rollouts held
    in flight at root turn HOLD_TURN + 1; the input files of the `count` rollouts' sandboxes."""
    pss, host_pss, inputs = {}, {}, {}
    for n in (1, count):
        server.ask(f"hold {HOLD_TURN}")
        running = asyncio.gather(*(path.rollout(tag) for tag in path.tags(n)))
        deadline = time.monotonic() + 120 + 2 * n
        while server.ask("held")["held"] < n and not running.done() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        gc.collect()
        pss[n] = tree_pss_mb(os.getpid(), exclude={server.process.pid})
        host_pss[n] = tree_pss_mb(os.getpid(), exclude={server.process.pid, *descendants(os.getpid())[1:]})
        inputs = sandboxes.input_files()
        held = server.ask("held")["held"]
        server.ask("release")
        await running
        if held < n:
            raise RuntimeError(f"only {held} of {n} rollouts reached the hold within {120 + 2 * n} s")
    server.take_log()
    return {
        "pss_1_mb": pss[1],
        "pss_held_mb": pss[count],
        "held": count,
        "pss_per_added_rollout_mb": (pss[count] - pss[1]) / (count - 1),
        "host_process_pss_per_added_rollout_mb": (host_pss[count] - host_pss[1]) / (count - 1),
        **inputs,
        "load_1m": os.getloadavg()[0],
    }


async def run_path(path, server: ServerProcess, meter: SandboxCPU, sandboxes: LiveSandboxes, args) -> dict:
    """Warm-up, sequential single rollouts, each concurrency level, then memory."""
    await timed_phase(path, server, meter, 1, 1)  # warm-up: imports, connection pools, caches
    results = {"single": await timed_phase(path, server, meter, args.single, 1)}
    for concurrency in args.concurrency:
        results[f"C{concurrency}"] = await timed_phase(path, server, meter, concurrency * args.rounds, concurrency)
    results["memory"] = await memory_phase(path, server, sandboxes, args.memory_rollouts)
    return results


# --------------------------------------------------------------------------- baselines


def python_baselines() -> dict:
    """`python -I -c pass`: wall and CPU per start, and the PSS of an idle bare interpreter."""
    walls, cpu = [], host_cpu_s()
    for _ in range(10):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-c", "pass"], check=True)
        walls.append(time.perf_counter() - started)
    figures = {"python_pass_ms": statistics.median(walls) * 1000, "python_pass_cpu_ms": (host_cpu_s() - cpu) * 100}
    idle = subprocess.Popen(
        [sys.executable, "-I", "-c", "print(flush=True); import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    idle.stdout.readline()
    figures["python_idle_pss_mb"] = tree_pss_mb(idle.pid, set())
    idle.communicate()
    return figures


async def repl_baseline(cells: int) -> dict:
    """A trivial cell's round trip on a live bwrap REPL worker (JSON frames over its pipes)."""
    session = ReplSession(LocalSandbox(SandboxConfig(backend="bwrap")))
    await session.start()
    round_trips = []
    for _ in range(cells):
        started = time.perf_counter()
        await session.execute("pass")
        round_trips.append((time.perf_counter() - started) * 1000)
    await session.close()
    return {"repl_round_trip_p50_ms": quantile(round_trips, 50), "repl_round_trip_p90_ms": quantile(round_trips, 90)}


# --------------------------------------------------------------------------- report


def report(results: dict) -> None:
    """Every figure per path as: value (ratio to its baseline) [1-minute load average when measured]."""
    base = results["baseline"]
    cell, start, cpu = base["repl_round_trip_p50_ms"], base["python_pass_ms"], base["python_pass_cpu_ms"]
    rows = [
        ("per-turn overhead p50, ms", "turn_p50_ms", cell),
        ("per-turn overhead p90, ms", "turn_p90_ms", cell),
        ("batch turn (8 sub-calls), ms", "batch_turn_ms", cell),
        ("start-up to 1st request, ms", "startup_ms", start),
        ("CPU per rollout, ms", "cpu_per_rollout_ms", cpu),
        ("  of it the REPL worker, ms", "worker_cpu_per_rollout_ms", cpu),
        ("rollouts/s", "rollouts_per_s", 1000 / start),
    ]
    paths = [name for name in ("loop", "run_slot") if name in results]
    table = Table(title=f"{os.cpu_count()} cores: value (x baseline) [1-min load]")
    for column in ("figure", "phase", *paths):
        table.add_column(column, justify="right" if column in paths else "left")

    def cell_text(value: float, baseline: float, load: float) -> str:
        return f"{value:.2f} ({value / baseline:.3g}x) [{load:.1f}]"

    for label, key, baseline in rows:
        for phase in results[paths[0]]:
            measured = [results[path][phase] for path in paths]
            if key in measured[0]:
                table.add_row(label, phase, *[cell_text(m[key], baseline, m["load_1m"]) for m in measured])
    memory = [results[path]["memory"] for path in paths]
    table.add_row(
        "PSS per added rollout, MB",
        f"1 vs {memory[0]['held']} in flight",
        *[cell_text(m["pss_per_added_rollout_mb"], base["python_idle_pss_mb"], m["load_1m"]) for m in memory],
    )
    table.add_row(
        "  of it the host process, MB",
        "",
        *[
            cell_text(m["host_process_pss_per_added_rollout_mb"], base["python_idle_pss_mb"], m["load_1m"])
            for m in memory
        ],
    )
    table.add_row(
        "input files, MB stored / linked",
        f"{memory[0]['held']} in flight",
        *[f"{m['input_mb_stored']:.1f} / {m['input_mb_linked']:.1f}" for m in memory],
    )
    Console(width=120).print(table)
    print(
        f"Baselines [load {base['load_1m']:.1f}]: REPL cell round trip (live bwrap worker, `pass`) p50 {cell:.2f} ms,"
        f" "
        f"p90 {base['repl_round_trip_p90_ms']:.2f} ms (ratio for turn figures); `python -I -c pass` {start:.1f} ms "
        f"wall (start-up; rollouts/s against its {1000 / start:.1f} starts/s), {cpu:.1f} ms CPU (CPU figures); "
        f"idle bare interpreter PSS {base['python_idle_pss_mb']:.1f} MB (PSS)."
    )


async def bench(args) -> dict:
    """Baselines, then each path's phases, all against one server process."""
    server = ServerProcess()
    meter, sandboxes = SandboxCPU(), LiveSandboxes()
    meter.install()
    sandboxes.install()
    results = {
        "args": {**vars(args), "json": str(args.json)},
        "load_start": os.getloadavg(),
        "baseline": {**python_baselines(), **await repl_baseline(args.cells), "load_1m": os.getloadavg()[0]},
    }
    try:
        if "loop" in args.paths:
            path = LoopPath(server.base_url, args.context_chars)
            results["loop"] = await run_path(path, server, meter, sandboxes, args)
        if "run_slot" in args.paths:
            count = 3 + args.single + args.rounds * sum(args.concurrency) + args.memory_rollouts
            path = SlotPath(server.base_url, args.context_chars, count)
            async with path.env.serving():
                results["run_slot"] = await run_path(path, server, meter, sandboxes, args)
    finally:
        server.close()
    results["load_end"] = os.getloadavg()
    return results


def main() -> None:
    if sys.argv[1:] == ["--serve"]:
        return serve()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--paths", default="loop,run_slot", type=lambda s: s.split(","), help="comma-separated: loop, run_slot"
    )
    parser.add_argument("--single", type=int, default=5, help="sequential rollouts for the single-rollout figures")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64], help="levels of rollouts in flight")
    parser.add_argument("--rounds", type=int, default=2, help="rollouts per level = level x rounds")
    parser.add_argument("--memory-rollouts", type=int, default=None, help="rollouts held for PSS (default: top level)")
    parser.add_argument("--context-chars", type=int, default=1_000_000, help="size of extra_data")
    parser.add_argument("--cells", type=int, default=200, help="trivial cells for the REPL round-trip baseline")
    parser.add_argument("--json", type=Path, default=None, help="write every figure to this file")
    args = parser.parse_args()
    args.memory_rollouts = args.memory_rollouts or max(args.concurrency)
    results = asyncio.run(bench(args))
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
