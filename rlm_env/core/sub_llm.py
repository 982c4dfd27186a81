"""Sub-LLMs: fresh model calls fanned out from the REPL's `llm_batch`, optionally with tools.

Each prompt gets a fresh conversation. Calls run concurrently up to a cap per rollout, each
with a timeout; a call may use the environment's tools for a few turns, after which it must
answer without them. A call that times out, or whose provider still fails after the client's
retries, comes back as an "Error: ..." string in its slot, so the model's cell keeps running
and the model may ask again (rlm_env.core.errors). Only a tool that cannot work at all
(`ToolUnavailable`) ends the rollout; the batch's other calls are then cancelled.
"""

import asyncio
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rlm_env.core import rollout
from rlm_env.core.client import ChatClient
from rlm_env.core.errors import ContextOverflowError, ProviderError
from rlm_env.core.parsing import extract_boxed
from rlm_env.core.prompts import SUB_LLM_SYSTEM_PROMPT
from rlm_env.core.tools import Tool, run_tool_call


class SubLLMConfig(BaseModel):
    """How `llm_batch` calls are made."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    model: str | None = None
    """Model name for sub-LLM calls; the root model's by default."""
    max_concurrency: int = Field(default=5, ge=1)
    """Sub-LLM calls in flight at once per rollout."""
    timeout_s: float = Field(default=120.0, gt=0)
    """Seconds one sub-LLM call (all its tool turns included) may take."""
    max_tool_turns: int = Field(default=5, ge=0)
    """Tool-using turns per call; after them the sub-LLM must answer without tools."""
    max_tokens: int | None = Field(default=None, ge=1)
    """Completion-token cap per sub-LLM request; the endpoint's default when unset."""
    extract_boxed: bool = True
    r"""Return only the `\boxed{...}` part of a reply when it has one."""
    system_prompt: str = SUB_LLM_SYSTEM_PROMPT
    """System prompt of every sub-LLM conversation."""
    depth: int = 1
    """Recursion depth of `llm_batch`: 1 = its prompts go to plain sub-LLM calls; 2 = each prompt
    starts a child RLM (its own REPL and `answer`) whose `llm_batch` calls plain sub-LLMs; each
    step up adds a level of child RLMs (see rlm_env.core.recursion). `timeout_s` then bounds a whole
    child, and `max_concurrency` applies to each RLM's own llm_batch."""
    max_child_repls: int = Field(default=8, ge=1)
    """Child RLM REPLs alive at once per rollout (the root's not counted); a child waits for a
    free one, and the wait counts against `timeout_s`. At least `depth - 1`."""
    child_prompt: Literal["extra_data", "message"] = "extra_data"
    """Where a child RLM finds its llm_batch prompt: `extra_data` (in its REPL, with a short
    instruction as its user turn, as the RLM paper does) or `message` (as its user turn)."""

    @field_validator("depth")
    @classmethod
    def _depth_at_least_one(cls, depth: int) -> int:
        if depth < 1:
            raise ValueError(
                f"must be 1 or more, not {depth}: 1 = plain sub-LLM calls (the default), "
                "2 = each llm_batch prompt starts a child RLM"
            )
        return depth

    @model_validator(mode="after")
    def _room_for_every_level(self) -> "SubLLMConfig":
        if self.max_child_repls < self.depth - 1:
            raise ValueError(
                f"sub_llm.max_child_repls is {self.max_child_repls}, below the {self.depth - 1} child "
                f"levels of sub_llm.depth = {self.depth}; set it to at least {self.depth - 1}"
            )
        return self


@dataclass
class SubLLMRecord:
    """One sub-LLM call, for the rollout record."""

    index: int
    prompt: str
    reply: str
    parent_request_id: str | None = None
    """The root call whose code made this call."""
    request_ids: list[str] = field(default_factory=list)
    turns: int = 0
    tool_calls: int = 0
    error: str | None = None


@dataclass
class SubLLMStats:
    calls: int = 0
    batches: int = 0
    batch_sizes: list[int] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tool_calls: int = 0
    tool_errors: int = 0
    errors: int = 0
    records: list[SubLLMRecord] = field(default_factory=list)


class SubLLMPool:
    """The sub-LLMs of one rollout: concurrency cap, call budget and token counts."""

    def __init__(
        self, client: ChatClient, config: SubLLMConfig, tools: list[Tool] | None = None, max_calls: int | None = None
    ) -> None:
        self.client = client
        self.config = config
        self.tools = {tool.name: tool for tool in tools or []}
        self.max_calls = max_calls
        self.stats = SubLLMStats()
        self.parent_request_id: str | None = None
        """Set by the root loop before it runs a cell."""
        self._semaphore = asyncio.Semaphore(config.max_concurrency)

    @property
    def budget_exhausted(self) -> bool:
        return self.max_calls is not None and self.stats.calls >= self.max_calls

    async def batch(self, prompts: list[str]) -> list[str]:
        self.stats.batches += 1
        self.stats.batch_sizes.append(len(prompts))
        calls = [asyncio.ensure_future(self.call(prompt)) for prompt in prompts]
        try:
            return list(await asyncio.gather(*calls))
        except Exception:
            # gather leaves the other calls running; they must not outlive the rollout.
            for call in calls:
                call.cancel()
            await asyncio.gather(*calls, return_exceptions=True)
            raise

    async def call(self, prompt: str) -> str:
        if self.budget_exhausted:
            self.stats.errors += 1
            return f"Error: the budget of {self.max_calls} sub-LLM calls for this task is used up."
        self.stats.calls += 1
        record = SubLLMRecord(
            index=len(self.stats.records), prompt=prompt, reply="", parent_request_id=self.parent_request_id
        )
        self.stats.records.append(record)
        async with self._semaphore:
            try:
                async with asyncio.timeout(self.config.timeout_s):
                    record.reply = await self._converse(prompt, record)
            except TimeoutError:
                record.error = f"sub-LLM call timed out after {self.config.timeout_s:g} s"
            except ContextOverflowError:
                record.error = "the prompt does not fit the sub-LLM's context window; send a shorter one"
            except ProviderError as error:
                record.error = f"sub-LLM call failed: {error}"
        if record.error is not None:
            self.stats.errors += 1
            record.reply = f"Error: {record.error}"
        return record.reply

    async def _converse(self, prompt: str, record: SubLLMRecord) -> str:
        messages = [{"role": "system", "content": self.config.system_prompt}, {"role": "user", "content": prompt}]
        schemas = [tool.schema() for tool in self.tools.values()]
        for turn in range(self.config.max_tool_turns + 1):
            offer_tools = bool(schemas) and turn < self.config.max_tool_turns
            record.request_ids.append(rollout.sub_turn(record.index, turn))
            reply = await self.client.complete(
                messages, schemas if offer_tools else None, self.config.max_tokens, request_id=record.request_ids[-1]
            )
            record.turns += 1
            self.stats.prompt_tokens += reply.prompt_tokens
            self.stats.completion_tokens += reply.completion_tokens
            calls = reply.message.get("tool_calls") or []
            if not (offer_tools and calls):
                return self._final_text(reply.message.get("content") or "")
            messages.append(reply.message)
            for call in calls:
                outcome = await run_tool_call(self.tools, call)
                record.tool_calls += 1
                self.stats.tool_calls += 1
                self.stats.tool_errors += int(not outcome.ok)
                messages.append({"role": "tool", "tool_call_id": call.get("id", ""), "content": outcome.text})
        raise AssertionError("unreachable: the last turn offers no tools")

    def _final_text(self, content: str) -> str:
        if self.config.extract_boxed:
            boxed = extract_boxed(content)
            if boxed is not None:
                return boxed
        return content
