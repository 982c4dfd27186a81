"""The chat client's reading of what a provider sends: bodies nothing has vouched for, and the
retry hints of rate-limited replies (the faults themselves run end to end in test_faults.py)."""

import email.utils
import json
import time

import httpx
import pytest

from rlm_env.core.client import MAX_RETRY_AFTER_S, MalformedResponse, _reply, _retry_after


def completion(message: object, usage: object = None) -> bytes:
    return json.dumps({"choices": [{"index": 0, "message": message, "finish_reason": "stop"}], "usage": usage}).encode()


def test_a_reply_keeps_role_content_and_tool_calls_in_the_loop_shape():
    call = {"id": "c1", "index": 0, "type": "function", "function": {"name": "python", "arguments": {"code": "1"}}}
    reply = _reply(
        completion(
            {"role": "assistant", "content": None, "tool_calls": [call], "refusal": None},
            {"prompt_tokens": 12, "completion_tokens": 3},
        )
    )
    assert reply.message == {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "python", "arguments": '{"code": "1"}'}}],
    }
    assert (reply.prompt_tokens, reply.completion_tokens) == (12, 3)


@pytest.mark.parametrize("usage", [None, {"prompt_tokens": "12"}, {"prompt_tokens": -1}, {"prompt_tokens": True}])
def test_token_counts_that_are_not_counts_read_as_zero(usage):
    assert _reply(completion({"content": "hi"}, usage)).prompt_tokens == 0


@pytest.mark.parametrize(
    "body",
    [
        b"[1, 2]",
        b'{"choices": []}',
        b'{"choices": ["text"]}',
        b'{"choices": [{"message": "text"}]}',
        completion({"content": ["not", "text"]}),
        completion({"content": "", "tool_calls": "python"}),
        completion({"content": "", "tool_calls": [{"id": "c1"}]}),
        b"[" * 100_000,
    ],
)
def test_bodies_that_are_not_completions_are_malformed(body):
    with pytest.raises(MalformedResponse):
        _reply(body)


def test_retry_after_in_seconds_milliseconds_or_a_date():
    assert _retry_after(httpx.Headers({"retry-after": "1.5"})) == 1.5
    assert _retry_after(httpx.Headers({"retry-after-ms": "250", "retry-after": "9"})) == 0.25
    date = email.utils.formatdate(time.time() + 10, usegmt=True)
    assert 8 < _retry_after(httpx.Headers({"retry-after": date})) <= 10


@pytest.mark.parametrize("value", ["0", "-3", str(MAX_RETRY_AFTER_S + 1), "soon"])
def test_retry_after_that_is_not_a_sensible_wait_falls_back_to_backoff(value):
    assert _retry_after(httpx.Headers({"retry-after": value})) is None
