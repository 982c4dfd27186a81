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
        arguments = json.loads(raw)
    except json.JSONDecodeError as error:
        return ToolOutcome(
            f"Error: the arguments of `{name}` are not valid JSON ({error.msg}); send an object like {_example(tool)}.",
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


def _example(tool: Tool) -> str:
    props = tool.parameters.get("properties", {})
    return json.dumps({key: f"<{spec.get('type', 'value')}>" for key, spec in props.items()})
