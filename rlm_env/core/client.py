"""OpenAI-compatible chat calls, shared by the root model and the sub-LLMs.

Every call goes to one base URL (in a verifiers rollout: the interception endpoint, with the
rollout's secret as the API key), so the trace sees root and sub-LLM calls alike.

What each provider fault becomes (the error model is rlm_env.core.errors):

- HTTP 429 (waiting `Retry-After` when given), 5xx, a connection reset, a body cut off mid-way,
  a read timeout: retried by the OpenAI SDK with backoff, `max_retries` times.
- A 200 whose body is not a chat completion (not JSON, or empty `choices`): the SDK does not
  retry it (it raises a JSON error or hands back the text), so this client does, `max_retries`
  times with the same backoff.
- Still failing, or a 4xx: `ProviderError` with the HTTP status (502 for a malformed body, 503
  for a connection fault, 504 for a timeout); a 4xx that says the prompt is too long:
  `ContextOverflowError`.
"""

import asyncio
import logging
import random
from dataclasses import dataclass
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from rlm_env.core.errors import ContextOverflowError, ProviderError

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-ACP-Model-Request-ID"
# How providers word "the prompt does not fit" (vLLM, OpenAI, Anthropic, llama.cpp, renderers).
CONTEXT_OVERFLOW_HINTS = (
    "context length",
    "context_length",
    "maximum context",
    "too many tokens",
    "exceeds the context",
    "context window",
    "prompt is too long",
    "exceeds the available context size",
    "exceed_context_size",
)
# The SDK's own backoff (openai._constants): 0.5 s doubling up to 8 s, less up to a quarter.
INITIAL_RETRY_DELAY_S = 0.5
MAX_RETRY_DELAY_S = 8.0
ERROR_TEXT_CHARS = 500
"""How much of a provider's error body goes into the error message."""

__all__ = ["ChatClient", "ChatReply", "ContextOverflowError", "ProviderError"]


class MalformedResponse(Exception):
    """A 200 reply that is not a usable chat completion; retried, then a ProviderError (502)."""


@dataclass
class ChatReply:
    message: dict[str, Any]
    """The assistant message as a plain dict: role, content, tool_calls (may be absent)."""
    prompt_tokens: int
    completion_tokens: int


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
        self._client = openai.AsyncOpenAI(
            base_url=self.base_url, api_key=self.api_key, timeout=self.timeout_s, max_retries=self.max_retries
        )

    def with_model(self, model: str | None, headers: dict[str, str] | None = None) -> "ChatClient":
        """The same endpoint with another model name and extra headers (e.g. for sub-LLMs)."""
        return ChatClient(
            self.base_url,
            self.api_key,
            model or self.model,
            self.sampling,
            self.timeout_s,
            self.max_retries,
            {**(self.extra_headers or {}), **(headers or {})},
            self.tag_requests,
        )

    async def close(self) -> None:
        """Close the HTTP connections while the event loop still runs."""
        await self._client.close()

    async def complete(
        self,
        messages: list[dict],
        tools: list[dict] | None = None,
        max_tokens: int | None = None,
        request_id: str | None = None,
        stop: list[str] | None = None,
    ) -> ChatReply:
        request: dict[str, Any] = {"model": self.model, "messages": messages, **(self.sampling or {})}
        if tools:
            request["tools"] = tools
        if stop:
            request["stop"] = stop
        if max_tokens is not None:
            request["max_tokens"] = max_tokens
        headers = dict(self.extra_headers or {})
        if self.tag_requests and request_id:
            headers[REQUEST_ID_HEADER] = request_id
        for attempt in range(self.max_retries + 1):
            try:
                return _reply(await self._create(request, headers))
            except MalformedResponse as error:
                if attempt == self.max_retries:
                    raise ProviderError(
                        f"model returned a malformed response ({attempt + 1} attempts): {error}", status_code=502
                    ) from None
                logger.debug("retrying a malformed model response (%s)", error)
                await asyncio.sleep(_backoff(attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _create(self, request: dict[str, Any], headers: dict[str, str]) -> Any:
        """One SDK call (with the SDK's retries); every failure as a typed error."""
        try:
            return await self._client.chat.completions.create(**request, extra_headers=headers)
        except openai.BadRequestError as error:
            if any(hint in str(error).lower() for hint in CONTEXT_OVERFLOW_HINTS):
                raise ContextOverflowError(_clip(error)) from error
            raise ProviderError(f"model request rejected: {_clip(error)}", status_code=error.status_code) from error
        except openai.APIStatusError as error:
            raise ProviderError(f"model call failed: {_clip(error)}", status_code=error.status_code) from error
        except openai.APITimeoutError as error:  # a subclass of APIConnectionError: first
            raise ProviderError(
                f"model call timed out after {self.timeout_s:g} s ({self.max_retries + 1} attempts)", status_code=504
            ) from error
        except openai.APIConnectionError as error:
            cause = error.__cause__ or error
            raise ProviderError(
                f"model endpoint connection failed ({self.max_retries + 1} attempts): "
                f"{type(cause).__name__}: {_clip(cause)}",
                status_code=503,
            ) from error
        except openai.APIError as error:  # e.g. a response the SDK could not validate
            raise MalformedResponse(_clip(error)) from error
        except ValueError as error:  # the body was declared JSON but is not
            raise MalformedResponse(f"the body is not JSON ({error})") from error


def _reply(response: Any) -> ChatReply:
    if not isinstance(response, ChatCompletion):  # the SDK hands back the text of a non-JSON body
        raise MalformedResponse(f"the body is not a chat completion: {_clip(response)}")
    if not response.choices:
        raise MalformedResponse(f"no choices: {response.model_dump_json()[:ERROR_TEXT_CHARS]}")
    choice = response.choices[0]
    if getattr(choice, "message", None) is None:
        raise MalformedResponse(f"the first choice has no message: {_clip(choice)}")
    message = choice.message.model_dump(exclude_none=True, include={"role", "content", "tool_calls"})
    message.setdefault("content", None)
    usage = response.usage
    return ChatReply(
        message=message,
        prompt_tokens=usage.prompt_tokens if usage else 0,
        completion_tokens=usage.completion_tokens if usage else 0,
    )


def _backoff(attempt: int) -> float:
    return min(INITIAL_RETRY_DELAY_S * 2**attempt, MAX_RETRY_DELAY_S) * (1 - 0.25 * random.random())


def _clip(value: object) -> str:
    text = str(value)
    return text if len(text) <= ERROR_TEXT_CHARS else text[:ERROR_TEXT_CHARS] + f"... [{len(text)} chars]"
