"""The rollout record (`RolloutInfo`) and the request id of every model call: both built and read here only.

The harness writes one `RolloutInfo` per rollout into `trace.info` (as JSON, so it survives
prime-rl's env server); the run side and the environments read it back with
`RolloutInfo.of(trace)`, which is None when another harness ran the task.

Request ids
-----------

Each call sends its id in the X-ACP-Model-Request-ID header; verifiers' interception records it
on the trace, where it tells the calls apart and anchors the semantic edges between them.

    root-N               turn N of the root model                               depth 0
    sub-I-T              turn T of sub-LLM call I of the root's llm_batch       depth 1
    sub-I:root-N         turn N of the child RLM that call I started           depth 1
    sub-I:sub-J-T        turn T of call J of that child's llm_batch             depth 2
    sub-I:sub-J:root-N   turn N of the grandchild RLM that call J started       depth 2

A child RLM runs the root's loop, so it names its own calls as the root does (`root-N`,
`sub-J-T`); its scope (`sub-I`, one more `sub-J:` per level) is put in front. Ids are unique
across depths because each scope is the path of call indices from the root, and every id of
a call below the root starts with `sub-`.
"""

import re
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

SCOPE_SEPARATOR = ":"

_ROOT = re.compile(r"root-(\d+)")
_SUB = re.compile(r"sub-(\d+)-(\d+)")
_SCOPE = re.compile(r"sub-(\d+)")


def root_turn(turn: int) -> str:
    """Turn `turn` (from 1) of an RLM's own model, before its scope is put in front."""
    return f"root-{turn}"


def sub_turn(index: int, turn: int) -> str:
    """Turn `turn` (from 0) of plain sub-LLM call `index` of an RLM's llm_batch, before its scope."""
    return f"sub-{index}-{turn}"


def child_scope(scope: str, index: int) -> str:
    """The scope of the child RLM started by call `index` of the llm_batch of the RLM at `scope`."""
    return qualify(scope, f"sub-{index}")


def qualify(scope: str, request_id: str) -> str:
    """An id as the RLM at `scope` names it, made unique in the rollout ('' is the root's scope)."""
    return f"{scope}{SCOPE_SEPARATOR}{request_id}" if scope else request_id


@dataclass(frozen=True)
class RequestId:
    """A parsed request id."""

    path: tuple[int, ...]
    """Indices of the llm_batch calls that started the RLM making this call; () for the root."""
    index: int | None
    """The sub-LLM call this turn belongs to, for a plain sub-LLM call; None for an RLM's own turn."""
    turn: int

    @property
    def depth(self) -> int:
        """0 for the root model, 1 for what the root's llm_batch started, and so on."""
        return len(self.path) + (self.index is not None)

    @property
    def is_rlm_turn(self) -> bool:
        """A turn of an RLM's own loop (the root's, or a child's), not of a plain sub-LLM call."""
        return self.index is None


def parse(request_id: str) -> RequestId | None:
    """The parts of an id built by this module; None for any other string."""
    *scopes, last = request_id.split(SCOPE_SEPARATOR)
    path = []
    for scope in scopes:
        match = _SCOPE.fullmatch(scope)
        if match is None:
            return None
        path.append(int(match.group(1)))
    if match := _ROOT.fullmatch(last):
        return RequestId(tuple(path), None, int(match.group(1)))
    if match := _SUB.fullmatch(last):
        return RequestId(tuple(path), int(match.group(1)), int(match.group(2)))
    return None


def is_sub_llm(request_id: str) -> bool:
    """Whether a call is below the root (a sub-LLM call or a child RLM's turn): masked out of
    training unless `train_sub_llms` is set."""
    parsed = parse(request_id)
    return parsed is not None and parsed.depth > 0


def scope_depth(scope: str) -> int:
    """The depth of the RLM at `scope` (0 for the root)."""
    return len(scope.split(SCOPE_SEPARATOR)) if scope else 0


# --------------------------------------------------------------------------- the rollout record

INFO_KEY = "rlm_env"
"""The key of the record in `trace.info`; read and written only by `RolloutInfo`."""


class HasInfo(Protocol):
    """What `RolloutInfo` needs of a trace (verifiers' vf.Trace, or a hand-built one in a test)."""

    info: dict[str, Any]


class RolloutInfo(BaseModel):
    """What rlm-env's harness recorded about one rollout, beside verifiers' own trace (immutable)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    mode: Literal["rlm", "standard"]
    """The harness mode that ran."""
    env_tips: bool
    """Whether the environment's tips were appended to the prompt."""
    stop_reason: str
    """Why the loop stopped (rlm_env.core.loop.StopReason)."""
    error: str | None = None
    """The infrastructure error that stopped it, as text; None when it stopped on its own."""
    metrics: dict[str, int | float] = {}
    """The rollout's metrics (rlm_env.harness.metrics), also in `trace.metrics` once scored."""
    cells: tuple[dict[str, Any], ...] = ()
    """Every REPL cell in the order it ran: code, output, seconds, timeout and restart flags."""
    sub_llm_calls: tuple[dict[str, Any], ...] = ()
    """Every sub-LLM call: prompt, reply, request ids, tokens; a child RLM's own under `children`."""

    @classmethod
    def of(cls, trace: HasInfo) -> "RolloutInfo | None":
        """The record on `trace`; None when rlm-env's harness did not run it (or failed before
        recording). A record that lacks a field, or has one of the wrong type, raises."""
        info = trace.info.get(INFO_KEY)
        return None if info is None else cls.model_validate(info)

    def write(self, trace: HasInfo) -> None:
        """Put the record on `trace`, as plain JSON."""
        trace.info[INFO_KEY] = self.model_dump(mode="json")
