"""The error model: what the model did wrong is text it sees; what broke is a typed error on the rollout.

Two channels, and nothing in between:

1. The model's mistakes become text the model sees, and the rollout goes on: an exception or a
   timeout in its cell (REPL output), a tool call that names no tool or has bad arguments, a
   failure a tool reports with `ToolError` (tool output), and a sub-LLM call that still failed
   after the client's retries ("Error: ..." in its `llm_batch` slot; the model may call again).
   A budget (turns, tokens, sub-LLM calls, wall time) or a context overflow
   (`ContextOverflowError`) is a stop with a recorded reason, scored like any other ending.

2. Infrastructure failures end the rollout with an error of verifiers' own types, which verifiers
   records on the trace (`trace.errors`, `trace.stop_condition`) and never scores: the rollout
   has no reward (not a zero), and a trainer can tell the kinds apart by type and status code:

   ==========================================  =================================  ====================
   what failed                                 recorded as (verifiers.v1)         trace.stop_condition
   ==========================================  =================================  ====================
   the model endpoint, after the retries       `ProviderError` (+ `status_code`)  provider_error
   the REPL or its sandbox (worker did not     `SandboxError`                     sandbox_error
   start, broken protocol, restart failed)
   a tool backend that cannot work at all      `ToolsetError`                     toolset_error
   (`ToolUnavailable`: API key missing)
   a grader or judge with no verdict           `TaskError` ("scoring: ...")       task_error
   (`ScoringError`)
   a bug in rlm-env's harness code             `HarnessError`                     harness_error
   ==========================================  =================================  ====================

   The loop turns the first three into stop reasons (`provider_error`, `repl_error`,
   `tool_error`, kept in the rollout record, rlm_env.core.rollout.RolloutInfo, with the answer
   so far), and the harness raises them as the verifiers type (`as_rollout_error`). Verifiers' harness boundary lets a
   `RolloutError` through unchanged and calls anything else a `HarnessError`; its scoring
   boundary calls whatever a reward raises a `TaskError`, which is why `ScoringError` is a plain
   exception and not a verifiers type (a subclass would be recorded under its own name). When
   the interception server saw the provider fail on the same call, verifiers records its own
   `ProviderError` (the upstream status and body) in place of the harness's.

Retries (rlm_env.core.client): a 429 (honouring `Retry-After` up to 2 minutes), 5xx, a connection
reset, a cut-off body and a read timeout are retried by the OpenAI SDK with exponential backoff;
a 200 whose body is not a chat completion (not JSON, or no `choices`) is retried by the client
itself; `model_retries` bounds both. Anything still failing is a `ProviderError`. Through the
verifiers interception the provider's `Retry-After` does not reach the harness (the interception
answers with its own error response), so those retries use the SDK's backoff.

The same types, with the same recorded names, exist in verifiers 0.4.0 and 0.4.1.dev86. Only
these error types come from verifiers here: the loop and the REPL stay free of the rest of it.
"""

from verifiers.v1.errors import HarnessError, ProviderError, RolloutError, SandboxError, TaskError, ToolsetError

from rlm_env.repl import ReplInfraError

__all__ = [
    "INFRA_ERRORS",
    "ContextOverflowError",
    "HarnessError",
    "ProviderError",
    "ReplInfraError",
    "RolloutError",
    "SandboxError",
    "ScoringError",
    "TaskError",
    "ToolUnavailable",
    "ToolsetError",
    "as_rollout_error",
]


class ContextOverflowError(ProviderError):
    """The conversation no longer fits the model's context window: a stop reason, not an error."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message, status_code=400)


class ScoringError(Exception):
    """A grader or judge could not give a verdict; verifiers records it as a `TaskError`, unscored."""


class ToolUnavailable(Exception):
    """A tool cannot work at all (API key missing or rejected): the rollout ends with a `ToolsetError`.

    A failure the model can work around (page not found, a timeout) is a `ToolError` instead."""


INFRA_ERRORS = (ReplInfraError, ToolUnavailable)
"""rlm-env's own infrastructure failures; the harness raises them as `as_rollout_error` says.
(A `ProviderError` is verifiers' type already; anything else is a bug: a `HarnessError`.)"""


def as_rollout_error(error: BaseException) -> RolloutError:
    """The verifiers error to record for one of `INFRA_ERRORS` (see the table above)."""
    if isinstance(error, ReplInfraError):
        return SandboxError(f"REPL failed: {error}")
    if isinstance(error, ToolUnavailable):
        return ToolsetError(f"tool unavailable: {error}")
    raise TypeError(f"{type(error).__name__} is not an infrastructure error: {error}") from error
