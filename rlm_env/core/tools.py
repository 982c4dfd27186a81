"""Function tools in OpenAI form, and running a model's tool call against them.

Whatever the model gets wrong about a call (unknown tool, arguments that are not JSON or do
not fit the function, an expected failure the tool reports with ToolError) comes back as
text for the model. A bug in a tool is not caught here.
"""

import inspect
import json
from dataclasses import dataclass
from typing import Any, Awaitable, Callable


class ToolError(Exception):
    """An expected tool failure (search API down, page not found): shown to the model."""


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    """JSON schema of the arguments object."""
    fn: Callable[..., Awaitable[str] | str]

    def schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


@dataclass
class ToolOutcome:
    text: str
    ok: bool


async def run_tool_call(tools: dict[str, Tool], call: dict[str, Any]) -> ToolOutcome:
    """Run one `tool_calls` entry; every model mistake becomes text the model sees."""
    function = call.get("function") or {}
    name = function.get("name", "")
    tool = tools.get(name)
    if tool is None:
        known = ", ".join(f"`{n}`" for n in tools) or "none"
        return ToolOutcome(f"Error: unknown tool `{name}`. Available tools: {known}.", ok=False)
    raw = function.get("arguments") or "{}"
    try:
        arguments, bad_json = json.loads(raw), None
    except json.JSONDecodeError as error:
        arguments, bad_json = raw, error.msg
    only = _only_text_parameter(tool)
    if only and isinstance(arguments, str) and not (bad_json and raw.lstrip().startswith("{")):
        # A tool of one text argument called with the bare value (`"arguments": "print(1)"`, as
        # small models write their calls): the meaning is plain.
        arguments, bad_json = {only: arguments}, None
    if bad_json:
        return ToolOutcome(
            f"Error: the arguments of `{name}` are not valid JSON ({bad_json}); send an object like {_example(tool)}.",
            ok=False,
        )
    if not isinstance(arguments, dict):
        return ToolOutcome(f"Error: the arguments of `{name}` must be a JSON object like {_example(tool)}.", ok=False)
    try:
        inspect.signature(tool.fn).bind(**arguments)
    except TypeError as error:
        return ToolOutcome(f"Error: bad arguments for `{name}`: {error}; expected {_example(tool)}.", ok=False)
    try:
        result = tool.fn(**arguments)
        if inspect.isawaitable(result):
            result = await result
    except ToolError as error:
        return ToolOutcome(f"Error: {error}", ok=False)
    return ToolOutcome(str(result), ok=True)


def _only_text_parameter(tool: Tool) -> str | None:
    """The name of the tool's single parameter when it takes exactly one, a string."""
    props = tool.parameters.get("properties", {})
    if len(props) == 1:
        ((key, spec),) = props.items()
        if spec.get("type") == "string":
            return key
    return None


def _example(tool: Tool) -> str:
    props = tool.parameters.get("properties", {})
    return json.dumps({key: f"<{spec.get('type', 'value')}>" for key, spec in props.items()})
