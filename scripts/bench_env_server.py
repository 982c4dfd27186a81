"""Rollouts/s through verifiers' env server with 1 worker process and with N: both cores or one.

Run: uv run --no-sync python scripts/bench_env_server.py [--workers 1 2] [--concurrency 16 64] [--json out.json]
Quick: ... --concurrency 4 --rounds 1

A rollout's host work runs on one event loop, so one process uses one core. prime-rl starts
verifiers' env server per environment and can give it a pool of worker processes
(`serve.pool = {type = "static", num_workers = N}`, configs/README.md). This benchmark runs the
path prime-rl takes, with verifiers' own pieces: the server is `verifiers.v1.serve.serve_env` in a
spawned process, sized by `pool_serve_kwargs(StaticPoolConfig(num_workers=N))` (one worker runs
the server in that process; more put a broker in front of N spawned workers), and the rollouts are
sent by `EnvClient.run` with each task's dumped data, as prime-rl's orchestrator sends them. The
model is scripts/bench_rollouts.py's scripted server and the rollout is its trajectory (10 root
turns over a 1 MB `extra_data`, one `llm_batch` of 8), with a real bubblewrap REPL each.

Figures per worker count and level of rollouts in flight: rollouts/s (and its ratio to one worker,
measured in the same run: the baseline), and how many of the machine's cores were busy (from
/proc/stat: the env server, its sandboxes, this client and the scripted server together).
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS.parent / "tests"))  # rollout_bench_rlm; spawned workers inherit sys.path
sys.path.insert(0, str(SCRIPTS))
API_KEY_VAR = "BENCH_API_KEY"


def env_config(context_chars: int, num_tasks: int):
    import verifiers.v1 as vf
    from bench_rollouts import ENV_ID

    return vf.resolve_env_config(
        {
            "taskset": {"id": ENV_ID, "num_tasks": num_tasks, "context_chars": context_chars},
            "agent": {"runtime": {"type": "subprocess"}, "harness": {"id": ENV_ID, "sandbox": {"backend": "bwrap"}}},
        }
    )


def busy_cpu_s() -> float:
    """CPU seconds the whole machine has spent busy (all but idle and iowait), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(value) for value in f.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


class EnvServer:
    """verifiers' env server in a spawned process, as prime-rl starts it, and a client for it."""

    def __init__(self, workers: int, config) -> None:
        from verifiers.v1 import StaticPoolConfig, pool_serve_kwargs
        from verifiers.v1.serve import env_config_data, serve_env

        spawn = multiprocessing.get_context("spawn")
        self.address_queue = spawn.Queue()
        self.death_pipe, child_end = spawn.Pipe()  # the server exits when this process dies
        self.process = spawn.Process(
            target=serve_env,
            kwargs=dict(
                **pool_serve_kwargs(StaticPoolConfig(num_workers=workers)),
                address="tcp://127.0.0.1:0",
                address_queue=self.address_queue,
                death_pipe=child_end,
                config_data=env_config_data(config),
                max_concurrent=None,  # the client's semaphore sets the rollouts in flight
            ),
        )
        self.process.start()
        child_end.close()
        self.client = None

    async def connect(self) -> None:
        from verifiers.v1.serve import EnvClient

        address = await asyncio.to_thread(self.address_queue.get, timeout=300)
        self.client = EnvClient(address=address)
        await self.client.wait_for_server_startup(timeout=300)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
        self.process.terminate()  # serve_env's teardown stops the pool's workers
        await asyncio.to_thread(self.process.join, 30)
        if self.process.is_alive():
            self.process.kill()
        self.death_pipe.close()


async def run_workers(workers: int, args, model_url: str) -> dict:
    """Start a server with `workers` processes, warm every worker up, then time each level."""
    import verifiers.v1 as vf

    per_level = [level * args.rounds for level in args.concurrency]
    config = env_config(args.context_chars, workers + sum(per_level))
    tasks = list(vf.load_taskset(config.taskset))  # the client owns the taskset, as prime-rl's does
    model = vf.EvalClientConfig(base_url=model_url, api_key_var=API_KEY_VAR)
    sampling = vf.SamplingConfig()
    server = EnvServer(workers, config)
    try:
        started = time.monotonic()
        await server.connect()

        async def rollout(task, semaphore: asyncio.Semaphore) -> None:
            async with semaphore:
                episode = await server.client.run(
                    client=model, model="bench-model", sampling=sampling, task_data=task.data.model_dump(mode="json")
                )
            rewards = [trace.reward for trace in episode.traces]
            if not episode.ok or rewards != [1.0]:
                errors = [error for trace in episode.traces for error in trace.errors] or episode.errors
                raise RuntimeError(f"rollout {task.data.id} failed (rewards {rewards}): {errors}")

        # One rollout per worker at once (least-busy dispatch spreads them): imports, first REPL.
        warm = asyncio.Semaphore(workers)
        await asyncio.gather(*(rollout(task, warm) for task in tasks[:workers]))
        result = {"workers": workers, "ready_s": time.monotonic() - started}
        remaining = tasks[workers:]
        for level, count in zip(args.concurrency, per_level):
            batch, remaining = remaining[:count], remaining[count:]
            semaphore = asyncio.Semaphore(level)
            cpu, wall = busy_cpu_s(), time.monotonic()
            await asyncio.gather(*(rollout(task, semaphore) for task in batch))
            wall = time.monotonic() - wall
            result[f"C{level}"] = {
                "rollouts": count,
                "rollouts_per_s": count / wall,
                "cores_busy": (busy_cpu_s() - cpu) / wall,
                "load_1m": os.getloadavg()[0],
            }
        return result
    finally:
        await server.close()


async def bench(args) -> dict:
    from bench_rollouts import ServerProcess

    os.environ.setdefault(API_KEY_VAR, "sk-bench")  # read by the spawned server's model client
    model_server = ServerProcess()
    results = {"args": {**vars(args), "json": str(args.json)}, "cores": os.cpu_count()}
    try:
        for workers in args.workers:
            results[f"workers_{workers}"] = await run_workers(workers, args, model_server.base_url)
            model_server.take_log()  # raises if the scripted server saw anything off-script
    finally:
        model_server.close()
    return results


def report(results: dict) -> None:
    args = results["args"]
    baseline = results[f"workers_{args['workers'][0]}"]
    table = Table(title=f"verifiers env server on {results['cores']} cores: rollouts/s (x {args['workers'][0]} worker)")
    for column in ("workers", *(f"C={level}" for level in args["concurrency"]), "start + warm-up, s"):
        table.add_column(column, justify="right")
    for workers in args["workers"]:
        row = results[f"workers_{workers}"]
        cells = []
        for level in args["concurrency"]:
            phase, base = row[f"C{level}"], baseline[f"C{level}"]["rollouts_per_s"]
            cells.append(
                f"{phase['rollouts_per_s']:.2f} ({phase['rollouts_per_s'] / base:.2f}x), "
                f"{phase['cores_busy']:.2f} cores busy [load {phase['load_1m']:.1f}]"
            )
        table.add_row(str(workers), *cells, f"{row['ready_s']:.1f}")
    Console(width=140).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts, the first the baseline")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64], help="levels of rollouts in flight")
    parser.add_argument("--rounds", type=int, default=2, help="rollouts per level = level x rounds")
    parser.add_argument("--context-chars", type=int, default=1_000_000, help="size of extra_data")
    parser.add_argument("--json", type=Path, default=None, help="write every figure to this file")
    args = parser.parse_args()
    if min(args.workers + args.concurrency + [args.rounds]) < 1:
        parser.error("--workers, --concurrency and --rounds take numbers of at least 1")
    results = asyncio.run(bench(args))
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
