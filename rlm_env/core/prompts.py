"""Every text the scaffold shows a model, in one place."""

import json
from dataclasses import dataclass
from typing import Any

PYTHON_TOOL_NAME = "python"

SUB_LLM_SYSTEM_PROMPT = (
    "You answer one request from a program that is solving a larger task. Be accurate and concise, "
    "and answer exactly what is asked."
)

PROSE_REMINDER = (
    "Your reply had no code to run. Work by calling the `python` tool with code (a fenced ```python "
    'block also works). When you are done, set answer["content"] to your final answer and '
    'answer["ready"] = True in code.'
)

CODE_BLOCK_REMINDER = (
    "Your reply had no code to run. Write Python in a fenced ```python block; the REPL runs it and "
    'replies with what it printed. When you are done, set answer["content"] to your final answer and '
    'answer["ready"] = True in code.'
)
"""PROSE_REMINDER without the tool, for ProtocolConfig.python_tool = False."""

DATA_REMINDER = (
    " The task's input is in the REPL variable `extra_data` ({chars:,} characters); you see it only by "
    "printing part of it, e.g. print(extra_data[:500])."
)
"""Added to CODE_BLOCK_REMINDER when the task has `extra_data`: the 1.5B, never having printed it,
replied "I don't have any input" for ten turns."""

BROKEN_TOOL_CALL_REMINDER = (
    "Your reply is a tool call written as JSON text, but it is not valid JSON ({error}), so nothing ran. "
    "Send the code in a fenced ```python block instead (plain Python, no JSON escaping), or as a real "
    "tool call."
)
"""The reply to a tool call written as JSON text that does not parse (it had code, just unreadable)."""

STATED_ANSWER_REMINDER = (
    "Your reply states an answer in its text, but only an answer set in code counts. If it is your final "
    'answer, run:\n```python\nanswer["content"] = {content!r}\nanswer["ready"] = True\n```'
)
"""The reminder for a prose reply that states an answer (ProtocolConfig.answer_in_text)."""

CONTEXT_WARNING = (
    "Note: this conversation now uses about {percent}% of the model's context window ({used:,} of "
    "{limit:,} tokens). Print less, keep intermediate results in variables, and finish soon: set "
    'answer["content"] and answer["ready"] = True.'
)

REPEAT_NOTE = (
    "\n[note: this is the same code as your previous call, with the same output; running it again "
    'changes nothing. Change the code, or set answer["content"] and answer["ready"] = True if you are done.]'
)
"""Added after the output of a cell that repeats the previous one exactly (ProtocolConfig.repeat_note)."""

REPL_OUTPUT_PREFIX = "REPL output:\n"
"""Starts the user turn that carries the output of code found in a reply without a tool call."""


@dataclass(frozen=True)
class DataInfo:
    """What the model is told about `extra_data` without seeing it."""

    type_name: str
    chars: int
    """Characters of the text (or of the JSON form, for parsed data)."""
    preview: str | None = None
    items: int | None = None
    """Number of top-level items of a list or dict."""

    @classmethod
    def describe(cls, extra_data: Any, preview_chars: int = 0) -> "DataInfo | None":
        if extra_data is None:
            return None
        text = extra_data if isinstance(extra_data, str) else json.dumps(extra_data, ensure_ascii=False)
        preview = text[:preview_chars] if preview_chars > 0 else None
        items = None if isinstance(extra_data, str) else len(extra_data) if hasattr(extra_data, "__len__") else None
        return cls(type(extra_data).__name__, len(text), preview, items)


def python_tool_schema(description: str | None = None) -> dict:
    return {
        "type": "function",
        "function": {
            "name": PYTHON_TOOL_NAME,
            "description": description or "Run Python code in the persistent REPL and return what it prints.",
            "parameters": {
                "type": "object",
                "properties": {"code": {"type": "string", "description": "Python source to execute."}},
                "required": ["code"],
            },
        },
    }


WORKED_EXAMPLE = """\
Example of the protocol on a made-up task, not yours (the REPL's reply is the message after yours):
Made-up task: how many lines of extra_data mention "cat"?
You:
```python
lines = extra_data.splitlines()
hits = [line for line in lines if "cat" in line]
print(len(lines), len(hits))
```
REPL output:
120 7
You:
```python
answer["content"] = "7"
answer["ready"] = True
```
Stop after each code block: the REPL runs it and sends back what it printed. Never write the output \
yourself, and never answer in prose: the answer counts only when it is set in code."""
"""A short worked example of the REPL protocol (ProtocolConfig.worked_example)."""


def rlm_system_prompt(
    data: DataInfo | None,
    packages: list[str],
    sub_llm_tools: list[dict],
    max_output_chars: int,
    cell_timeout_s: float,
    worked_example: bool = False,
    code_blocks: bool = False,
) -> str:
    """The root model's instructions: the REPL contract in plain words; `code_blocks` asks for
    fenced ```python blocks instead of calls of the `python` tool."""
    call = "block" if code_blocks else "call"
    how = (
        "- Write Python in one fenced ```python block per reply and stop there: the REPL runs it and "
        "replies with what it printed. Every block"
        if code_blocks
        else f"- Call the `{PYTHON_TOOL_NAME}` tool with code. Every call"
    )
    lines = [
        "You solve the task by writing Python in a persistent REPL. You only see what your code prints.",
        "",
        "How the REPL works:",
        f"{how} shares one namespace: variables, functions and imports stay for later {call}s.",
    ]
    if data is not None:
        size = (
            f"a {data.type_name} of {data.chars:,} characters"
            if data.items is None
            else f"a {data.type_name} of {data.items:,} items ({data.chars:,} characters as JSON)"
        )
        lines.append(
            f"- The task's input is in the variable `extra_data` (also `context`): {size}. It is not in "
            "this conversation. Explore it with code (len, slicing, searching, parsing) instead of printing it whole."
        )
        if data.preview:
            lines.append(f"  It begins: {data.preview!r}")
    lines += [
        f"- Each {call} shows you at most {max_output_chars:,} characters of output; longer output is cut.",
        f"- A {call} may run for {cell_timeout_s:g} seconds; past that the REPL restarts and your variables are lost.",
        "- `llm_batch(prompts: list[str]) -> list[str]` sends each prompt to a fresh language model, all in "
        "parallel, and returns their replies in the same order. Those models see only the prompt you give "
        "them, so put the text they need into it. Use them to read, classify or summarise many pieces at once.",
    ]
    if sub_llm_tools:
        lines.append("  The models behind `llm_batch` can use these tools (you cannot call them yourself):")
        for tool in sub_llm_tools:
            function = tool["function"]
            lines.append(f"  - `{function['name']}`: {function['description']}")
    lines += [
        f"- Available packages: the Python standard library{''.join(', ' + p for p in packages)}.",
        "",
        "How to answer:",
        '- Put your final answer, as a string, in `answer["content"]` and set `answer["ready"] = True`. '
        "The task ends as soon as `ready` is True, so set it only when you are done.",
        '- If you run out of turns or time, whatever is in `answer["content"]` counts as your answer.',
    ]
    if worked_example:
        lines += ["", WORKED_EXAMPLE]
    return "\n".join(lines)


def with_env_tips(prompt: str, tips: str | None) -> str:
    """Append environment tips in tags that training pipelines can strip."""
    if not tips:
        return prompt
    return f"{prompt}\n\n<env_tips>\n{tips.strip()}\n</env_tips>"


def repl_output_message(output: str) -> str:
    return output if output.strip() else "(no output)"


PROMPT_IN_EXTRA_DATA = (
    "Your task is the text in `extra_data`; it is not shown here. Read it with code, do what it asks, and put "
    'your final answer in answer["content"] with answer["ready"] = True.'
)
"""The user turn of an RLM whose prompt was moved into `extra_data` (the RLM paper's setting)."""


def child_rlm_note(prompt_in_extra_data: bool) -> str:
    """What an RLM is told when each of its `llm_batch` prompts starts a child RLM."""
    where = "gets your prompt as its `extra_data`" if prompt_in_extra_data else "gets your prompt as its task"
    return (
        "Each `llm_batch` prompt here starts a fresh model with a REPL like yours: it "
        + where
        + ', works on it with code, and its answer["content"] comes back as the reply. Give each one a '
        "whole, self-contained subtask."
    )
