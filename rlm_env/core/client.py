"""OpenAI-compatible chat calls, shared by the root model and the sub-LLMs.

Every call goes to one base URL (in a verifiers rollout: the interception endpoint, with the
rollout's secret as the API key), so the trace sees root and sub-LLM calls alike.

The calls go straight through httpx rather than the OpenAI SDK: the SDK spends about 4 ms of CPU
building each request with a long history and builds an SSL context per client (20+ ms), and a
trainer's env server makes hundreds of these calls a second. The wire format is the plain
`/chat/completions` JSON; the retry policy is the SDK's.

What each provider fault becomes (the error model is rlm_env.core.errors):

- HTTP 408, 409, 429 (waiting `Retry-After` when given), 5xx, a connection reset, a body cut off
  mid-way, a read timeout: retried with backoff, `max_retries` times.
- A 200 whose body is not a chat completion (not JSON, or empty `choices`): retried
  `max_retries` times with the same backoff.
- Still failing, or a 4xx: `ProviderError` with the HTTP status (502 for a malformed body, 503
  for a connection fault, 504 for a timeout); a 4xx that says the prompt is too long:
  `ContextOverflowError`.
"""

import asyncio
import email.utils
import functools
import json
import logging
import random
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

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
# The OpenAI SDK's backoff (openai._constants): 0.5 s doubling up to 8 s, less up to a quarter;
# a server's Retry-After is honoured when it asks for at most a minute.
INITIAL_RETRY_DELAY_S = 0.5
MAX_RETRY_DELAY_S = 8.0
MAX_RETRY_AFTER_S = 60.0
RETRIED_STATUSES = frozenset({408, 409, 429})
"""Retried besides every 5xx (the SDK's set)."""
ERROR_TEXT_CHARS = 500
"""How much of a provider's error body goes into the error message."""

__all__ = ["ChatClient", "ChatReply", "ContextOverflowError", "ProviderError"]


class MalformedResponse(Exception):
    """A 200 reply that is not a usable chat completion; retried, then a ProviderError (502)."""


class _Retryable(Exception):
    """One failed attempt worth another: the error it ends as, and the wait a server asked for."""

    def __init__(self, error: Exception, retry_after_s: float | None = None) -> None:
        super().__init__(str(error))
        self.error, self.retry_after_s = error, retry_after_s


@dataclass
class ChatReply:
    message: dict[str, Any]
    """The assistant message as a plain dict: role, content, tool_calls (may be absent)."""
    prompt_tokens: int
    completion_tokens: int


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process: building one costs ~20 ms, and most endpoints
    (the verifiers interception, a local server) are plain http anyway."""
    return ssl.create_default_context()


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
    _http: httpx.AsyncClient | None = field(default=None, repr=False)
    """The connection pool; clients made by `with_model` share their parent's, which closes it."""

    def __post_init__(self) -> None:
        self._owns_http = self._http is None
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=self.timeout_s,
                verify=_tls_context(),
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
            )
        self._url = self.base_url.rstrip("/") + "/chat/completions"

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
            _http=self._http,
        )

    async def close(self) -> None:
        """Close the HTTP connections while the event loop still runs (the pool's owner only)."""
        if self._owns_http:
            await self._http.aclose()

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
        headers = {
            "Authorization": f"Bearer {self.api_key}",
            "Content-Type": "application/json",
            **(self.extra_headers or {}),
        }
        if self.tag_requests and request_id:
            headers[REQUEST_ID_HEADER] = request_id
        body = json.dumps(request, ensure_ascii=False).encode()
        for attempt in range(self.max_retries + 1):
            try:
                return await self._attempt(body, headers)
            except _Retryable as failed:
                if attempt == self.max_retries:
                    raise self._final_error(failed.error, attempt + 1) from failed.error.__cause__
                logger.debug("retrying a model call (%s)", failed.error)
                await asyncio.sleep(failed.retry_after_s if failed.retry_after_s is not None else _backoff(attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _attempt(self, body: bytes, headers: dict[str, str]) -> ChatReply:
        """One HTTP exchange: the reply, a final error, or `_Retryable`."""
        try:
            response = await self._http.post(self._url, content=body, headers=headers)
        except httpx.TimeoutException as error:
            raise _Retryable(_cause(TimeoutError("timed out"), error)) from None
        except httpx.TransportError as error:  # refused, reset, a body cut off mid-way
            raise _Retryable(_cause(ConnectionError(f"{type(error).__name__}: {_clip(error)}"), error)) from None
        if response.status_code >= 400:
            error = _status_error(response)
            if _should_retry(response):
                raise _Retryable(error, _retry_after(response.headers))
            raise error
        try:
            return _reply(response.content)
        except MalformedResponse as error:
            raise _Retryable(error) from None

    def _final_error(self, error: Exception, attempts: int) -> Exception:
        """What a fault that outlived its retries ends as."""
        if isinstance(error, MalformedResponse):
            return ProviderError(f"model returned a malformed response ({attempts} attempts): {error}", status_code=502)
        if isinstance(error, TimeoutError):
            return ProviderError(
                f"model call timed out after {self.timeout_s:g} s ({attempts} attempts)", status_code=504
            )
        if isinstance(error, ConnectionError):
            return ProviderError(f"model endpoint connection failed ({attempts} attempts): {error}", status_code=503)
        return error  # already a ProviderError with the HTTP status


def _status_error(response: httpx.Response) -> ProviderError:
    text = _clip(f"Error code: {response.status_code} - {response.text}")
    if 400 <= response.status_code < 500 and any(hint in text.lower() for hint in CONTEXT_OVERFLOW_HINTS):
        return ContextOverflowError(text)
    verb = "model request rejected" if response.status_code == 400 else "model call failed"
    return ProviderError(f"{verb}: {text}", status_code=response.status_code)


def _should_retry(response: httpx.Response) -> bool:
    # A server may say so itself (the SDK honours this header too).
    override = response.headers.get("x-should-retry")
    if override in ("true", "false"):
        return override == "true"
    return response.status_code in RETRIED_STATUSES or response.status_code >= 500


def _retry_after(headers: httpx.Headers) -> float | None:
    """The wait a 429/503 asks for (`retry-after-ms`, `Retry-After` seconds or date), if sensible."""
    value = headers.get("retry-after") or ""
    seconds = _seconds(headers.get("retry-after-ms"), 1000) or _seconds(value)
    if seconds is None and (date := email.utils.parsedate_tz(value)) is not None:
        seconds = email.utils.mktime_tz(date) - time.time()
    return seconds if seconds is not None and 0 < seconds <= MAX_RETRY_AFTER_S else None


def _seconds(text: str | None, per_second: int = 1) -> float | None:
    """A header's number as seconds; None when absent or not a number."""
    try:
        return float(text) / per_second if text is not None else None
    except ValueError:
        return None


def _reply(body: bytes) -> ChatReply:
    """The first choice's message and the token counts, from a body nothing has vouched for."""
    try:
        completion = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise MalformedResponse(f"the body is not JSON ({_clip(error)}): {_clip(body[:ERROR_TEXT_CHARS])}") from None
    if not isinstance(completion, dict):
        raise MalformedResponse(f"the body is not a chat completion: {_clip(completion)}")
    choices = completion.get("choices")
    if not isinstance(choices, list) or not choices:
        raise MalformedResponse(f"no choices: {_clip(json.dumps(completion))}")
    message = choices[0].get("message") if isinstance(choices[0], dict) else None
    if not isinstance(message, dict):
        raise MalformedResponse(f"the first choice has no message: {_clip(choices[0])}")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise MalformedResponse(f"the message content is not text: {_clip(content)}")
    reply: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls := message.get("tool_calls"):
        reply["tool_calls"] = _tool_calls(tool_calls)
    usage = completion.get("usage") if isinstance(completion.get("usage"), dict) else {}
    return ChatReply(
        message=reply,
        prompt_tokens=_count(usage.get("prompt_tokens")),
        completion_tokens=_count(usage.get("completion_tokens")),
    )


def _tool_calls(calls: Any) -> list[dict[str, Any]]:
    """Native tool calls in the shape the loop reads: id, type, function name and arguments."""
    if not isinstance(calls, list):
        raise MalformedResponse(f"tool_calls is not a list: {_clip(calls)}")
    shaped = []
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            raise MalformedResponse(f"a tool call without a function: {_clip(call)}")
        arguments = function.get("arguments")
        shaped.append(
            {
                "id": str(call.get("id") or ""),
                "type": "function",
                "function": {
                    "name": str(function.get("name") or ""),
                    "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
                },
            }
        )
    return shaped


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _cause(error: Exception, cause: BaseException) -> Exception:
    error.__cause__ = cause
    return error


def _backoff(attempt: int) -> float:
    return min(INITIAL_RETRY_DELAY_S * 2**attempt, MAX_RETRY_DELAY_S) * (1 - 0.25 * random.random())


def _clip(value: object) -> str:
    text = str(value)
    return text if len(text) <= ERROR_TEXT_CHARS else text[:ERROR_TEXT_CHARS] + f"... [{len(text)} chars]"
