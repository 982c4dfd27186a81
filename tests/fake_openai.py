"""A scripted OpenAI-compatible chat server on loopback: the test double for every model.

Each request is answered by a handler: a `Script` (replies in order, loud when it runs out)
or any function of the request body. A reply is a dict with `content` and/or `tool_calls`,
or an `Error(status)` for a provider failure, a `Fault(kind)` (below), a `Raw(status, body)`
sent as it is, or a `Delay(seconds, reply)`. Like a real server, it honours a request's `stop`
strings: the content is cut before the first one it holds.

    server = FakeOpenAI(root=Script([code("answer['content'] = '4'; answer['ready'] = True")]))
    with server:
        ... base_url=server.base_url ...
    server.check()  # raises if a script ran out or a handler failed

Given a tokenizer (`write_chatml_tokenizer`), it also answers like prime-rl's vLLM server in
training: `POST /inference/v1/generate` takes prompt token ids and returns completion token
ids with a logprob per token, and `GET /v1/models` reports `max_model_len`. A handler then gets
`{"prompt_text": <decoded prompt>, "token_ids": [...], ...}` and replies as above; the reply is
written in the Qwen (hermes) chat format and tokenized. Every generation is kept in
`server.generations` so a test can compare the trace's tokens with what was sent.

Fault injection (`FakeOpenAI(..., faults=Faults(rates={...}, seed=0))`): before a chat request
reaches its handler, a seeded draw may answer it with one of `FAULT_KINDS` instead: HTTP 429
with `Retry-After`, 500, 503, a connection reset, a hang past the client's read timeout, a body
cut off mid-way, a 200 whose body is not JSON, a completion with empty `choices`, or a slow
(but correct) reply. The handler only sees the requests that get through, so a `Script` is not
consumed by a fault. Root and sub-LLM requests are drawn alike (`Faults.routes` narrows it);
`server.injected` counts what was injected per (kind, route). One seeded generator serves all
requests in arrival order, so a rerun injects the same mix, though under concurrency not
necessarily into the same requests. A scripted reply can also be one `Fault(kind)`.
"""

import collections
import itertools
import json
import random
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class Error:
    status: int
    message: str = "scripted provider error"


@dataclass
class Delay:
    seconds: float
    reply: Any


@dataclass
class Raw:
    """A response sent byte for byte (a proxy's HTML page, a body that is not JSON)."""

    status: int
    body: bytes
    content_type: str = "application/json"


FAULT_KINDS = (
    "rate_limit",
    "server_error",
    "unavailable",
    "reset",
    "timeout",
    "truncated",
    "non_json",
    "empty_choices",
    "slow",
)
"""What `Faults` injects: 429 + Retry-After, 500, 503, connection reset, read timeout (a hang), a
body cut off mid-way, a non-JSON 200 body, a 200 with empty `choices`, a slow reply."""


@dataclass
class Fault:
    """A provider fault as a scripted reply, or as drawn by `Faults`."""

    kind: str

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; one of {FAULT_KINDS}")


@dataclass
class Faults:
    """Seeded per-request fault injection for a FakeOpenAI."""

    rates: dict[str, float]
    """Probability per request of each kind in FAULT_KINDS (summing to at most 1)."""
    seed: int = 0
    routes: tuple[str, ...] = ("root", "sub")
    """Which requests are drawn for: root calls, sub-LLM calls, or both."""
    retry_after_s: float = 1.0
    """The Retry-After header of a 429 (whole seconds are what servers send)."""
    hang_s: float = 3.0
    """How long a `timeout` request hangs before the connection is dropped: set it past the
    client's read timeout."""
    slow_s: float = 0.5
    """Extra seconds a `slow` reply takes."""
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        unknown = set(self.rates) - set(FAULT_KINDS)
        if unknown or sum(self.rates.values()) > 1 + 1e-9:
            raise ValueError(f"fault rates must name kinds in {FAULT_KINDS} and sum to at most 1: {self.rates}")
        self._rng = random.Random(self.seed)

    @classmethod
    def mix(cls, error_rate: float, slow_rate: float = 0.0, **options) -> "Faults":
        """Every error kind at an equal share of `error_rate`, plus slow replies at `slow_rate`."""
        errors = [kind for kind in FAULT_KINDS if kind != "slow"]
        return cls({**{kind: error_rate / len(errors) for kind in errors}, "slow": slow_rate}, **options)

    def draw(self, route: str) -> str | None:
        if route not in self.routes:
            return None
        with self._lock:
            u = self._rng.random()
        for kind, rate in self.rates.items():
            if u < rate:
                return kind
            u -= rate
        return None


class ScriptExhausted(AssertionError):
    pass


class Script:
    """Replies handed out in order; a request past the end fails the test loudly."""

    def __init__(self, replies: list, name: str = "script") -> None:
        self.replies = list(replies)
        self.name = name
        self.requests: list[dict] = []
        self._lock = threading.Lock()

    def __call__(self, request: dict) -> Any:
        with self._lock:
            self.requests.append(request)
            if not self.replies:
                raise ScriptExhausted(
                    f"{self.name} ran out of replies at request {len(self.requests)}: "
                    f"{json.dumps(request.get('messages', [])[-1:])[:500]}"
                )
            reply = self.replies.pop(0)
        return reply(request) if callable(reply) else reply


def code(source: str, call_id: str | None = None) -> dict:
    """An assistant turn that runs `source` through the python tool."""
    return tool_call("python", {"code": source}, call_id)


def tool_call(name: str, arguments: dict | str, call_id: str | None = None) -> dict:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {
        "content": None,
        "tool_calls": [
            {"id": call_id or f"call_{next(_ids)}", "type": "function", "function": {"name": name, "arguments": args}}
        ],
    }


def text(content: str) -> dict:
    return {"content": content}


_ids = itertools.count(1)


def is_sub_llm(request: dict) -> bool:
    """Sub-LLM calls carry no python tool; root calls in RLM mode do."""
    if "prompt_text" in request:  # a token-level request: the tools are rendered into the prompt
        return '"name": "python"' not in request["prompt_text"]
    tools = request.get("tools") or []
    return not any(t["function"]["name"] == "python" for t in tools)


# Qwen's chat-format specials: what renderers' Qwen3 renderer looks up in a tokenizer.
CHATML_SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHATML_MARKUP_TOKENS = ["<think>", "</think>", "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"]


def write_chatml_tokenizer(directory: Path) -> Path:
    """Save a byte-level tokenizer with Qwen's chat specials to `directory` and return it.

    One token per byte (no merges) plus the specials: a real Hugging Face tokenizer that
    `renderers` loads from a local path, standing in for Qwen's (the Hub is out of reach in
    tests). Token ids differ from Qwen's; the rendering and parsing are the same code."""
    from tokenizers import AddedToken, Tokenizer, decoders, pre_tokenizers
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast

    vocab = {char: i for i, char in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    tokenizer = Tokenizer(BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(CHATML_SPECIAL_TOKENS)
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in CHATML_MARKUP_TOKENS])
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    fast.save_pretrained(directory)
    return Path(directory)


def chatml_completion(reply: dict) -> str:
    """A scripted reply as a Qwen model writes it: content, hermes tool calls, end of turn."""
    parts = [reply["content"]] if reply.get("content") else []
    for call in reply.get("tool_calls") or []:
        function = call["function"]
        arguments = json.loads(function["arguments"])
        parts.append(f"<tool_call>\n{json.dumps({'name': function['name'], 'arguments': arguments})}\n</tool_call>")
    return "\n".join(parts) + "<|im_end|>"


@dataclass
class Generation:
    """One token-level request and what the fake answered."""

    is_sub: bool
    prompt_ids: list[int]
    completion_ids: list[int]
    logprobs: list[float]


def error_payload(error: Error) -> dict:
    return {"error": {"message": error.message, "type": "server_error", "code": error.status}}


class FakeOpenAI:
    """Routes each chat request to `sub` when `is_sub(request)` else to `root`."""

    def __init__(
        self,
        root: Callable[[dict], Any] | None = None,
        sub: Callable[[dict], Any] | None = None,
        is_sub: Callable[[dict], bool] = is_sub_llm,
        prompt_tokens: int = 100,
        completion_tokens: int = 10,
        tokenizer_dir: Path | None = None,
        max_model_len: int = 32768,
        faults: Faults | None = None,
        keep_requests: bool = True,
    ) -> None:
        self.keep_requests = keep_requests
        """Keep every request body in `requests` (a long soak turns it off to bound memory)."""
        self.requests_served = 0
        self.faults = faults
        """Fault injection for chat requests; None (or reassigned to None) turns it off."""
        self.injected: collections.Counter = collections.Counter()
        """(fault kind, "root" | "sub") -> how many requests got that fault."""
        self.root = root
        self.sub = sub
        self.is_sub = is_sub
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.requests: list[dict] = []
        self.generations: list[Generation] = []
        self.max_model_len = max_model_len
        self.tokenizer = None
        if tokenizer_dir is not None:
            from transformers import PreTrainedTokenizerFast

            self.tokenizer = PreTrainedTokenizerFast.from_pretrained(tokenizer_dir)
        self.failures: list[BaseException] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> "FakeOpenAI":
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def check(self) -> None:
        if self.failures:
            raise self.failures[0]

    def route(self, request: dict) -> str:
        return "sub" if self.is_sub(request) else "root"

    def scripted_reply(self, request: dict) -> Any:
        handler = self.sub if (self.sub is not None and self.is_sub(request)) else self.root
        if handler is None:
            raise ScriptExhausted("no handler for this request")
        reply = handler(request)
        while isinstance(reply, Delay):
            time.sleep(reply.seconds)
            reply = reply.reply
        return reply

    def respond(self, request: dict) -> tuple[int, dict] | Fault | Raw:
        faults = self.faults
        kind = faults.draw(self.route(request)) if faults is not None else None
        if kind is not None:
            with self._lock:
                self.injected[kind, self.route(request)] += 1
            if kind != "slow":
                return Fault(kind)
            time.sleep(faults.slow_s)
        reply = self.scripted_reply(request)
        if isinstance(reply, Fault) and reply.kind == "slow":
            raise ValueError("a scripted reply cannot be Fault('slow'): script a Delay(seconds, reply)")
        if isinstance(reply, (Fault, Raw)):
            return reply
        if isinstance(reply, Error):
            return reply.status, error_payload(reply)
        return 200, self.completion(request, reply)

    def generate(self, body: dict) -> tuple[int, dict]:
        """Answer `/inference/v1/generate` the way prime-rl's vLLM server does."""
        if self.tokenizer is None:
            raise AssertionError("token-level request to a FakeOpenAI built without tokenizer_dir")
        prompt_ids = list(body["token_ids"])
        request = {**body, "prompt_text": self.tokenizer.decode(prompt_ids, skip_special_tokens=False)}
        reply = self.scripted_reply(request)
        if isinstance(reply, Error):
            return reply.status, error_payload(reply)
        completion_ids = self.tokenizer.encode(chatml_completion(reply), add_special_tokens=False)
        # Distinct, deterministic logprobs so a test can tell tokens apart.
        logprobs = [-(index % 7 + 1) / 8 for index in range(len(completion_ids))]
        with self._lock:
            self.generations.append(Generation(self.is_sub(request), prompt_ids, completion_ids, logprobs))
        content = [
            {"token": f"token_id:{token}", "logprob": logprob} for token, logprob in zip(completion_ids, logprobs)
        ]
        return 200, {
            "request_id": f"gen-{next(_ids)}",
            "prompt_token_ids": prompt_ids,
            "choices": [
                {"index": 0, "token_ids": completion_ids, "logprobs": {"content": content}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": len(prompt_ids),
                "completion_tokens": len(completion_ids),
                "total_tokens": len(prompt_ids) + len(completion_ids),
            },
        }

    def completion(self, request: dict, reply: dict) -> dict:
        content = reply.get("content")
        stops = request.get("stop") or []
        stops = [stops] if isinstance(stops, str) else stops
        if content and (cuts := [content.index(stop) for stop in stops if stop in content]):
            content = content[: min(cuts)]  # the stop string itself is not returned, as with OpenAI
        message = {"role": "assistant", "content": content, "tool_calls": reply.get("tool_calls")}
        finish = reply.get("finish_reason") or ("tool_calls" if reply.get("tool_calls") else "stop")
        usage = reply.get("usage") or {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens}
        usage = {**usage, "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]}
        return {
            "id": f"chatcmpl-{next(_ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model", "fake"),
            "usage": usage,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        }

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            # TCP_NODELAY, as uvicorn (vLLM) and aiohttp set it: the headers and the body go out in
            # two writes, and with Nagle the body waits for the client's delayed ACK (~40 ms) on a
            # kept-alive connection.
            disable_nagle_algorithm = True

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                self._send(
                    200,
                    {
                        "object": "list",
                        "data": [{"id": "fake", "object": "model", "max_model_len": fake.max_model_len}],
                    },
                )

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                body["_headers"] = dict(self.headers)
                with fake._lock:
                    if fake.keep_requests:
                        fake.requests.append(body)
                    fake.requests_served += 1
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                try:
                    if self.path.rstrip("/").endswith("/inference/v1/generate"):
                        outcome = fake.generate(body)
                    else:
                        outcome = fake.respond(body)
                except BaseException as error:  # noqa: BLE001 - reported to the test through check()
                    fake.failures.append(error)
                    outcome = 500, {"error": {"message": f"fake server: {error}", "type": "test_failure"}}
                finally:
                    with fake._lock:
                        fake.in_flight -= 1
                try:
                    if isinstance(outcome, Fault):
                        self._fault(outcome.kind, body)
                    elif isinstance(outcome, Raw):
                        self._send(outcome.status, {}, data=outcome.body, content_type=outcome.content_type)
                    else:
                        self._send(*outcome)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up first (its timeout), as it may

            def _send(
                self,
                status: int,
                payload: dict,
                headers: dict[str, str] | None = None,
                data: bytes | None = None,
                length: int | None = None,
                content_type: str = "application/json",
            ) -> None:
                data = json.dumps(payload).encode() if data is None else data
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data) if length is None else length))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _fault(self, kind: str, body: dict) -> None:
                faults = fake.faults or Faults({})
                completion = fake.completion(body, {"content": "a reply the fault cut off"})
                if kind == "rate_limit":
                    self._send(
                        429,
                        error_payload(Error(429, "rate limited: slow down")),
                        {"Retry-After": f"{faults.retry_after_s:g}"},
                    )
                elif kind in ("server_error", "unavailable"):
                    status = 500 if kind == "server_error" else 503
                    self._send(status, error_payload(Error(status, f"injected HTTP {status}")))
                elif kind == "reset":
                    self._reset()
                elif kind == "timeout":
                    time.sleep(faults.hang_s)
                    self._reset()
                elif kind == "truncated":
                    data = json.dumps(completion).encode()
                    self._send(200, {}, data=data[: len(data) // 2], length=len(data))
                    self._reset()
                elif kind == "non_json":
                    self._send(200, {}, data=b"<html><body>upstream proxy error</body></html>")
                elif kind == "empty_choices":
                    self._send(200, {**completion, "choices": []})

            def _reset(self) -> None:
                """Close with a TCP reset (SO_LINGER 0), not an orderly shutdown."""
                self.wfile.flush()
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True

        return Handler
