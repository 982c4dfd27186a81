"""The root loops: the RLM loop (model <-> REPL) and the plain tool-calling chat loop.

Neither knows about verifiers. Both stop for a recorded reason and never lose the answer:
in the RLM loop it is whatever `answer["content"]` holds when the loop stops, in the chat
loop the model's last reply.
"""

import asyncio
import re
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rlm_env.core import rollout
from rlm_env.core.client import ChatClient
from rlm_env.core.errors import ContextOverflowError, ProviderError, ToolUnavailable
from rlm_env.core.parsing import answer_in_text, broken_tool_call, extract_code, text_tool_calls
from rlm_env.core.prompts import (
    BROKEN_TOOL_CALL_REMINDER,
    CODE_BLOCK_REMINDER,
    CONTEXT_WARNING,
    DATA_REMINDER,
    PROSE_REMINDER,
    PYTHON_TOOL_NAME,
    REPEAT_NOTE,
    REPL_OUTPUT_PREFIX,
    STATED_ANSWER_REMINDER,
    DataInfo,
    python_tool_schema,
    repl_output_message,
)
from rlm_env.core.sub_llm import SubLLMPool
from rlm_env.core.tools import Tool, run_tool_call
from rlm_env.repl import ReplInfraError, ReplSession

StopReason = Literal[
    "answer_ready",  # RLM: answer["ready"] was set
    "answer_in_text",  # RLM: no answer was set; the last reply stated one in its text (ProtocolConfig)
    "completed",  # chat loop: the model replied without a tool call
    "max_turns",
    "max_root_completion_tokens",
    "max_sub_llm_calls",
    "max_wall_time",
    "context_overflow",  # the prompt no longer fits the model's window
    "provider_error",  # infrastructure: the model endpoint failed
    "repl_error",  # infrastructure: the REPL machinery failed
    "tool_error",  # infrastructure: a tool cannot work at all
]
INFRA_STOPS = ("provider_error", "repl_error", "tool_error")
"""Stops for an infrastructure failure: the harness records them as typed errors (rlm_env.core.errors)."""


class Budgets(BaseModel):
    """Limits that end a rollout; each records its own stop reason when hit."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    max_turns: int = Field(default=50, ge=1)
    """Root-model turns (one model call each, prose replies included)."""
    max_root_completion_tokens: int | None = Field(default=100_000, ge=1)
    """Completion tokens the root model may generate over the rollout; unset = no limit."""
    max_sub_llm_calls: int | None = Field(default=200, ge=0)
    """Sub-LLM calls (one per llm_batch prompt) per rollout; unset = no limit."""
    max_wall_time_s: float | None = Field(default=1800.0, gt=0)
    """Seconds the whole rollout may take; unset = no limit."""
    context_window_tokens: int | None = Field(default=None, ge=1)
    """The root model's context window in tokens, used only for the one-time warning below."""
    context_warning_fraction: float = Field(default=0.8, gt=0, le=1)
    """Warn the model once when a prompt passes this fraction of `context_window_tokens`."""


DEFAULT_STOP_SEQUENCES = ["```output", "```text\nREPL output", "REPL output:"]
"""Where a model starts to write the REPL's output itself, after its code block."""


class ProtocolConfig(BaseModel):
    """How the RLM scaffold holds the root model to the REPL protocol. Aids for small models that
    write a code block and then carry on as if they had run it; each can be switched off."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    stop_sequences: list[str] = Field(default=DEFAULT_STOP_SEQUENCES, max_length=4)
    """Sent as `stop` with every root-model call in RLM mode, so generation ends where the model
    would start inventing the REPL's output after its code block (it sees the real output next
    turn). [] sends none. At most 4 (the OpenAI API's limit)."""
    answer_in_text: bool = False
    """Answers stated in a reply's prose: an `<answer>` tag, an `answer = {"content": ...}` literal,
    the last `\\boxed{...}`, or a reply that is only the answer dict as JSON; code, fenced or bare, is never
    read as one. A prose reply that states one is answered with the code that sets it instead of
    the generic reminder; and when the rollout ends with no answer set (answer["content"] empty),
    the answer the last reply states counts, with stop reason `answer_in_text` so such rollouts
    can be told apart or excluded."""
    worked_example: bool = False
    """Add a short worked example of the REPL protocol (a code turn, the REPL's reply, the
    answer turn) to the system prompt."""
    repeat_note: bool = False
    """When a cell is the same code as the one before and prints the same output, say so after the
    output (running it again changes nothing). The 1.5B resent one failing cell for 8 turns."""
    python_tool: bool = True
    """Offer the REPL as a `python` tool, as the article's scaffold does. Off: no tool is sent and
    the system prompt asks for one fenced ```python block per reply, the form small models write
    unprompted (code in a tool call still runs), and the reminder after a reply without code names
    `extra_data` where the task has one."""
    tips_as_code: bool = False
    """With `env_tips`, give the environment's tips as a Python skeleton of the strategy where the
    environment has one (it falls back to the prose tips otherwise)."""


def _same_output(before: str, now: str) -> bool:
    """Equal outputs once traceback cell numbers (`<cell 3>`) are left out."""
    return _CELL_NAME.sub("<cell>", before) == _CELL_NAME.sub("<cell>", now)


_CELL_NAME = re.compile(r"<cell \d+>")


@dataclass
class CellRecord:
    code: str
    output: str
    seconds: float
    timed_out: bool = False
    restarted: bool = False


@dataclass
class LoopResult:
    answer: str
    stop_reason: StopReason
    messages: list[dict[str, Any]]
    cells: list[CellRecord] = field(default_factory=list)
    root_turns: int = 0
    root_prompt_tokens: int = 0
    root_completion_tokens: int = 0
    wall_seconds: float = 0.0
    context_warned: bool = False
    error: str | None = None
    """Set for infrastructure failures (provider, REPL, tool), never for the model's mistakes."""
    cause: BaseException | None = field(default=None, repr=False)
    """The exception behind `error`, raised again by the harness as a typed rollout error."""


class _Loop:
    """Shared budget bookkeeping for both loops."""

    def __init__(
        self, client: ChatClient, messages: list[dict], budgets: Budgets, stop: list[str] | None = None
    ) -> None:
        self.client = client
        self.budgets = budgets
        self.stop = stop or None
        self.result = LoopResult(answer="", stop_reason="max_turns", messages=messages)
        self.started = time.monotonic()

    def budget_stop(self) -> StopReason | None:
        b, r = self.budgets, self.result
        if r.root_turns >= b.max_turns:
            return "max_turns"
        if b.max_root_completion_tokens is not None and r.root_completion_tokens >= b.max_root_completion_tokens:
            return "max_root_completion_tokens"
        return None

    async def call_model(self, tools: list[dict] | None) -> dict:
        r = self.result
        self.request_id = rollout.root_turn(r.root_turns + 1)
        reply = await self.client.complete(r.messages, tools, request_id=self.request_id, stop=self.stop)
        r.root_turns += 1
        r.root_prompt_tokens += reply.prompt_tokens
        r.root_completion_tokens += reply.completion_tokens
        r.messages.append(reply.message)
        window = self.budgets.context_window_tokens
        self._near_limit = bool(
            window
            and not r.context_warned
            and reply.prompt_tokens + reply.completion_tokens >= self.budgets.context_warning_fraction * window
        )
        if self._near_limit:
            r.context_warned = True
            self._used = reply.prompt_tokens + reply.completion_tokens
        return reply.message

    def warn_if_near_limit(self) -> None:
        if getattr(self, "_near_limit", False):
            window = self.budgets.context_window_tokens
            self.result.messages.append(
                {
                    "role": "user",
                    "content": CONTEXT_WARNING.format(
                        percent=round(100 * self._used / window), used=self._used, limit=window
                    ),
                }
            )
            self._near_limit = False

    async def run(self, body) -> LoopResult:
        """Run `body` under the wall-time budget and turn failures into stop reasons."""
        r = self.result
        try:
            async with asyncio.timeout(self.budgets.max_wall_time_s):
                r.stop_reason = await body()
        except TimeoutError:
            r.stop_reason = "max_wall_time"
        except ContextOverflowError:
            r.stop_reason = "context_overflow"
        except ProviderError as error:
            r.stop_reason, r.error, r.cause = "provider_error", str(error), error
        except ReplInfraError as error:
            r.stop_reason, r.error, r.cause = "repl_error", str(error), error
        except ToolUnavailable as error:
            r.stop_reason, r.error, r.cause = "tool_error", str(error), error
        r.wall_seconds = time.monotonic() - self.started
        return r


async def run_rlm_loop(
    client: ChatClient,
    repl: ReplSession,
    sub_llms: SubLLMPool,
    system_prompt: str,
    user_prompt: str,
    budgets: Budgets,
    protocol: ProtocolConfig | None = None,
    data: DataInfo | None = None,
) -> LoopResult:
    """Drive the root model until answer["ready"] or a budget; the REPL must be started (or
    starting: ReplSession.start_soon). `data` describes the `extra_data` the REPL holds, if any."""
    protocol = protocol or ProtocolConfig()
    loop = _Loop(
        client,
        [{"role": "system", "content": system_prompt}, {"role": "user", "content": user_prompt}],
        budgets,
        stop=protocol.stop_sequences,
    )
    tools_schema = [python_tool_schema()] if protocol.python_tool else None
    prose_reminder = PROSE_REMINDER
    if not protocol.python_tool:
        prose_reminder = CODE_BLOCK_REMINDER + (DATA_REMINDER.format(chars=data.chars) if data else "")

    async def run_cell(code: str) -> str:
        cell = await repl.execute(code)
        cells = loop.result.cells
        last = cells[-1] if cells else None
        repeated = protocol.repeat_note and last is not None and last.code == code
        repeated = repeated and _same_output(last.output, cell.output)
        cells.append(CellRecord(code, cell.output, cell.seconds, cell.timed_out, cell.restarted))
        return repl_output_message(cell.output) + (REPEAT_NOTE if repeated else "")

    python_tool = Tool(PYTHON_TOOL_NAME, "", python_tool_schema()["function"]["parameters"], run_cell)

    async def body() -> StopReason:
        while True:
            if stop := loop.budget_stop():
                return stop
            message = await loop.call_model(tools_schema)
            sub_llms.parent_request_id = loop.request_id
            calls = message.get("tool_calls") or []
            written = [] if calls else text_tool_calls(message.get("content"))
            if calls:
                for call in calls:
                    outcome = await run_tool_call({PYTHON_TOOL_NAME: python_tool}, call)
                    loop.result.messages.append(
                        {"role": "tool", "tool_call_id": call.get("id", ""), "content": outcome.text}
                    )
            elif written:
                # Not native calls, so the results go back as a user turn, not as tool messages.
                outputs = [(await run_tool_call({PYTHON_TOOL_NAME: python_tool}, call)).text for call in written]
                loop.result.messages.append({"role": "user", "content": REPL_OUTPUT_PREFIX + "\n".join(outputs)})
            elif (code := extract_code(message.get("content") or "")) is not None:
                loop.result.messages.append({"role": "user", "content": REPL_OUTPUT_PREFIX + await run_cell(code)})
            elif (error := broken_tool_call(message.get("content"))) is not None:
                loop.result.messages.append({"role": "user", "content": BROKEN_TOOL_CALL_REMINDER.format(error=error)})
            else:
                stated = answer_in_text(message.get("content")) if protocol.answer_in_text else None
                reminder = prose_reminder if stated is None else STATED_ANSWER_REMINDER.format(content=stated)
                loop.result.messages.append({"role": "user", "content": reminder})
            loop.warn_if_near_limit()
            if repl.answer.get("ready"):
                return "answer_ready"
            if sub_llms.budget_exhausted:
                return "max_sub_llm_calls"

    async def body_with_repl() -> StopReason:
        stop = await body()
        await repl.started()  # a REPL that never came up fails the rollout, whether a cell needed it or not
        return stop

    result = await loop.run(body_with_repl)
    result.answer = repl.answer.get("content", "")
    if protocol.answer_in_text and not str(result.answer).strip() and result.stop_reason not in INFRA_STOPS:
        replies = [m for m in result.messages if m["role"] == "assistant"]
        stated = answer_in_text(replies[-1].get("content")) if replies else None
        if stated is not None:
            result.answer, result.stop_reason = stated, "answer_in_text"
    return result


async def run_chat_loop(client: ChatClient, messages: list[dict], tools: list[Tool], budgets: Budgets) -> LoopResult:
    """A plain model with tools: runs tool calls until the model answers in prose."""
    loop = _Loop(client, messages, budgets)
    by_name = {tool.name: tool for tool in tools}
    schemas = [tool.schema() for tool in tools] or None

    async def body() -> StopReason:
        while True:
            if stop := loop.budget_stop():
                return stop
            message = await loop.call_model(schemas)
            calls = message.get("tool_calls") or []
            written = [] if calls or not schemas else text_tool_calls(message.get("content"))
            if not calls and not written:
                loop.result.answer = message.get("content") or loop.result.answer
                return "completed"
            for call in calls:
                outcome = await run_tool_call(by_name, call)
                loop.result.messages.append(
                    {"role": "tool", "tool_call_id": call.get("id", ""), "content": outcome.text}
                )
            if written:
                outputs = [(await run_tool_call(by_name, call)).text for call in written]
                loop.result.messages.append({"role": "user", "content": "Tool output:\n" + "\n".join(outputs)})
            loop.warn_if_near_limit()

    return await loop.run(body)
