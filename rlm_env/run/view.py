"""One rollout laid out for a person: prompt, each root turn with its code, the sub-LLM calls
that code made (a child RLM's cells and calls nested under it, at sub_llm.depth > 1), what the
REPL printed back, then the answer and the reward.

Everything the model or the task wrote is shown as plain text (never as rich markup), and
long texts are cut with a marker saying how much was left out.
"""

import json
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from rlm_env.core.parsing import extract_code
from rlm_env.core.prompts import PYTHON_TOOL_NAME, REPL_OUTPUT_PREFIX, repl_output_message
from rlm_env.core.rollout import root_turn


def clip(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return f"{text[:limit]}\n… [{len(text) - limit:,} more characters; --full shows everything]"


def content_text(message: dict) -> str:
    content = message.get("content")
    if isinstance(content, list):  # content parts: keep the text ones
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


def render_rollout(record: dict[str, Any], limit: int | None = 1500) -> RenderableType:
    """The whole rollout as one rich renderable; `limit` cuts each text (None = no cut)."""
    parts: list[RenderableType] = [_header(record)]
    messages = record["transcript"]
    if not messages and record.get("prompt"):  # a rollout that failed before its first call
        prompt = record["prompt"]
        user = prompt.get("user")
        messages = ([{"role": "system", "content": prompt["system"]}] if prompt.get("system") else []) + [
            {"role": "user", "content": user if isinstance(user, str) else json.dumps(user)}
        ]
    subs_by_turn: dict[str, list[dict]] = {}
    for call in record["sub_llm_calls"]:
        subs_by_turn.setdefault(call.get("parent_request_id") or "", []).append(call)

    rlm = record.get("mode") == "rlm"
    turn = outputs = 0
    for message in messages:
        role = message["role"]
        if role == "assistant":
            turn += 1
            parts.append(_assistant(message, turn, limit, rlm))
            if calls := subs_by_turn.get(root_turn(turn)):
                parts.append(_sub_calls(calls, limit))
        elif role in ("tool", "user") and turn > 0:
            body = content_text(message)
            # The RLM loop sends the output of code found in prose as a user turn with this prefix.
            is_output = role == "tool" or body.startswith(REPL_OUTPUT_PREFIX)
            outputs += is_output
            parts.append(
                Panel(
                    Text(clip(body.removeprefix(REPL_OUTPUT_PREFIX), limit)),
                    title=("REPL output" if rlm else "tool output") if is_output else role,
                    title_align="left",
                    border_style="green" if is_output else "cyan",
                )
            )
        else:
            title = {"system": "system prompt", "user": "prompt"}.get(role, role)
            parts.append(
                Panel(Text(clip(content_text(message), limit)), title=title, title_align="left", border_style="dim")
            )
    # The model never sees the output of the cell run after its last turn (the one that set
    # answer["ready"], or the one a budget stopped), so the transcript lacks it; the cell record has it.
    for cell in record["cells"][outputs:]:
        parts.append(
            Panel(
                Text(clip(repl_output_message(cell["output"]), limit)),
                title="REPL output (last cell)",
                title_align="left",
                border_style="green",
            )
        )
    parts.append(_answer(record, limit))
    return Group(*parts)


def _header(record: dict) -> RenderableType:
    metrics = record["metrics"]
    reward = "not scored" if record["reward"] is None else f"{record['reward']:.3f}"
    facts = [
        f"rollout {record['index']}",
        f"task {record['task_id']}",
        f"mode {record.get('mode') or '?'}",
        f"reward {reward}",
        f"stop {record['stop_reason']}",
        f"{metrics.get('root_turns', 0):.0f} turns",
        f"{metrics.get('sub_llm_calls', 0):.0f} sub-LLM calls",
    ]
    if record.get("seconds") is not None:
        facts.append(f"{record['seconds']:.1f} s")
    text = Text(" · ".join(facts), style="bold")
    for error in record["errors"]:
        text.append(f"\n{error['type']}: {error['message']}", style="red")
    return Panel(text, border_style="blue")


def _assistant(message: dict, turn: int, limit: int | None, rlm: bool) -> RenderableType:
    body: list[RenderableType] = []
    content = content_text(message)
    # In RLM mode a reply that is nothing but code was run as a cell (see rlm_env.core.loop).
    if rlm and content and not message.get("tool_calls") and extract_code(content) == content.strip():
        body.append(Syntax(clip(content.strip(), limit), "python", theme="ansi_dark", word_wrap=True))
    elif content:
        body.append(Text(clip(content, limit)))
    for call in message.get("tool_calls") or []:
        function = call.get("function", call)
        name, arguments = function.get("name"), function.get("arguments", "")
        code = _code_argument(arguments) if name == PYTHON_TOOL_NAME else None
        if code is not None:
            body.append(Syntax(clip(code, limit), "python", theme="ansi_dark", word_wrap=True))
        else:
            body.append(Text(clip(f"{name}({arguments})", limit), style="cyan"))
    return Panel(
        Group(*body) if body else Text("(empty reply)", style="dim"),
        title=f"turn {turn} · root model",
        title_align="left",
        border_style="magenta",
    )


def _code_argument(arguments: str | dict) -> str | None:
    try:
        parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
    except json.JSONDecodeError:
        return None  # a malformed call is shown as written
    return parsed.get("code") if isinstance(parsed, dict) else None


def _sub_calls(calls: list[dict], limit: int | None) -> RenderableType:
    cut = None if limit is None else max(80, limit // 5)
    table = Table(title=f"{len(calls)} sub-LLM call(s)", title_justify="left", show_lines=True, expand=True)
    table.add_column("#", justify="right", width=3)
    table.add_column("prompt", ratio=1)
    table.add_column("reply", ratio=1)
    for call in calls:
        reply = Text(clip(call.get("reply") or "", cut))
        if call.get("error"):
            reply.append(f"\nerror: {call['error']}", style="red")
        table.add_row(str(call.get("index", "")), Text(clip(call.get("prompt") or "", cut)), reply)
    children = [_child_rlm(call, limit) for call in calls if call.get("kind") == "child_rlm"]
    return Group(table, *children) if children else table


def _child_rlm(call: dict, limit: int | None) -> RenderableType:
    """A child RLM: the code of each of its cells with the output, then its own sub-LLM calls."""
    parts: list[RenderableType] = []
    for cell in call.get("cells", []):
        parts.append(Syntax(clip(cell["code"], limit), "python", theme="ansi_dark", word_wrap=True))
        parts.append(
            Panel(
                Text(clip(repl_output_message(cell["output"]), limit)),
                title="REPL output",
                title_align="left",
                border_style="green",
            )
        )
    if call.get("children"):
        parts.append(_sub_calls(call["children"], limit))
    title = (
        f"child RLM #{call.get('index', '')} · depth {call.get('depth', '?')} · {call.get('turns', 0)} turns · "
        f"stop {call.get('stop_reason') or 'none'}"
    )
    return Panel(
        Group(*parts) if parts else Text("(no cells)", style="dim"),
        title=title,
        title_align="left",
        border_style="magenta",
    )


def _answer(record: dict, limit: int | None) -> RenderableType:
    text = Text(clip(record["answer"], limit) if record["answer"] else "(empty answer)")
    rewards = ", ".join(
        f"{name} {score:.3f}" if score is not None else f"{name} -" for name, score in record["rewards"].items()
    )
    reward = "not scored" if record["reward"] is None else f"{record['reward']:.3f}"
    return Panel(
        text,
        title=f"answer · reward {reward}" + (f" ({rewards})" if rewards else ""),
        title_align="left",
        border_style="yellow",
    )
