"""OpenAI-compatible chat calls, shared by the root model and the sub-LLMs.

Every call goes to one base URL (in a verifiers rollout: the interception endpoint, with the
rollout's secret as the API key), so the trace sees root and sub-LLM calls alike.
"""

import logging
from dataclasses import dataclass
from typing import Any

import openai

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-ACP-Model-Request-ID"
# How providers word "the prompt does not fit" (vLLM, OpenAI, Anthropic, llama.cpp, renderers).
CONTEXT_OVERFLOW_HINTS = ("context length", "context_length", "maximum context", "too many tokens",
                          "exceeds the context", "context window", "prompt is too long",
                          "exceeds the available context size", "exceed_context_size")


class ProviderError(RuntimeError):
    """The model provider failed (after the client's retries): an infrastructure error."""


class ContextOverflowError(ProviderError):
    """The conversation no longer fits the model's context window."""


@dataclass
class ChatReply:
    message: dict[str, Any]
    """The assistant message as a plain dict: role, content, tool_calls (may be absent)."""
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


@dataclass
class ChatClient:
    """One model behind one OpenAI-compatible endpoint."""

    base_url: str
    api_key: str
    model: str
    sampling: dict[str, Any] | None = None
    """Extra request fields (temperature, max_tokens, ...) sent with every call."""
    timeout_s: float = 600.0
    max_retries: int = 2
    extra_headers: dict[str, str] | None = None
    tag_requests: bool = False
    """Send each call's request id in the X-ACP-Model-Request-ID header (the verifiers
    interception records it, so root and sub-LLM calls can be told apart and linked)."""

    def __post_init__(self) -> None:
        self._client = openai.AsyncOpenAI(base_url=self.base_url, api_key=self.api_key,
                                          timeout=self.timeout_s, max_retries=self.max_retries)

    def with_model(self, model: str | None, headers: dict[str, str] | None = None) -> "ChatClient":
        """The same endpoint with another model name and extra headers (e.g. for sub-LLMs)."""
        return ChatClient(self.base_url, self.api_key, model or self.model, self.sampling, self.timeout_s,
                          self.max_retries, {**(self.extra_headers or {}), **(headers or {})}, self.tag_requests)

    async def close(self) -> None:
        """Close the HTTP connections while the event loop still runs."""
        await self._client.close()

    async def complete(self, messages: list[dict], tools: list[dict] | None = None,
                       max_tokens: int | None = None, request_id: str | None = None,
                       stop: list[str] | None = None) -> ChatReply:
        request: dict[str, Any] = {"model": self.model, "messages": messages, **(self.sampling or {})}
        if tools:
            request["tools"] = tools
        if stop:
            request["stop"] = stop
        if max_tokens is not None:
            request["max_tokens"] = max_tokens
        try:
            headers = dict(self.extra_headers or {})
            if self.tag_requests and request_id:
                headers[REQUEST_ID_HEADER] = request_id
            response = await self._client.chat.completions.create(**request, extra_headers=headers)
        except openai.BadRequestError as error:
            if any(hint in str(error).lower() for hint in CONTEXT_OVERFLOW_HINTS):
                raise ContextOverflowError(str(error)) from error
            raise ProviderError(f"model request rejected: {error}") from error
        except openai.APIError as error:
            raise ProviderError(f"model call failed: {error}") from error
        if not response.choices:
            raise ProviderError(f"model returned no choices: {response.model_dump_json()[:500]}")
        choice = response.choices[0]
        message = choice.message.model_dump(exclude_none=True, include={"role", "content", "tool_calls"})
        message.setdefault("content", None)
        usage = response.usage
        return ChatReply(
            message=message,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            finish_reason=choice.finish_reason or "stop",
        )
