"""Benchmark the HTML report on a synthetic 1,000-rollout ablation: build time, file size, and
how the page behaves in headless Chromium (load, list, opening rollouts, scrolling).

Run: uv run python scripts/bench_report.py [--rollouts 1000] [--keep DIR]

Baselines measured in the same run: reading the run folders (parsing results.jsonl and
traces.jsonl) for the build time, and the report of a 3-rollout run for the page's load time.
"Longest task" is the longest stretch the page's main thread was busy (Chromium's long-task
entries, 50 ms and more) while doing that step; plotly.js's start-up is shown on its own.
The browser part needs Debian's chromium (scripts/install_chromium.sh) and is skipped without it.
"""

import argparse
import importlib.util
import json
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from rlm_env.run.html_report import find_runs, write_report
from rlm_env.run.results import RESULTS_FILE, TRACES_FILE, read_records


def _synthetic_run_module():
    """tests/synthetic_run.py, the generator the tests use too (tests/ is not a package)."""
    path = Path(__file__).resolve().parent.parent / "tests" / "synthetic_run.py"
    spec = importlib.util.spec_from_file_location("synthetic_run", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LONG_TASKS = """window.__long = [];
new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__long.push([e.startTime, e.duration]); })
  .observe({ type: "longtask", buffered: true });"""


def read_folder(folder: Path) -> None:
    """The baseline: what any reader of the run pays, parsing every record and trace."""
    for run in find_runs(folder):
        read_records(run)
        with (run / TRACES_FILE).open() as lines:
            for line in lines:
                json.loads(line)


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def browser_figures(report: Path, small: Path, rollouts: int) -> list[tuple[str, str]]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)

        def load(path: Path, view: str = ""):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.add_init_script(LONG_TASKS)
            start = time.perf_counter()
            page.goto(path.resolve().as_uri() + view)
            page.wait_for_selector("#rollout-list tbody tr")
            return page, time.perf_counter() - start

        def longest(page, since: float) -> float:
            return max((d for s, d in page.evaluate("window.__long") if s >= since), default=0.0)

        now = "performance.now()"
        _, small_load = load(small, "#rollouts")
        page, big_load = load(report, "#rollouts")
        load_task = longest(page, 0)

        mark = page.evaluate(now)
        start = time.perf_counter()
        page.fill("#filter-search", "part_3")
        page.select_option("#sort", "tokens")
        page.select_option("#filter-mode", "rlm")
        page.fill("#filter-search", "")
        page.select_option("#filter-mode", "")
        for _ in range(5):
            page.click("#page-next")
        list_seconds, list_task = time.perf_counter() - start, longest(page, mark)

        mark = page.evaluate(now)
        ids = range(0, rollouts, max(1, rollouts // 50))
        start = time.perf_counter()
        for i in ids:
            page.evaluate(f"location.hash = '#rollout/{i}'")
            page.wait_for_selector(f"#view-rollout[data-rollout='{i}']")
        open_ms, open_task = (time.perf_counter() - start) / len(ids) * 1000, longest(page, mark)

        page.evaluate("location.hash = '#rollouts'")
        page.wait_for_selector("#rollout-list tbody tr")
        mark = page.evaluate(now)
        for _ in range(40):
            page.mouse.wheel(0, 400)
            page.wait_for_timeout(25)
        page.evaluate(f"location.hash = '#rollout/{rollouts - 1}'")
        page.wait_for_selector("#rollout-facts")
        for _ in range(40):
            page.mouse.wheel(0, 400)
            page.wait_for_timeout(25)
        scroll_task = longest(page, mark)

        mark = page.evaluate(now)
        start = time.perf_counter()
        page.evaluate("location.hash = '#ablation'")
        page.wait_for_selector("#chart-stops .main-svg")
        charts, plotly_task = time.perf_counter() - start, longest(page, mark)
        browser.close()
    return [
        ("page load to the list (3-rollout report, baseline)", f"{small_load:.2f} s"),
        (
            f"page load to the list ({rollouts} rollouts)",
            f"{big_load:.2f} s ({big_load / small_load:.1f}x baseline), longest task {load_task:.0f} ms",
        ),
        ("filter, search, sort, 5 pages", f"{list_seconds:.2f} s, longest task {list_task:.0f} ms"),
        ("open a rollout page (mean of 50)", f"{open_ms:.0f} ms, longest task {open_task:.0f} ms"),
        ("scroll the list and a rollout page", f"longest task {scroll_task:.0f} ms"),
        ("first view of the charts (plotly.js start-up)", f"{charts:.2f} s, longest task {plotly_task:.0f} ms"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rollouts", type=int, default=1000, help="rollouts in all, over three modes (default: 1000)")
    parser.add_argument("--keep", type=Path, help="write the synthetic runs and reports here and keep them")
    args = parser.parse_args()
    synthetic = _synthetic_run_module()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-report-"))
    big, small = root / "ablation", root / "small"
    generated = timed(synthetic.write_synthetic_ablation, big, args.rollouts)
    synthetic.write_synthetic_run(small, "rlm", 3)

    baseline = min(timed(read_folder, big) for _ in range(2))
    start = time.perf_counter()
    report = write_report(big)
    build = time.perf_counter() - start
    write_report(small)
    data_bytes = sum((run / name).stat().st_size for run in find_runs(big) for name in (RESULTS_FILE, TRACES_FILE))
    size = report.stat().st_size

    table = Table(title=f"HTML report of a synthetic {args.rollouts}-rollout ablation", title_justify="left")
    table.add_column("figure")
    table.add_column("value")
    table.add_row(
        "synthetic run folders written", f"{generated:.1f} s, {data_bytes / 1e6:.1f} MB (results.jsonl + traces.jsonl)"
    )
    table.add_row("read the run folders (baseline)", f"{baseline:.2f} s")
    table.add_row("rlm-env report (read + build + write)", f"{build:.2f} s ({build / baseline:.1f}x baseline)")
    table.add_row("report size", f"{size / 1e6:.1f} MB ({size / data_bytes:.2f}x the run data; plotly.js 4.8 MB of it)")
    if CHROMIUM.exists():
        for name, value in browser_figures(report, small / "report.html", args.rollouts):
            table.add_row(name, value)
    else:
        table.add_row("browser figures", f"skipped: {CHROMIUM} missing (scripts/install_chromium.sh)")
    Console().print(table)
    print(f"report: {report}" if args.keep else f"(runs in {root}; pass --keep DIR to choose where)")


if __name__ == "__main__":
    main()
