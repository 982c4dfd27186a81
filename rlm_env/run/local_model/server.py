"""The embedded model's server: llama.cpp's own HTTP server in this process, via ``xllamacpp``.

``LocalModelServer`` serves a model file (rlm_env.run.local_model.model_file) bound to
127.0.0.1 and exposes an OpenAI-compatible ``base_url`` (``http://127.0.0.1:PORT/v1``). Use it
as a context manager (sync or async) or with ``start()``/``stop()``. ``xllamacpp`` is imported
when a server is started, so this module is safe to import without the ``local`` extra.

Example::

    async with LocalModelServer("0.5b") as server:
        client = AsyncOpenAI(base_url=server.base_url, api_key=server.api_key)
        ...
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import secrets
import socket
import time
from pathlib import Path
from typing import Any, Self

import httpx

from rlm_env.run.local_model.model_file import (
    DEFAULT_LOCAL_MODEL,
    LOCAL_EXTRA_INSTALL,
    LocalModelError,
    ensure_model_file,
    spec_for,
)

logger = logging.getLogger(__name__)

__all__ = ["LocalModelServer"]


def _cpu_count() -> int:
    # Respect CPU affinity (containers, taskset) where the platform has it.
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _check_port_free(host: str, port: int) -> None:
    """Raise LocalModelError when ``host:port`` cannot be listened on.

    SO_REUSEADDR matches what llama.cpp's HTTP server does, so a port that only
    has TIME_WAIT leftovers (e.g. from a previous run) counts as free while one
    with a live listener does not.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise LocalModelError(
                    f"port {port} on {host} is already in use; pass another --port, or --port 0 to pick a free one."
                ) from None
            raise LocalModelError(
                f"cannot listen on {host}:{port} ({e.strerror}); pass another --port, or --port 0 to pick a free one."
            ) from None


class LocalModelServer:
    """llama.cpp's OpenAI-compatible server for a local GGUF model, in this process.

    Parameters:
        model: a ``LOCAL_MODELS`` key or a path to a ``.gguf`` file.
        port: TCP port on 127.0.0.1; 0 (default) lets the server pick a free one.
        parallel: number of requests decoded concurrently (llama.cpp slots).
        ctx_per_slot: context window of each slot, in tokens.
        threads: CPU threads for llama.cpp; default: all CPUs this process may use.
        model_name: name reported by ``/v1/models``; default: the registry's
            served name, or the file stem for a path.
        cache_dir: where assembled models live; see ``ensure_model_file``.
        startup_timeout: seconds to wait for ``/health`` once the model is loaded.
        verbose: let llama.cpp write its own log to stderr (it bypasses ``logging``).
    """

    host = "127.0.0.1"  # never exposed beyond this machine

    def __init__(
        self,
        model: str | os.PathLike[str] = DEFAULT_LOCAL_MODEL,
        *,
        port: int = 0,
        parallel: int = 4,
        ctx_per_slot: int = 8192,
        threads: int | None = None,
        model_name: str | None = None,
        cache_dir: Path | None = None,
        startup_timeout: float = 120.0,
        verbose: bool = False,
    ) -> None:
        if not 0 <= port <= 65535:
            raise LocalModelError(f"invalid port {port}: use 1-65535, or 0 to pick a free one.")
        if parallel < 1 or ctx_per_slot < 256:
            raise LocalModelError("parallel must be >= 1 and ctx_per_slot >= 256.")
        self.model = model = os.fspath(model)
        self.requested_port = port
        self.parallel = parallel
        self.ctx_per_slot = ctx_per_slot
        self.threads = threads or _cpu_count()
        self.cache_dir = cache_dir
        self.startup_timeout = startup_timeout
        self.verbose = verbose
        spec = spec_for(model)
        if model_name is None:
            model_name = spec.served_name if spec else Path(model).stem
        self.model_name = model_name
        # llama.cpp's server allows any web origin (CORS *); a per-run key keeps
        # pages open in a local browser, and other local users, from using it.
        self.api_key = secrets.token_urlsafe(24)
        self.model_path: Path | None = None
        self.port: int | None = None
        self._server: Any = None  # xllamacpp.Server while running

    # -- lifecycle ---------------------------------------------------------- #

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def root_url(self) -> str:
        if self.port is None:
            raise LocalModelError("the local model server is not running; call start() first.")
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """OpenAI-compatible base URL, e.g. ``http://127.0.0.1:PORT/v1``."""
        return self.root_url + "/v1"

    def start(self) -> Self:
        """Prepare the model file, start the server and wait until it answers.

        Blocks while the model loads (a few seconds for 0.5B on CPU).
        """
        if self._server is not None:
            return self
        self.model_path = ensure_model_file(self.model, self.cache_dir)
        if self.requested_port:
            _check_port_free(self.host, self.requested_port)
        try:
            import xllamacpp
        except ImportError as e:
            raise LocalModelError(
                f"the local model server needs xllamacpp ({e}); install it with: {LOCAL_EXTRA_INSTALL}"
            ) from None

        params = self._params(xllamacpp)
        logger.info(
            "starting local model server: %s (%s), %d slots x %d tokens, %d threads",
            self.model_name,
            self.model_path,
            self.parallel,
            self.ctx_per_slot,
            self.threads,
        )
        started = time.monotonic()
        try:
            # The constructor returns only after the model is loaded and the HTTP
            # server listens; it raises a bare RuntimeError on any failure.
            # Held only by self._server (no local name): stop() must be able to
            # drop the last reference, or the C++ server would outlive it.
            self._server = xllamacpp.Server(params)
        except RuntimeError as e:
            if self.requested_port:
                _check_port_free(self.host, self.requested_port)  # lost a race for the port?
            hint = "" if self.verbose else " Start it with verbose=True to see llama.cpp's log."
            raise LocalModelError(f"llama.cpp could not start with model {self.model_path} ({e}).{hint}") from None
        try:
            # listening_address is "http://127.0.0.1:PORT"; with port 0 this is
            # how we learn which port the server picked.
            self.port = int(self._server.listening_address.rsplit(":", 1)[1])
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        logger.info(
            "local model server ready at %s in %.1fs",
            self.base_url,
            time.monotonic() - started,
        )
        return self

    def stop(self) -> None:
        """Stop the server and free the model; safe to call more than once."""
        server, self._server = self._server, None
        if server is None:
            return
        # xllamacpp has no explicit stop(): dropping the last reference runs the
        # C++ destructor, which ends the decode loop and the HTTP listener and
        # joins their threads. Nothing else holds a reference to the server.
        del server
        logger.info("local model server on port %s stopped", self.port)
        self.port = None

    def _params(self, xllamacpp: Any) -> Any:
        p = xllamacpp.CommonParams()
        p.model.path = str(self.model_path)
        p.model_alias = {self.model_name}
        p.hostnames = [self.host]
        p.port = self.requested_port
        p.api_keys = [self.api_key]
        p.n_parallel = self.parallel
        # With kv_unified off (the default) llama.cpp splits n_ctx evenly among
        # the slots, so each slot gets exactly ctx_per_slot tokens.
        p.kv_unified = False
        p.n_ctx = self.parallel * self.ctx_per_slot
        p.cont_batching = True
        p.cpuparams.n_threads = self.threads
        p.cpuparams_batch.n_threads = self.threads
        # Jinja renders the GGUF's own chat template, which is what makes OpenAI
        # `tools` requests produce the model's tool-call format (default on, but
        # the tool-calling path depends on it, so say so).
        p.use_jinja = True
        # Host-RAM cache of evicted slot prompts; llama.cpp's 8 GiB default is too
        # much next to an evaluation on a small machine.
        p.cache_ram_mib = 1024
        p.ui = False  # the wheel has no web UI assets anyway
        # llama.cpp logs straight to stderr, not through `logging`; -1 silences it.
        p.verbosity = 3 if self.verbose else -1
        return p

    def _wait_healthy(self) -> None:
        # /health is public (no API key) and answers 200 once the model is ready.
        # trust_env=False: an HTTP(S)_PROXY in the environment must not capture
        # requests to 127.0.0.1.
        deadline = time.monotonic() + self.startup_timeout
        last = "no answer"
        with httpx.Client(trust_env=False, timeout=5.0) as client:
            while True:
                try:
                    r = client.get(self.root_url + "/health")
                    if r.status_code == 200:
                        return
                    last = f"HTTP {r.status_code}: {r.text[:200]}"
                except httpx.HTTPError as e:
                    last = repr(e)
                if time.monotonic() >= deadline:
                    raise LocalModelError(
                        f"local model server at {self.root_url} did not become healthy "
                        f"within {self.startup_timeout:.0f}s (last answer: {last})."
                    )
                time.sleep(0.1)

    # -- context managers --------------------------------------------------- #

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        # Model loading blocks; run it off the event loop thread. (xllamacpp
        # currently holds the GIL while loading, so the loop still stalls for
        # those seconds, but start() itself stays non-blocking in form.)
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    def __repr__(self) -> str:
        state = f"running at {self.base_url}" if self.running else "stopped"
        return f"LocalModelServer({self.model!r}, {state})"
