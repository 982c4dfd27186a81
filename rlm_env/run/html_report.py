"""`rlm-env report`: a run folder (or an ablation folder) as one self-contained HTML file.

The page has three views: the ablation (one table row and one bar per mode: reward with its
95% interval, pass@k and learnable share when the summary has them, root and sub-LLM tokens,
time, stop reasons, and the config of each mode), the rollout list (filter by mode, reward,
stop reason; search answers and code; sort by tokens or time) and one page per rollout (each
root turn with its highlighted code, the cell output marked where the REPL cut it, the
`llm_batch` calls of that cell down to each sub-LLM's prompt, reply, tool calls and tokens,
the answer beside the gold, reward, metrics and errors).

Where the data comes from, per run folder (see rlm_env.run.results):

    config.json     the config of the run, shown as is
    results.jsonl   the rollout records; a line that is not a JSON object is reported in the
                    page and skipped, the rest rendered
    summary.json    the table figures; computed from results.jsonl when it is missing
    traces.jsonl    optional: tokens and time of every model call, each sub-LLM's whole
                    conversation (tool calls included) and the gold answer of each task

Large runs: every rollout body is embedded once, as its own JSON script element that the page
parses only when the rollout is opened; the list is drawn a page at a time; one text shows at
most a few thousand characters until expanded. Nothing is fetched at view time: the styles,
the page's script and plotly.js are inlined.
"""

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from plotly.offline import get_plotlyjs
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer
from rapidfuzz.distance import Levenshtein

from rlm_env.core.parsing import extract_code, text_tool_calls
from rlm_env.core.prompts import PYTHON_TOOL_NAME, REPL_OUTPUT_PREFIX
from rlm_env.core.rollout import root_turn
from rlm_env.run.evaluate import MODES
from rlm_env.run.report import fmt, reward_text
from rlm_env.run.results import CONFIG_FILE, RESULTS_FILE, SUMMARY_FILE, TRACES_FILE, figure, summarize

REPORT_FILE = "report.html"
ASSETS = Path(__file__).with_name("report_assets")

MAX_EMBEDDED_CHARS = 50_000
"""Longest text embedded in the page; longer ones are cut with a note pointing at results.jsonl
(oolong's standard mode puts whole contexts into the prompt)."""
MAX_DIFF_CHARS = 100_000
"""Longest answer or gold that gets a character diff."""
MAX_DIFF_OPS = 2_000
"""More edit operations than this and the two texts are too different for a useful diff."""
DIFF_ENVS = ("verbatim-copy",)
"""Environments (id prefixes) whose answer is compared with the gold character by character."""
GOLD_FIELDS = ("answer", "text")
"""Task data fields holding the gold answer, first found wins (verbatim-copy's is `text`)."""
# The loop sends outputs of code without a native tool call back as a user turn with a prefix
# (rlm_env.core.loop: REPL_OUTPUT_PREFIX in RLM mode, this literal in standard mode).
OUTPUT_PREFIXES = (REPL_OUTPUT_PREFIX, "Tool output:\n")
# rlm_env.repl.worker marks the middle it cut out of a long cell output this way.
FENCED = re.compile(r"```[^\n]*\n.*?```", re.DOTALL)
TRUNCATION_MARK = re.compile(r"\[\.\.\. output truncated: ([\d,]+) characters not shown \.\.\.\]")


class ReportInputError(ValueError):
    """The folder cannot be reported on; the message says what is missing and what to pass."""


# --------------------------------------------------------------------------- reading run folders


@dataclass
class Run:
    """One run folder as read from disk, with what was wrong with it."""

    name: str
    """The mode folder's name in an ablation, else the run folder's name."""
    path: Path
    config: dict[str, Any]
    summary: dict[str, Any]
    records: list[dict[str, Any]]
    traces: dict[str, dict[str, Any]] = field(default_factory=dict)
    """trace id -> the parts of verifiers' trace the page uses (see `_trace_view`)."""
    problems: list[str] = field(default_factory=list)


def is_run_folder(folder: Path) -> bool:
    return any((folder / name).is_file() for name in (CONFIG_FILE, RESULTS_FILE, TRACES_FILE))


def find_runs(folder: Path) -> list[Path]:
    """The run folder itself, or the mode folders of an ablation folder (modes in MODES order)."""
    if not folder.exists():
        raise ReportInputError(f"{folder} does not exist; pass a folder that `rlm-env eval` or `rlm-env ablate` wrote")
    if not folder.is_dir():
        raise ReportInputError(f"{folder} is a file, not a run folder; pass the folder that holds {RESULTS_FILE}")
    if is_run_folder(folder):
        return [folder]
    runs = [sub for sub in folder.iterdir() if sub.is_dir() and is_run_folder(sub)]
    if not runs:
        raise ReportInputError(
            f"{folder} is not a run folder: it has no {CONFIG_FILE} or {RESULTS_FILE}, and no folder in it has "
            f"one (an ablation has one per mode: {', '.join(MODES)}); pass a folder that `rlm-env eval` or "
            "`rlm-env ablate` wrote"
        )
    order = list(MODES)
    return sorted(runs, key=lambda p: (order.index(p.name) if p.name in order else len(order), p.name))


def read_run(path: Path, name: str | None = None) -> Run:
    """A run folder, reading past what is damaged: each problem is kept as one line of text."""
    problems: list[str] = []
    config = _read_json_object(path / CONFIG_FILE, problems)
    records = list(_read_records(path / RESULTS_FILE, problems))
    summary = _read_json_object(path / SUMMARY_FILE, problems, missing_ok=True)
    if not summary:
        summary = {key: config.get(key) for key in ("env_id", "mode", "model")} | summarize(records)
        summary["run_seconds"] = None
        if records:
            problems.append(
                f"{SUMMARY_FILE} is missing (the run did not finish?): the figures are computed from "
                f"the {len(records)} rollouts in {RESULTS_FILE}"
            )
    traces = _read_traces(path / TRACES_FILE, problems)
    if not records:
        problems.append(f"no rollout was recorded in {path / RESULTS_FILE}")
    return Run(name or path.name, path, config, summary, records, traces, problems)


def _read_json_object(path: Path, problems: list[str], missing_ok: bool = False) -> dict[str, Any]:
    if not path.is_file():
        if not missing_ok:
            problems.append(f"{path.name} is missing")
        return {}
    try:
        value = json.loads(path.read_text(errors="replace"))
    except json.JSONDecodeError as error:
        problems.append(f"{path.name} is not valid JSON ({error}); left out")
        return {}
    if not isinstance(value, dict):
        problems.append(f"{path.name} holds a JSON {type(value).__name__}, not an object; left out")
        return {}
    return value


def _json_lines(path: Path, problems: list[str]) -> Iterable[dict[str, Any]]:
    """The JSON objects of a .jsonl file; each other non-blank line becomes a problem."""
    if not path.is_file():
        return
    with path.open(errors="replace") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as error:
                problems.append(
                    f"{path.name} line {number} is not valid JSON ({error.msg} at column {error.colno}); skipped"
                )
                continue
            if not isinstance(value, dict):
                problems.append(f"{path.name} line {number} is a JSON {type(value).__name__}, not a record; skipped")
                continue
            yield value


def _read_records(path: Path, problems: list[str]) -> Iterable[dict[str, Any]]:
    records = list(_json_lines(path, problems))
    for position, record in enumerate(records):
        record.setdefault("index", position)
    return sorted(records, key=lambda r: r["index"] if isinstance(r["index"], int) else 0)


def _read_traces(path: Path, problems: list[str]) -> dict[str, dict[str, Any]]:
    traces = {}
    for episode in _json_lines(path, problems):
        for trace in episode.get("traces") or []:
            if isinstance(trace, dict) and trace.get("id"):
                traces[trace["id"]] = _trace_view(trace)
    return traces


def _trace_view(trace: dict[str, Any]) -> dict[str, Any]:
    """What the page needs from one verifiers trace: each model call's tokens and time by
    request id, the message graph (for sub-LLM conversations) and the gold answer."""
    calls = {}
    for call in trace.get("calls") or []:
        request_id = (call.get("acp") or {}).get("request_id")
        if not request_id:
            continue
        usage, time = call.get("usage") or {}, call.get("time") or {}
        calls[request_id] = {
            "prompt_tokens": usage.get("prompt_tokens"),
            "completion_tokens": usage.get("completion_tokens"),
            "start": time.get("start"),
            "end": time.get("end"),
            "finish_reason": call.get("finish_reason"),
            "node": call.get("node"),
        }
    data = (trace.get("task") or {}).get("data") or {}
    gold = next((data[name] for name in GOLD_FIELDS if isinstance(data.get(name), str)), None)
    nodes = [(node.get("parent"), node.get("message") or {}) for node in trace.get("nodes") or []]
    return {"calls": calls, "nodes": nodes, "gold": gold}


# --------------------------------------------------------------------------- one rollout for the page


def _cut(text: Any, limit: int = MAX_EMBEDDED_CHARS) -> str:
    text = text if isinstance(text, str) else ("" if text is None else json.dumps(text, default=str))
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n… [{len(text) - limit:,} more characters not embedded in this report; see {RESULTS_FILE}]"


def content_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):  # content parts: keep the text ones
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


_LEXER, _FORMATTER = PythonLexer(), HtmlFormatter(nowrap=True)  # built once: building them is slow


def highlight_python(code: str) -> str:
    """Escaped, highlighted HTML (pygments) for the page to insert as markup."""
    return highlight(code, _LEXER, _FORMATTER)


def _function(call: dict[str, Any]) -> tuple[str, Any]:
    """Name and arguments of a tool call: native calls nest them under "function", the
    transcript's (verifiers' message dump) keeps them on the call."""
    function = call.get("function") if isinstance(call.get("function"), dict) else call
    return str(function.get("name") or ""), function.get("arguments", "")


def _code_argument(arguments: Any) -> str | None:
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
    except json.JSONDecodeError:
        return None  # a malformed call is shown as written, with the error the model got
    code = parsed.get("code") if isinstance(parsed, dict) else None
    return code if isinstance(code, str) else None


def _units(message: dict[str, Any], rlm: bool) -> tuple[list[dict[str, Any]], str]:
    """What one assistant turn asked to run, in the order the loop ran it (rlm_env.core.loop), and
    the turn's text with the code shown as units taken out."""
    content = content_text(message)
    calls, text, from_text = message.get("tool_calls") or [], content, False
    if not calls and rlm:
        calls = text_tool_calls(content)
        if calls:
            from_text, text = True, ""
        elif (code := extract_code(content)) is not None:
            return [{"code": code, "call_id": None}], FENCED.sub("", content).strip() if FENCED.search(content) else ""
    units = []
    for call in calls:
        name, arguments = _function(call)
        code = _code_argument(arguments) if name == PYTHON_TOOL_NAME else None
        units.append(
            {"code": code, "call_id": None if from_text else call.get("id"), "tool": name, "arguments": _cut(arguments)}
        )
    return units, text


def _cell_view(cell: dict[str, Any]) -> dict[str, Any]:
    output = cell.get("output") or ""
    mark = TRUNCATION_MARK.search(output)
    return {
        "output": _cut(output),
        "seconds": cell.get("seconds"),
        "timed_out": bool(cell.get("timed_out")),
        "restarted": bool(cell.get("restarted")),
        "truncated_chars": int(mark.group(1).replace(",", "")) if mark else 0,
    }


def _tokens(trace: dict[str, Any] | None, request_ids: Iterable[str]) -> dict[str, Any] | None:
    """Tokens and seconds of the model calls with these request ids, summed; None without a trace."""
    calls = [trace["calls"][rid] for rid in request_ids if trace and rid in trace["calls"]]
    if not calls:
        return None
    starts = [c["start"] for c in calls if c["start"] is not None]
    ends = [c["end"] for c in calls if c["end"] is not None]
    return {
        "prompt": sum(c["prompt_tokens"] or 0 for c in calls),
        "completion": sum(c["completion_tokens"] or 0 for c in calls),
        "seconds": max(ends) - min(starts) if starts and ends else None,
        "finish_reason": calls[-1]["finish_reason"],
    }


def _conversation(trace: dict[str, Any] | None, request_id: str | None) -> list[dict[str, Any]]:
    """The messages up to and including the reply of `request_id`, system prompt left out."""
    if not trace or request_id not in trace["calls"]:
        return []
    node, chain = trace["calls"][request_id]["node"], []
    nodes = trace["nodes"]
    while isinstance(node, int) and 0 <= node < len(nodes) and len(chain) < 1000:
        parent, message = nodes[node]
        chain.append(message)
        node = parent
    return [_message_view(m) for m in reversed(chain) if m.get("role") != "system"]


def _message_view(message: dict[str, Any]) -> dict[str, Any]:
    view: dict[str, Any] = {"role": message.get("role"), "content": _cut(content_text(message))}
    calls = [
        {"name": name, "arguments": _cut(arguments)}
        for name, arguments in map(_function, message.get("tool_calls") or [])
    ]
    if calls:
        view["tool_calls"] = calls
    return view


def _sub_call_view(call: dict[str, Any], trace: dict[str, Any] | None) -> dict[str, Any]:
    request_ids = [rid for rid in call.get("request_ids") or [] if isinstance(rid, str)]
    view = {
        "index": call.get("index"),
        "prompt": _cut(call.get("prompt")),
        "reply": _cut(call.get("reply")),
        "error": call.get("error"),
        "turns": call.get("turns"),
        "tool_calls": call.get("tool_calls"),
        "depth": call.get("depth"),
        "tokens": _tokens(trace, request_ids),
    }
    # The whole conversation only where it holds more than the prompt and the reply.
    if (call.get("turns") or 0) > 1 or (call.get("tool_calls") or 0) > 0:
        view["conversation"] = _conversation(trace, request_ids[-1] if request_ids else None)
    children = call.get("children")
    if isinstance(children, list):  # sub-LLMs that called sub-LLMs (depth > 1)
        view["children"] = [_sub_call_view(child, trace) for child in children if isinstance(child, dict)]
    return view


def _char_diff(answer: str, gold: str) -> list[list[Any]] | None:
    """Edit operations turning the answer into the gold, as [tag, a_start, a_end, g_start, g_end]."""
    if len(answer) > MAX_DIFF_CHARS or len(gold) > MAX_DIFF_CHARS:
        return None
    ops = Levenshtein.opcodes(answer, gold)
    if len(ops) > MAX_DIFF_OPS:
        return None
    return [[op.tag, op.src_start, op.src_end, op.dest_start, op.dest_end] for op in ops]


def rollout_view(
    record: dict[str, Any], trace: dict[str, Any] | None, *, env_id: str, system_prompts: dict[str, int]
) -> dict[str, Any]:
    """One rollout laid out for the page: prompt, turns with their cells and sub-LLM calls, answer.

    `system_prompts` numbers the distinct system prompts of the report; a rollout refers to its
    own by number, so the same long RLM instructions are embedded once, not once per rollout.
    """
    rlm = record.get("mode") == "rlm"
    messages = [m for m in record.get("transcript") or [] if isinstance(m, dict)]
    prompt = record.get("prompt") or {}
    if not messages:  # a rollout that failed before its first call: show the task's prompt
        user = prompt.get("user")
        messages = [
            {"role": role, "content": content if isinstance(content, str) else json.dumps(content)}
            for role, content in (("system", prompt.get("system")), ("user", user))
            if content
        ]
    first_turn = next((i for i, m in enumerate(messages) if m.get("role") == "assistant"), len(messages))
    system = "\n\n".join(content_text(m) for m in messages[:first_turn] if m.get("role") == "system")
    user = "\n\n".join(content_text(m) for m in messages[:first_turn] if m.get("role") != "system")

    cells = [c for c in record.get("cells") or [] if isinstance(c, dict)]
    subs_by_parent: dict[str, list[dict]] = {}
    for call in record.get("sub_llm_calls") or []:
        if isinstance(call, dict):
            subs_by_parent.setdefault(call.get("parent_request_id") or "", []).append(call)

    turns: list[dict[str, Any]] = []
    for message in messages[first_turn:]:
        role = message.get("role")
        if role == "assistant":
            turns.append(_turn(message, len(turns) + 1, rlm, cells, subs_by_parent, trace))
        elif turns:
            _attach_reply(turns[-1], message)
    codes = []
    for turn in turns:
        del turn["_pending"]
        codes += turn.pop("_codes")
    leftover_cells = [_cell_view(c) | {"code_html": highlight_python(c.get("code") or "")} for c in cells]
    leftover_subs = [_sub_call_view(c, trace) for calls in subs_by_parent.values() for c in calls]

    answer = record.get("answer") if isinstance(record.get("answer"), str) else ""
    gold = trace["gold"] if trace else None
    diff = _char_diff(answer, gold) if gold is not None and env_id.startswith(DIFF_ENVS) else None
    return {
        "index": record.get("index"),
        "task_id": record.get("task_id"),
        "rollout": record.get("rollout"),
        "mode": record.get("mode"),
        "env_tips": record.get("env_tips"),
        "ok": record.get("ok"),
        "reward": record.get("reward"),
        "rewards": record.get("rewards") or {},
        "stop_reason": record.get("stop_reason"),
        "stop_condition": record.get("stop_condition"),
        "seconds": record.get("seconds"),
        "errors": [
            {"type": str(e.get("type")), "message": str(e.get("message"))}
            for e in record.get("errors") or []
            if isinstance(e, dict)
        ],
        "metrics": record.get("metrics") or {},
        "system": system_prompts.setdefault(system, len(system_prompts)),
        "user": _cut(user),
        "turns": turns,
        "leftover_cells": leftover_cells,
        "leftover_sub_calls": leftover_subs,
        "answer": _cut(answer),
        "gold": None if gold is None else _cut(gold),
        "diff": diff,
        "_codes": codes + [c.get("code") or "" for c in cells],
    }


def _turn(
    message: dict, number: int, rlm: bool, cells: list[dict], subs_by_parent: dict[str, list[dict]], trace: dict | None
) -> dict[str, Any]:
    request_id = root_turn(number)
    units, text = _units(message, rlm)
    codes = []
    for unit in units:
        code = unit.pop("code")
        if code is None:
            continue
        codes.append(code)
        # Cells are recorded in the order they ran; a unit whose code did not run (a malformed
        # call) has none, and shows the error the model got instead.
        if cells and cells[0].get("code") == code:
            unit["cell"] = _cell_view(cells.pop(0))
        unit["code_html"] = highlight_python(code)
        unit.pop("arguments", None)
    return {
        "number": number,
        "tokens": _tokens(trace, [request_id]),
        "text": _cut(text),
        "units": units,
        "notes": [],
        "sub_calls": [_sub_call_view(c, trace) for c in subs_by_parent.pop(request_id, [])],
        "_pending": [u for u in units if "cell" not in u],
        "_codes": codes,
    }


def _attach_reply(turn: dict[str, Any], message: dict[str, Any]) -> None:
    """A message after an assistant turn: the result of a unit that has no cell record (tool
    results, errors), nothing (a cell output the cell record already shows), or a note from the
    harness (a reminder, a context warning)."""
    body = content_text(message)
    if message.get("role") == "tool":
        pending = turn["_pending"]
        unit = next((u for u in pending if u.get("call_id") == message.get("tool_call_id")), None)
        if unit is None and pending and not any(u.get("call_id") for u in pending):
            unit = pending[0]
        if unit is not None:
            unit["result"] = _cut(body)
            pending.remove(unit)
        elif not any("cell" in u for u in turn["units"]):
            turn["notes"].append(_cut(body))
        return
    prefix = next((p for p in OUTPUT_PREFIXES if body.startswith(p)), None)
    if prefix is not None and turn["_pending"]:
        turn["_pending"][0]["result"] = _cut(body.removeprefix(prefix))
        turn["_pending"].clear()
    elif prefix is None or not any("cell" in u for u in turn["units"]):
        turn["notes"].append(_cut(body))


# --------------------------------------------------------------------------- the page's data


def _row(run_number: int, record: dict[str, Any], view: dict[str, Any]) -> dict[str, Any]:
    """The list's line for one rollout, with the text the search box looks in (answer and code)."""
    codes = view.pop("_codes")
    return {
        "run": run_number,
        "index": record.get("index"),
        "task": record.get("task_id"),
        "rollout": record.get("rollout"),
        "reward": record.get("reward"),
        "ok": record.get("ok"),
        "stop": record.get("stop_reason") or "?",
        "root_tokens": figure(record, "root_tokens"),
        "sub_tokens": figure(record, "sub_llm_tokens"),
        "seconds": record.get("seconds"),
        "turns": (record.get("metrics") or {}).get("root_turns"),
        "sub_calls": (record.get("metrics") or {}).get("sub_llm_calls"),
        "errors": [e.get("type") for e in record.get("errors") or [] if isinstance(e, dict)],
        "preview": (view["answer"] or "")[:120],
        "search": "\n".join([view["answer"], *codes]),
    }


def _interval(reward: dict[str, Any]) -> str:
    """The reward as rlm_env.run.report writes it, or "-" for a summary without one."""
    return reward_text(reward) if {"mean", "ci95", "n"} <= reward.keys() else "-"


def mode_row(run: Run) -> dict[str, Any]:
    """The ablation table's row of one run, as display strings."""
    s = run.summary
    means = s.get("means") or {}
    learn = s.get("learnability") or {}

    def share(key: str) -> str:
        value = learn.get(key)
        return "-" if value is None else f"{value:.3f}"

    row = {
        "mode": run.name,
        "reward": _interval(s.get("reward") or {}),
        "root_tokens": fmt(means.get("root_tokens"), 0),
        "sub_tokens": fmt(means.get("sub_llm_tokens"), 0),
        "turns": fmt(means.get("turns")),
        "sub_calls": fmt(means.get("sub_llm_calls")),
        "seconds": fmt(means.get("rollout_seconds")),
        "rollouts": f"{s.get('rollouts', 0)} ({s.get('failed', 0)})",
        "stop_reasons": ", ".join(f"{k} {v}" for k, v in (s.get("stop_reasons") or {}).items()) or "-",
        "errors": ", ".join(f"{k} {v}" for k, v in (s.get("errors") or {}).items()),
    }
    if learn:
        row |= {
            "k": str(learn.get("k", "-")),
            "pass_at_1": share("pass_at_1"),
            "pass_at_k": share("pass_at_k"),
            "learnable_share": share("learnable_share"),
            "within_std": share("within_task_reward_std"),
            "llm_batch_share": share("llm_batch_share"),
            "answer_ready_share": share("answer_ready_share"),
        }
    return row


def charts(runs: list[Run]) -> list[dict[str, Any]]:
    """Plotly figures (data + layout) of the ablation, one bar per mode."""
    modes = [run.name for run in runs]
    summaries = [run.summary for run in runs]
    means = [s.get("means") or {} for s in summaries]

    def bars(name: str, values: list[Any], **extra: Any) -> dict[str, Any]:
        return {"type": "bar", "name": name, "x": modes, "y": values, **extra}

    rewards = [s.get("reward") or {} for s in summaries]
    heights = [r.get("mean") for r in rewards]
    ci = [(r.get("ci95") or [h, h]) if h is not None else [None, None] for r, h in zip(rewards, heights, strict=True)]
    figures = [
        {
            "id": "reward",
            "title": "reward (mean, 95% CI)",
            "data": [
                bars(
                    "reward",
                    heights,
                    error_y={
                        "type": "data",
                        "symmetric": False,
                        "array": [None if h is None else hi - h for h, (_, hi) in zip(heights, ci, strict=True)],
                        "arrayminus": [None if h is None else h - lo for h, (lo, _) in zip(heights, ci, strict=True)],
                    },
                    hovertext=[_interval(r) for r in rewards],
                    hoverinfo="x+text",
                )
            ],
        }
    ]
    learn = [s.get("learnability") or {} for s in summaries]
    if any(learn):
        k = next((item.get("k") for item in learn if item.get("k")), "k")
        figures.append(
            {
                "id": "learnability",
                "title": "pass@k and learnable share",
                "data": [
                    bars("pass@1", [item.get("pass_at_1") for item in learn]),
                    bars(f"pass@{k}", [item.get("pass_at_k") for item in learn]),
                    bars("learnable share", [item.get("learnable_share") for item in learn]),
                ],
            }
        )
    figures += [
        {
            "id": "tokens",
            "title": "tokens per rollout",
            "data": [
                bars("root model", [m.get("root_tokens") for m in means]),
                bars("sub-LLMs", [m.get("sub_llm_tokens") for m in means]),
            ],
        },
        {
            "id": "time",
            "title": "seconds per rollout",
            "data": [
                bars("rollout", [m.get("rollout_seconds") for m in means]),
                bars("REPL", [m.get("repl_seconds") for m in means]),
            ],
        },
    ]
    reasons = list(dict.fromkeys(reason for s in summaries for reason in s.get("stop_reasons") or {}))
    figures.append(
        {
            "id": "stops",
            "title": "stop reasons (rollouts)",
            "stacked": True,
            "data": [
                bars(reason, [(s.get("stop_reasons") or {}).get(reason, 0) for s in summaries]) for reason in reasons
            ],
        }
    )
    return figures


def _config_view(run: Run) -> list[tuple[str, str]]:
    """What produced the run, in a few lines; the whole config.json is shown beside it."""
    c = run.config
    items = [
        ("env", c.get("env_id")),
        ("mode", c.get("mode")),
        ("model", c.get("model")),
        ("endpoint", c.get("local_model") and f"local model {c['local_model']}" or c.get("base_url")),
        ("tasks", c.get("num_tasks")),
        ("rollouts per task", c.get("rollouts_per_task")),
        ("concurrency", c.get("concurrency")),
        ("started", c.get("started_at")),
    ]
    for key in ("env_args", "harness_args", "sampling", "versions"):
        if c.get(key):
            items.append((key.replace("_", " "), json.dumps(c[key])))
    return [(k, str(v)) for k, v in items if v not in (None, "")]


def report_data(runs: list[Run]) -> tuple[dict[str, Any], list[str]]:
    """The page's data (list rows, figures, system prompts) and each rollout body as JSON text."""
    system_prompts: dict[str, int] = {}
    rows, bodies = [], []
    for number, run in enumerate(runs):
        env_id = run.config.get("env_id") or run.summary.get("env_id") or ""
        for record in run.records:
            trace = run.traces.get(record.get("trace_id") or "")
            view = rollout_view(record, trace, env_id=env_id, system_prompts=system_prompts)
            rows.append(_row(number, record, view) | {"id": len(rows)})
            bodies.append(_script_json(view))
    data = {
        "runs": [{"name": run.name, "mode": run.config.get("mode") or run.summary.get("mode")} for run in runs],
        "rows": rows,
        "charts": charts(runs),
        "system_prompts": [_cut(s) for s in system_prompts],
    }
    return data, bodies


def _script_json(value: Any) -> str:
    """JSON safe inside a <script> element: no "<" at all, so no "</script>" or "<!--"."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str).replace("<", "\\u003c")


def build_report(folder: Path) -> str:
    """The HTML of the report of a run folder or an ablation folder."""
    runs = [read_run(path, None if path == folder else path.name) for path in find_runs(folder)]
    first = runs[0]
    env_id = first.config.get("env_id") or first.summary.get("env_id") or "?"
    model = first.config.get("model") or first.summary.get("model") or "?"
    data, bodies = report_data(runs)
    plotly_js = get_plotlyjs()
    if re.search(r"</script|<!--", plotly_js, re.IGNORECASE):  # it is inlined as is: these would end it early
        raise RuntimeError("this plotly.js holds '</script' or '<!--' and cannot be inlined; pin another plotly")
    template = _environment().get_template("report.html.j2")
    rows = [mode_row(run) for run in runs]
    return template.render(
        title=f"{env_id} · {model}",
        kind="ablation" if len(runs) > 1 else f"run · {first.name}",
        source=str(folder.resolve()),
        generated=datetime.now(UTC).isoformat(timespec="seconds"),
        runs=runs,
        mode_rows=rows,
        learnability=any("k" in row for row in rows),
        configs=[(run, _config_view(run), json.dumps(run.config, indent=2, default=str)) for run in runs],
        problems=[(run.name, problem) for run in runs for problem in run.problems],
        rollouts=len(data["rows"]),
        data_json=_script_json(data),
        bodies=bodies,
        css=(ASSETS / "report.css").read_text(),
        pygments_css=HtmlFormatter(style="default").get_style_defs(".code"),
        js=(ASSETS / "report.js").read_text(),
        plotly_js=plotly_js,
    )


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(ASSETS),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def write_report(folder: Path, out: Path | None = None) -> Path:
    """Write the report (default: FOLDER/report.html); returns its path."""
    html = build_report(folder)
    out = out or folder / REPORT_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    # A lone surrogate in model output cannot be UTF-8; as an escape it still reads the same in JSON.
    out.write_text(html, encoding="utf-8", errors="backslashreplace")
    return out
