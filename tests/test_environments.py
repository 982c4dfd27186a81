"""Structural checks over every package in environments/: metadata, README, loading by id."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import verifiers.v1 as vf
from packaging.requirements import Requirement

from rlm_env import RLMHarnessConfig
from rlm_env.run.docs import arguments_table, replace_section

ROOT = Path(__file__).resolve().parents[1]
ENV_DIRS = sorted(p for p in (ROOT / "environments").iterdir() if p.is_dir() and not p.name.startswith("."))
README_SECTIONS = ["## Overview", "## Task", "## Quickstart", "## Arguments", "## Metrics", "## Version and changelog"]
PLACEHOLDERS = ("<", "TODO", "TBD", "one-line description", "my-env")


@pytest.fixture(params=ENV_DIRS, ids=lambda p: p.name)
def env_dir(request) -> Path:
    return request.param


def project(env_dir: Path) -> dict:
    return tomllib.loads((env_dir / "pyproject.toml").read_text())["project"]


def test_metadata_is_complete(env_dir):
    meta = project(env_dir)
    assert meta["name"] == env_dir.name.replace("_", "-") and meta["name"].endswith("-rlm")
    assert meta["version"].count(".") == 2
    assert len(meta["description"]) > 30 and not any(p in meta["description"] for p in PLACEHOLDERS)
    assert meta["tags"] and all(tag and not any(p in tag for p in PLACEHOLDERS) for tag in meta["tags"])
    assert meta["readme"] == "README.md"
    assert meta["license"] == "MIT" and (env_dir / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
    assert meta["requires-python"] and meta["classifiers"] and meta["urls"]
    # A compatible range of the rlm-env this checkout releases: a Hub install resolves it from PyPI.
    [pin] = [Requirement(dep) for dep in meta["dependencies"] if Requirement(dep).name == "rlm-env"]
    core_version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert core_version in pin.specifier and any(spec.operator == "<" for spec in pin.specifier), pin


def test_readme_follows_the_template_and_its_arguments_are_current(env_dir):
    readme = (env_dir / "README.md").read_text()
    positions = [readme.find(section) for section in README_SECTIONS]
    assert -1 not in positions and positions == sorted(positions), "README sections missing or out of order"
    env_id = env_dir.name.replace("_", "-")
    expected = replace_section(readme, arguments_table(vf.taskset_config_type(env_id)))
    assert readme == expected, "arguments table is stale: run `uv run python scripts/env_readme.py`"
    assert f"Version {project(env_dir)['version']}" in readme


def test_loads_by_id_with_the_rlm_harness_as_default(env_dir):
    env_id = env_dir.name.replace("_", "-")
    module = __import__(env_dir.name)
    assert "RLMHarness" in module.__all__ and vf.harness_config_type(env_id) is RLMHarnessConfig
    assert vf.default_harness_id(env_id) == env_id
    config = vf.resolve_env_config({"taskset": {"id": env_id}, "agent": {"runtime": {"type": "subprocess"}}})
    env = vf.load_environment(config)
    assert env.taskset.config.id == env_id


def test_readme_script_check_passes():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "env_readme.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_builds_a_wheel_whose_metadata_matches(env_dir, tmp_path):
    import email
    import shutil
    import zipfile

    if shutil.which("uv") is None:
        pytest.skip("uv is not on PATH: wheel build not checked")
    meta = project(env_dir)
    subprocess.run(
        ["uv", "build", "--package", meta["name"], "--wheel", "-o", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        raw = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode("utf-8")
    headers, body = raw.split("\n\n", 1)
    metadata = email.message_from_string(headers)
    assert (metadata["Name"], metadata["Version"], metadata["Summary"]) == (
        meta["name"],
        meta["version"],
        meta["description"],
    )
    assert body.strip() == (env_dir / "README.md").read_text().strip()
    assert f"{env_dir.name}/__init__.py" in names
