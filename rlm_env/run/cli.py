"""`rlm-env`: evaluate an RLM environment, run the three-mode ablation, read a rollout.

Without --base-url, rlm-env serves the bundled GGUF model itself (llama.cpp on 127.0.0.1,
the `local` extra) for the root model and the sub-LLMs, and stops it at the end. Errors the
user can fix print one line naming the fix and exit with status 2.
"""

import argparse
import asyncio
import contextlib
import logging
import sys
import webbrowser
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rlm_env.harness.compat import UnsupportedVerifiersError
from rlm_env.run.local_model.model_file import DEFAULT_LOCAL_MODEL, LOCAL_MODELS, LocalModelError
from rlm_env.run.run_args import MODES, CLIError

# The commands import what they need when they run (verifiers, openai and scipy take seconds),
# so `rlm-env --help`, `doctor` and `view` start fast, and `doctor` works on any verifiers.

USER_ERROR = 2
EXAMPLES = """examples:
  rlm-env eval verbatim-copy-rlm -n 5                   # bundled local model, RLM mode
  rlm-env eval verbatim-copy-rlm --mode standard --model gpt-4.1-mini \\
      --base-url https://api.openai.com/v1 --api-key-var OPENAI_API_KEY
  rlm-env ablate verbatim-copy-rlm -n 3 --env-args '{"max_length": 300}'
  rlm-env ablate math-python-rlm -n 8 -r 4 --modes standard,rlm-tips   # pass@1, pass@4, learnable share
  rlm-env view outputs/verbatim-copy-rlm/rlm-20250101-120000 --rollout 2
  rlm-env report outputs/verbatim-copy-rlm/ablate-20250101-120000 --open
  rlm-env doctor                                        # which verifiers is active, bubblewrap, ...

Run `rlm-env COMMAND --help` for a command's options."""


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="rlm-env",
        epilog=EXAMPLES,
        description="Evaluate an RLM environment, compare its modes, read its rollouts.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    eval_ = commands.add_parser(
        "eval",
        help="run an environment in one mode and summarise it",
        description="Run ENV_ID in one mode, write every rollout to --out, print a summary.",
    )
    eval_.add_argument(
        "--mode",
        choices=list(MODES),
        default="rlm",
        help="standard: plain LLM; rlm: the REPL scaffold; rlm-tips: rlm + the env's hints (default: rlm)",
    )
    _run_arguments(eval_)

    ablate = commands.add_parser(
        "ablate",
        help="run all three modes and compare them",
        description="Run ENV_ID in every mode (standard, rlm, rlm-tips; or those --modes "
        "names) on the same tasks; write a markdown table and a PNG chart to "
        "--out and print the table.",
    )
    ablate.add_argument(
        "--modes",
        default=",".join(MODES),
        metavar="LIST",
        help=f"comma-separated modes to run, in this order (default: {','.join(MODES)})",
    )
    ablate.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=MODE:JSON",
        help="also run MODE with these harness arguments as a row called NAME, to measure a knob "
        "on and off in one run; repeatable, e.g. "
        '\'rlm-no-stop=rlm:{"protocol": {"stop_sequences": []}}\'',
    )
    _run_arguments(ablate)

    view = commands.add_parser(
        "view",
        help="show one rollout of a finished run",
        description="Show one rollout of a run folder: turns, code, outputs, sub-LLM calls, answer, reward.",
    )
    view.add_argument(
        "run_dir", type=Path, metavar="RUN_DIR", help="a run folder written by eval (or a mode folder of an ablation)"
    )
    view.add_argument("--rollout", type=int, default=0, metavar="K", help="rollout index (default: 0)")
    view.add_argument("--full", action="store_true", help="do not cut long texts")

    report = commands.add_parser(
        "report",
        help="write a run's HTML report (charts and every rollout)",
        description="Write one self-contained HTML file for a run or ablation folder: the "
        "ablation table and charts, the rollout list, every rollout's turns, "
        "cells and sub-LLM calls.",
    )
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run folder (eval) or an ablation folder")
    report.add_argument("--out", type=Path, metavar="FILE", help="where to write it (default: RUN_DIR/report.html)")
    report.add_argument("--open", action="store_true", help="open it in a browser, where one exists")

    commands.add_parser(
        "doctor",
        help="check this environment: verifiers version, runtime API, bubblewrap, local model",
        description="Print what rlm-env finds here (Python, rlm-env, the active verifiers and whether "
        "it is supported, its runtime API, bubblewrap, the local model's parts); exit 1 "
        "when something rollouts need is missing.",
    )
    return top


def _run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("env_id", metavar="ENV_ID", help="environment id, e.g. verbatim-copy-rlm")
    p.add_argument("-n", "--num-tasks", type=int, default=5, metavar="N", help="tasks to run (default: 5; 0 = all)")
    p.add_argument("-r", "--rollouts", type=int, default=1, metavar="R", help="rollouts per task (default: 1)")
    p.add_argument("-c", "--concurrency", type=int, default=4, metavar="C", help="rollouts at once (default: 4)")
    p.add_argument("--env-args", metavar="JSON", help="taskset config fields, e.g. '{\"num_examples\": 5}'")
    p.add_argument(
        "--harness-args", metavar="JSON", help='RLM harness config fields, e.g. \'{"budgets": {"max_turns": 8}}\''
    )
    endpoint = p.add_argument_group("model endpoint (default: the bundled local model)")
    endpoint.add_argument("--model", metavar="M", help="model name at --base-url (default: the only one it serves)")
    endpoint.add_argument("--base-url", metavar="URL", help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1")
    endpoint.add_argument(
        "--api-key-var",
        default="OPENAI_API_KEY",
        metavar="VAR",
        help="environment variable holding the API key (default: OPENAI_API_KEY)",
    )
    endpoint.add_argument(
        "--local-model",
        default=DEFAULT_LOCAL_MODEL,
        metavar="MODEL",
        help=f"local model without --base-url: {' or '.join(LOCAL_MODELS)} or a .gguf path "
        f"(default: {DEFAULT_LOCAL_MODEL})",
    )
    endpoint.add_argument("--port", type=int, default=0, help="port of the local model server (default: any free one)")
    endpoint.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="CPU threads of the local model server (default: all CPUs; on a busy shared machine "
        "1 can be several times faster)",
    )
    endpoint.add_argument("--temperature", type=float, metavar="T", help="sampling temperature for every model call")
    endpoint.add_argument("--max-tokens", type=int, metavar="N", help="completion-token cap per model call")
    p.add_argument(
        "--pass-threshold",
        type=float,
        default=1.0,
        metavar="T",
        help="a rollout passes (for pass@1, pass@K) when its reward >= T (default: 1.0)",
    )
    p.add_argument("--out", type=Path, metavar="DIR", help="output folder (default: outputs/ENV_ID/MODE-TIMESTAMP)")
    p.add_argument("-v", "--verbose", action="store_true", help="log what verifiers and rlm-env do")


def _plan(args: argparse.Namespace):
    from rlm_env.run.evaluate import RunPlan, Variant, parse_json_object

    for flag, value, least in (
        ("-n", args.num_tasks, 0),
        ("-r", args.rollouts, 1),
        ("-c", args.concurrency, 1),
        ("--threads", 1 if args.threads is None else args.threads, 1),
    ):
        if value < least:
            raise CLIError(f"{flag} must be at least {least}, got {value}")
    sampling = {
        key: value
        for key, value in (("temperature", args.temperature), ("max_tokens", args.max_tokens))
        if value is not None
    }
    return RunPlan(
        env_id=args.env_id,
        num_tasks=args.num_tasks or None,
        rollouts_per_task=args.rollouts,
        concurrency=args.concurrency,
        env_args=parse_json_object("--env-args", args.env_args),
        harness_args=parse_json_object("--harness-args", args.harness_args),
        sampling=sampling,
        pass_threshold=args.pass_threshold,
        variants={v.name: v for v in map(Variant.parse, getattr(args, "variant", []))},
    )


def _default_out(env_id: str, name: str) -> Path:
    return Path("outputs") / env_id / f"{name}-{datetime.now():%Y%m%d-%H%M%S}"


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("reward {task.fields[reward]}"),
        TimeElapsedColumn(),
        console=console,
    )


def _run(args: argparse.Namespace, modes: list[str], out: Path, err: Console):
    """Run `modes` one after the other against one endpoint; returns {mode: summary}."""
    from rlm_env.run.evaluate import env_config, open_endpoint, run_mode
    from rlm_env.run.results import holds_run

    plan = _plan(args)
    folders = {mode: out if len(modes) == 1 else out / mode for mode in modes}
    for mode in modes:  # fail on bad ids, arguments and folders before a model server starts
        base_mode, harness_args = plan.resolve(mode)
        env_config(plan.env_id, base_mode, plan.env_args, harness_args)
        if holds_run(folders[mode]):
            raise CLIError(f"{folders[mode]} already holds a run; pass another --out or remove it")
    summaries = {}
    parallel = max(4, plan.concurrency)  # llama.cpp slots: root calls and sub-LLM calls share them
    with open_endpoint(
        args.base_url,
        args.model,
        args.api_key_var,
        args.local_model,
        args.port,
        parallel,
        say=lambda text: err.print(text, style="dim", markup=False),
        threads=args.threads,
    ) as endpoint:
        with _progress(err) as progress:
            for mode in modes:
                summaries[mode] = asyncio.run(run_mode(plan, mode, endpoint, folders[mode], progress))
    return summaries


def cmd_eval(args: argparse.Namespace, out_console: Console, err: Console) -> int:
    from rlm_env.run.report import summary_table

    out = args.out or _default_out(args.env_id, args.mode)
    summary = _run(args, [args.mode], out, err)[args.mode]
    out_console.print(summary_table(summary))
    out_console.print(f"results: {out}  (read a rollout: rlm-env view {out} --rollout 0)", markup=False, soft_wrap=True)
    return 0


def cmd_ablate(args: argparse.Namespace, out_console: Console, err: Console) -> int:
    from rlm_env.run.evaluate import Variant
    from rlm_env.run.report import ABLATION_CHART, ABLATION_MARKDOWN, ablation_chart, ablation_markdown

    out = args.out or _default_out(args.env_id, "ablate")
    variants = [Variant.parse(text).name for text in args.variant]
    if len(set(variants)) != len(variants):
        raise CLIError(f"--variant names must differ, got {', '.join(variants)}")
    summaries = _run(args, _modes(args.modes) + variants, out, err)
    table = ablation_markdown(summaries)
    (out / ABLATION_MARKDOWN).write_text(table)
    ablation_chart(summaries, out / ABLATION_CHART)
    out_console.print(
        f"results: {out}/<mode>/, table: {out / ABLATION_MARKDOWN}, chart: {out / ABLATION_CHART}",
        markup=False,
        soft_wrap=True,
    )
    out_console.print()
    out_console.print(table, markup=False, highlight=False, soft_wrap=True)
    return 0


def _modes(text: str) -> list[str]:
    modes = [mode.strip() for mode in text.split(",") if mode.strip()]
    unknown = [mode for mode in modes if mode not in MODES]
    if unknown or not modes or len(set(modes)) != len(modes):
        raise CLIError(
            f"--modes {text!r}: give distinct modes from {', '.join(MODES)}, comma-separated "
            "(e.g. --modes standard,rlm-tips)"
        )
    return modes


def cmd_view(args: argparse.Namespace, out_console: Console, err: Console) -> int:
    from rlm_env.run.results import read_records
    from rlm_env.run.view import render_rollout

    try:
        records = read_records(args.run_dir)
    except FileNotFoundError as error:
        raise CLIError(
            f"{error}; pass the folder that `rlm-env eval` wrote (for an ablation, one of its mode folders)"
        ) from None
    matches = [r for r in records if r["index"] == args.rollout]
    if not matches:
        raise CLIError(f"no rollout {args.rollout} in {args.run_dir}: it has rollouts 0-{len(records) - 1}")
    out_console.print(render_rollout(matches[0], limit=None if args.full else 1500))
    return 0


def cmd_report(args: argparse.Namespace, out_console: Console, err: Console) -> int:
    from rlm_env.run.html_report import ReportInputError, write_report

    try:
        path = write_report(args.run_dir, args.out)
    except ReportInputError as error:
        raise CLIError(str(error)) from None
    print(path)
    if args.open and not webbrowser.open(path.resolve().as_uri()):
        err.print(f"no browser found here; open {path} in one", markup=False)
    return 0


class _DropSubprocessWarning(logging.Filter):
    """verifiers warns that code-running harnesses on the subprocess runtime are unisolated;
    ours runs model code only in its own sandboxed REPL worker, so the warning misleads."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "running in the subprocess runtime" not in record.getMessage()


@contextlib.contextmanager
def _logging_to(err: Console, verbose: bool):
    """Route log records to stderr through rich for the command, then put logging back as it was
    (main() also runs in-process, from tests and notebooks)."""
    root = logging.getLogger()
    handler = RichHandler(console=err, show_time=False, show_path=False)
    handler.addFilter(_DropSubprocessWarning())
    saved = root.level, root.handlers[:], logging.getLogger("httpx").level
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    if not verbose:
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
    try:
        yield
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        logging.getLogger("httpx").setLevel(saved[2])


def cmd_doctor(args: argparse.Namespace, out_console: Console, err: Console) -> int:
    from rlm_env.run import doctor

    return doctor.main()


COMMANDS = {"eval": cmd_eval, "ablate": cmd_ablate, "view": cmd_view, "report": cmd_report, "doctor": cmd_doctor}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    out_console, err = Console(), Console(stderr=True)
    try:
        with _logging_to(err, getattr(args, "verbose", False)):
            return COMMANDS[args.command](args, out_console, err)
    except (CLIError, LocalModelError, UnsupportedVerifiersError) as error:
        # print, not rich: one line exactly as written, whatever the terminal width
        message = " ".join(str(error).split())
        print(f"rlm-env: error: {message}", file=sys.stderr)
        return USER_ERROR
    except KeyboardInterrupt:
        print("rlm-env: interrupted; finished rollouts are in the output folder", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
