"""The per-row data every rlm-env task carries, and references resolved at launch.

Big inputs and live tools cannot ride in `TaskData` (it is recorded in every rollout and
sent over the wire to prime-rl's env server), so a task names them by reference: an import
path "package.module:function" plus JSON arguments. The harness resolves the reference when
the rollout starts. Loaders are expected to cache, so concurrent rollouts over one context
share one copy in memory.
"""

import importlib
from typing import Any

import verifiers.v1 as vf
from pydantic import BaseModel, ConfigDict

from rlm_env.core.tools import Tool


class Ref(BaseModel):
    """An import path to a function and the JSON arguments to call it with."""

    model_config = ConfigDict(frozen=True)

    fn: str
    """"package.module:function"."""
    args: dict[str, Any] = {}
    """Keyword arguments, JSON-serialisable."""

    def resolve(self) -> Any:
        module_name, _, attr = self.fn.partition(":")
        if not attr:
            raise ValueError(f"reference {self.fn!r} must look like 'package.module:function'")
        function = getattr(importlib.import_module(module_name), attr)
        return function(**self.args)


class RLMTaskData(vf.TaskData):
    """Fields the RLM harness reads, on top of verifiers' prompt and system prompt."""

    extra_data: Any = None
    """Small input data placed in the REPL as `extra_data` (str, or JSON-serialisable)."""
    extra_data_ref: Ref | None = None
    """Reference to big input data, loaded at launch (takes precedence over `extra_data`)."""
    env_tips: str | None = None
    """Strategy hints, appended to the prompt in <env_tips> tags when the harness enables tips."""
    env_tips_code: str | None = None
    """The same strategy as a short Python skeleton; shown instead of `env_tips` when the harness
    sets `protocol.tips_as_code`."""
    tools_ref: Ref | None = None
    """Factory of the environment's tools (a list of rlm_env.Tool): sub-LLM tools in RLM mode,
    root-model tools in standard mode."""
    standard_python_tool: bool = False
    """Standard mode gives the root model a sandboxed Python tool (math-python)."""
    standard_inline_data: bool = False
    """Standard mode puts the input data inline in the prompt, before the question (Oolong)."""
    repl_packages: list[str] = []
    """Third-party packages the REPL offers, named in the system prompt."""
    data_preview_chars: int = 0
    """Characters of `extra_data` the system prompt may preview (0 = none)."""


def load_extra_data(data: RLMTaskData) -> Any:
    if data.extra_data_ref is not None:
        return data.extra_data_ref.resolve()
    return data.extra_data


def load_tools(data: RLMTaskData) -> list[Tool]:
    if data.tools_ref is None:
        return []
    tools = data.tools_ref.resolve()
    if not all(isinstance(tool, Tool) for tool in tools):
        raise TypeError(f"{data.tools_ref.fn} must return a list of rlm_env.Tool")
    return list(tools)
