"""scripts/new_env.py scaffolds a package that imports and has the README markers."""

import importlib
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from new_env import scaffold  # noqa: E402

from rlm_env.run.docs import ARGS_END, ARGS_START, arguments_table, replace_section  # noqa: E402


def test_scaffold_creates_an_importable_package(tmp_path, monkeypatch):
    target = scaffold("Tiny Task", root=tmp_path)
    assert target.name == "tiny_task_rlm"
    monkeypatch.syspath_prepend(str(target))
    module = importlib.import_module("tiny_task_rlm")
    assert module.__all__[-1] == "RLMHarness" and hasattr(module, "TinyTaskTaskset")
    readme = (target / "README.md").read_text()
    assert ARGS_START in readme and ARGS_END in readme
    table = arguments_table(module.TinyTaskConfig)
    assert "`num_examples`" in replace_section(readme, table)
    project = tomllib.loads((target / "pyproject.toml").read_text())["project"]
    core = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    [pin] = [Requirement(r) for r in project["dependencies"] if r.startswith("rlm-env")]
    assert core["version"] in pin.specifier and project["classifiers"] == core["classifiers"]
    assert (target / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
    with pytest.raises(FileExistsError):
        scaffold("tiny-task", root=tmp_path)
    with pytest.raises(ValueError, match="must start with a letter"):
        scaffold("9lives", root=tmp_path)


def test_command_line_errors_are_one_line_and_name_the_problem():
    import subprocess

    script = Path(__file__).resolve().parents[1] / "scripts" / "new_env.py"
    result = subprocess.run([sys.executable, str(script), "verbatim-copy"], capture_output=True, text=True)
    assert result.returncode == 2 and "already exists; pick another name" in result.stderr
    assert "Traceback" not in result.stderr
