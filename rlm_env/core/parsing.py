"""Reading model replies: code to run, tool calls written as text, answers stated in text, boxes.

Pure functions of a string, shared by the loop, the sub-LLMs, the run views and the scoring kit.
"""

import ast
import json
import re

_BOXED_OPEN = re.compile(r"\\boxed\{")
_BRACE = re.compile(r"[{}]")


def extract_boxed(text: str) -> str | None:
    r"""The content of the last `\boxed{...}` in `text` (nested braces allowed), or None.

    Linear in len(text): braces are matched in one pass, so a reply made of many unclosed
    boxes cannot stall scoring.

    >>> extract_boxed(r"so \boxed{\frac{1}{2}} and not \boxed{3")
    '\\frac{1}{2}'
    """
    starts = [m.end() for m in _BOXED_OPEN.finditer(text)]  # index just after each box's "{"
    if not starts:
        return None
    closing: dict[int, int] = {}  # index of "{" -> index of its "}"
    open_braces: list[int] = []
    # a brace's partner depends only on what follows it, so matching can start at the first box
    for brace in _BRACE.finditer(text, starts[0] - 1):
        if brace.group() == "{":
            open_braces.append(brace.start())
        elif open_braces:
            closing[open_braces.pop()] = brace.start()
    for start in reversed(starts):  # unbalanced last box: fall back to an earlier one
        if (end := closing.get(start - 1)) is not None:
            return text[start:end]
    return None


def strip_think(text: str) -> str:
    """`text` without model reasoning: only what follows the last `</think>` (chat templates may open
    the block in the prompt), and nothing from an unclosed `<think>` on."""
    return text.rsplit("</think>", 1)[-1].split("<think>", 1)[0]


_ANSWER_LITERAL = re.compile(r"\banswer\s*=\s*\{")


_ANY_FENCE = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


def answer_in_text(content: str | None) -> str | None:
    """The answer a reply states in its prose: the content of its last `<answer>...</answer>` tag,
    else of its last `answer = {"content": ...}` dict literal, else of its last `\\boxed{...}`;
    None when it states none of them.

    A reply that is only the answer dict as JSON (bare or fenced) states its content. Otherwise
    only prose counts: `<think>` reasoning and fenced blocks are left out, and a reply that is bare
    code states nothing. Code ran (or failed), so a literal in it that did not set the answer is
    no answer (the 1.5B writes `answer = {"content": out.split('...')...}`).
    """
    if not content:
        return None
    content = strip_think(content)  # reasoning is not a stated answer
    parsed, _ = _json_call_text(content)
    if isinstance(parsed, dict) and "content" in parsed and "name" not in parsed:
        return str(parsed["content"])  # the answer dict written as JSON: `{"content": ..., "ready": true}`
    content = _ANY_FENCE.sub("\n", content)
    if extract_code(content) is not None:
        return None
    if tagged := _ANSWER_TAG.findall(content):
        return tagged[-1].strip()
    for match in reversed(list(_ANSWER_LITERAL.finditer(content))):
        literal = _balanced_braces(content, match.end() - 1)
        try:
            value = ast.literal_eval(literal) if literal else None
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue
        if isinstance(value, dict) and "content" in value:
            return str(value["content"])
    return extract_boxed(content)


def _balanced_braces(text: str, start: int) -> str | None:
    """text[start:] up to the brace closing the one at `start` (braces in strings not special)."""
    depth = 0
    for index in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return text[start : index + 1]
    return None


def text_tool_calls(content: str | None) -> list[dict]:
    """Tool calls written as JSON text instead of native calls (small local models do this).

    Accepts `{"name": ..., "arguments": {...}}` (or a list of them), bare or in a code fence,
    and returns them in the native `tool_calls` shape; anything else gives []. Small models
    write Python's escapes (`\\'`) and raw line breaks inside the JSON strings: those are read
    as they meant them.
    """
    parsed, _ = _json_call_text(content)
    items = parsed if isinstance(parsed, list) else [parsed]
    calls = []
    for i, item in enumerate(items):
        if not (isinstance(item, dict) and isinstance(item.get("name"), str) and "arguments" in item):
            return []
        arguments = item["arguments"]
        calls.append(
            {
                "id": f"text_call_{i}",
                "type": "function",
                "function": {
                    "name": item["name"],
                    "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
                },
            }
        )
    return calls


def broken_tool_call(content: str | None) -> str | None:
    """Why a reply that is a tool call written as JSON text cannot be read (the JSON error), or
    None when it reads or is no such call. The 1.5B writes `{"name": "python", "arguments":
    {"code": "..."}}` with unescaped quotes inside the code, then repeats it when told only that
    its reply had no code."""
    _, error = _json_call_text(content)
    return error


def _json_call_text(content: str | None) -> tuple[object, str | None]:
    """(the JSON value, None) for a reply that is JSON, bare or fenced; (None, the decode error)
    for one that opens like a tool call (`{` or `[` and a "name" key) and does not parse;
    (None, None) otherwise."""
    text = (content or "").strip()
    fenced = re.fullmatch(r"```(?:json)?\s*\n(.*?)\n?```", text, re.DOTALL)
    if fenced:
        text = fenced.group(1).strip()
    if not text.startswith(("{", "[")):
        return None, None
    try:
        return json.loads(text), None
    except json.JSONDecodeError as error:
        first_error = error  # where the model's own text breaks, not the re-escaped one
    try:
        return json.loads(_PYTHON_ESCAPE.sub(_json_escape, text), strict=False), None
    except json.JSONDecodeError:
        if not re.match(r'[\[\s]*\{\s*"name"\s*:', text):
            return None, None
        return None, f"{first_error.msg}, line {first_error.lineno} column {first_error.colno}"


_PYTHON_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def _json_escape(match: re.Match) -> str:
    """A backslash escape as JSON reads it: JSON's own kept, Python's others (`\\'`) as the character."""
    return match.group(0) if match.group(1) in '"\\/bfnrtu' else match.group(1)


_FENCE = re.compile(r"```(python|py|python3)?[ \t]*\n(.*?)```", re.DOTALL)


def extract_code(content: str) -> str | None:
    """Code from a reply without a tool call: fenced blocks, or the whole reply if it is Python.

    Small models often answer with bare code. A reply, or a fenced block without a language tag,
    counts as code only if it parses and is more than lone names, constants and bare annotations,
    so prose ("Done.", "42", "Label: Technology", which parses as an annotation, or a
    "Date: 02/01/2023" put in a plain fence) is not run. A ```python block always runs: its
    syntax error is the model's to see.
    """
    blocks = [code for tag, code in _FENCE.findall(content) if tag or _is_code(code)]
    if blocks:
        return "\n".join(block.strip("\n") for block in blocks)
    if _FENCE.search(content) is None and _is_code(content):
        return content.strip()
    return None


def _is_code(text: str) -> bool:
    stripped = text.strip()
    if not stripped:
        return False
    try:
        tree = ast.parse(stripped)
    except SyntaxError:
        return False
    return not all(_looks_like_prose(statement) for statement in tree.body)


def _looks_like_prose(statement: ast.stmt) -> bool:
    if isinstance(statement, ast.Expr):
        return isinstance(statement.value, (ast.Name, ast.Constant))
    return isinstance(statement, ast.AnnAssign) and statement.value is None
