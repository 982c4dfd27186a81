"""Where the REPL's `extra_data` comes from, so the RLM harness runs any verifiers v1 taskset.

A task only needs a prompt: plain `vf.TaskData` works. The harness knob `extra_data_source`
says what the REPL gets, per rollout, in RLM mode:

- `"task"` (default): the task's own input, `extra_data` / `extra_data_ref` of an
  `rlm_env.RLMTaskData`. Plain `vf.TaskData` has none, so the prompt stays as it is.
- `"none"`: no `extra_data`; the prompt stays as it is.
- `"prompt"`: the whole prompt text becomes `extra_data` and the model's user turn is a short
  instruction to read it with code (the RLM paper's setting).
- the name of a field of the task data (`"context"`, `"description"`, ...): its value
  becomes `extra_data` (text stays text, anything else goes in as JSON); the prompt stays.

Standard mode ignores the knob: the plain model sees the task as its taskset defines it.
The answer lands in `trace.root_reply`, which `trace.last_reply` (what verifiers' rewards
read) returns, so the taskset's own rewards score it as they do under its default harness.
"""

from typing import Any

import verifiers.v1 as vf

from rlm_env.core.prompts import PROMPT_IN_EXTRA_DATA
from rlm_env.harness.task_data import RLMTaskData

SOURCES = ("task", "none", "prompt")
"""The named sources; any other value names a field of the task data."""


class ExtraDataSourceError(ValueError):
    """`extra_data_source` names a field the task data does not have (a config error)."""


def task_fields(data: vf.TaskData) -> list[str]:
    """The fields a task's data adds to verifiers' TaskData (declared ones, then extras)."""
    declared = [name for name in type(data).model_fields if name not in vf.TaskData.model_fields]
    return declared + list(data.model_extra or {})


def check_source(source: str, data: vf.TaskData) -> None:
    """Raise ExtraDataSourceError, in one line naming the knob and the fix, if `source` is a field
    name the task data lacks."""
    if source in SOURCES or source in type(data).model_fields or source in (data.model_extra or {}):
        return
    fields = task_fields(data)
    choices = f"one of its fields ({', '.join(fields)}), " if fields else ""
    raise ExtraDataSourceError(
        f"extra_data_source = {source!r}, but the task data ({type(data).__name__}) has no field {source!r}: "
        f"set extra_data_source to {choices}'prompt' (the whole prompt goes to extra_data) or 'none'"
    )


def place_input(source: str, mode: str, data: vf.TaskData, task: RLMTaskData, prompt: str) -> tuple[RLMTaskData, str]:
    """The task as the harness runs it (its `extra_data` set as `source` says) and the user prompt."""
    check_source(source, data)
    if mode != "rlm" or source == "task":
        return task, prompt
    if source == "none":
        return _with_extra_data(task, None), prompt
    if source == "prompt":
        return _with_extra_data(task, prompt), PROMPT_IN_EXTRA_DATA
    return _with_extra_data(task, field_value(data, source)), prompt


def field_value(data: vf.TaskData, name: str) -> Any:
    """A field's value as the REPL takes it: a str as is, anything else in its JSON form."""
    value = getattr(data, name)
    return value if isinstance(value, str) else data.model_dump(mode="json", include={name})[name]


def _with_extra_data(task: RLMTaskData, extra_data: Any) -> RLMTaskData:
    return task.model_copy(update={"extra_data": extra_data, "extra_data_ref": None})
