"""Benchmark the REPL: start-up, cell round-trip, llm_batch round trip, restart after a
timeout, idle memory, 10 MB data load, science stack.

Run: uv run python scripts/bench_repl.py [--backend auto|bwrap|none] [--cells 200]

A bare `python -c pass` start-up is measured in the same run as the baseline for start-up.
The `none` backend runs model code without isolation; the benchmark accepts that for itself.
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from rlm_env.repl import LocalSandbox, ReplConfig, ReplSession, SandboxConfig


def sandbox_config(backend: str) -> SandboxConfig:
    # (checked by name so this script also measures a checkout from before the knob existed)
    accept = {"accept_no_isolation": True} if "accept_no_isolation" in SandboxConfig.model_fields else {}
    return SandboxConfig(backend=backend, **accept)


def tree_memory_mb(pid: int, key: str) -> float:
    """A memory figure (VmRSS from status, Pss from smaps_rollup) of a process tree, in MiB."""
    total_kb, todo = 0, [pid]
    while todo:
        current = todo.pop()
        source = Path(f"/proc/{current}/status" if key == "VmRSS" else f"/proc/{current}/smaps_rollup")
        try:
            lines = source.read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith(key + ":"):
                total_kb += int(line.split()[1])
        children = Path(f"/proc/{current}/task/{current}/children")
        if children.exists():
            todo += [int(c) for c in children.read_text().split()]
    return total_kb / 1024


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MiB (shared pages counted each time)."""
    return tree_memory_mb(pid, "VmRSS")


async def instant_batch(prompts: list[str]) -> list[str]:
    return [p[::-1] for p in prompts]


async def bench(backend: str, cells: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    starts = []
    for _ in range(5):
        t0 = time.perf_counter()
        session = ReplSession(LocalSandbox(sandbox_config(backend)))
        await session.start()
        starts.append(time.perf_counter() - t0)
        await session.close()
    figures["start-up (ms, median of 5)"] = statistics.median(starts) * 1000

    session = ReplSession(LocalSandbox(sandbox_config(backend)), llm_batch=instant_batch)
    await session.start()
    latencies = []
    for i in range(cells):
        t0 = time.perf_counter()
        await session.execute(f"x = {i}")
        latencies.append(time.perf_counter() - t0)
    quantiles = statistics.quantiles(latencies, n=10)
    figures["trivial cell p50 (ms)"] = statistics.median(latencies) * 1000
    figures["trivial cell p90 (ms)"] = quantiles[8] * 1000
    batches = []
    for _ in range(50):
        t0 = time.perf_counter()
        await session.execute("r = llm_batch(['abc'] * 10)")
        batches.append(time.perf_counter() - t0)
    figures["llm_batch of 10 prompts p50 (ms)"] = statistics.median(batches) * 1000
    restarting = ReplSession(LocalSandbox(sandbox_config(backend)), ReplConfig(cell_timeout_s=1))
    await restarting.start()
    restarts = []
    for _ in range(3):
        t0 = time.perf_counter()
        result = await restarting.execute("while True:\n    pass")
        assert result.timed_out, result.output
        restarts.append(time.perf_counter() - t0 - 1.0)
        await restarting.execute("x = 1")
    await restarting.close()
    figures["restart after a 1 s cell timeout (ms past it)"] = statistics.median(restarts) * 1000
    await asyncio.sleep(0.2)
    figures["idle REPL RSS (MiB)"] = tree_rss_mb(session.host.process.process.pid)
    figures["idle REPL PSS (MiB)"] = tree_memory_mb(session.host.process.process.pid, "Pss")
    t0 = time.perf_counter()
    result = await session.execute(
        "import numpy, scipy, sympy, scipy.optimize\nprint(numpy.__version__, scipy.__version__, sympy.__version__)"
    )
    figures["import numpy+scipy+sympy (s)"] = time.perf_counter() - t0
    figures["science stack importable"] = float("Error" not in result.output and not result.restarted)
    figures["RSS after imports (MiB)"] = tree_rss_mb(session.host.process.process.pid)
    await session.close()

    ten_mb = "abcdefghij" * 1_000_000
    t0 = time.perf_counter()
    session = ReplSession(LocalSandbox(sandbox_config(backend)))
    await session.start(ten_mb)
    loaded = await session.execute("len(extra_data)")
    figures["start with 10 MB extra_data (ms)"] = (time.perf_counter() - t0) * 1000
    assert loaded.output == "10000000\n", loaded.output
    await session.close()
    return figures


def python_baseline_ms() -> float:
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-c", "pass"], check=True)
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="all", choices=["all", "auto", "bwrap", "none"])
    parser.add_argument("--cells", type=int, default=200)
    args = parser.parse_args()
    backends = ["bwrap", "none"] if args.backend == "all" else [args.backend]
    baseline = python_baseline_ms()
    table = Table(title=f"REPL benchmark ({os.cpu_count()} cores)")
    table.add_column("figure")
    for backend in backends:
        table.add_column(backend, justify="right")
    results = [asyncio.run(bench(backend, args.cells)) for backend in backends]
    for key in results[0]:
        table.add_row(key, *[f"{r[key]:.2f}" for r in results])
    table.add_row(
        "start-up / bare `python -c pass`", *[f"{r['start-up (ms, median of 5)'] / baseline:.2f}x" for r in results]
    )
    table.add_row("bare `python -c pass` (ms)", *[f"{baseline:.2f}"] * len(results))
    Console().print(table)


if __name__ == "__main__":
    main()
