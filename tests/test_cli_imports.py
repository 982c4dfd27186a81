"""`rlm-env --help` and `rlm-env view` start fast: they import neither verifiers, openai nor scipy.

Each command runs in a fresh interpreter that reports which modules it loaded; the heavy ones
take seconds to import and only `eval`, `ablate` and `report` need them.
"""

import json
import subprocess
import sys

import pytest

from synthetic_run import write_synthetic_run

HEAVY = ("verifiers", "openai", "scipy")
# Runs the CLI, then writes the names of the loaded modules to the file named by argv[1].
WRAPPER = """
import json, sys
from rlm_env.run.cli import main
try:
    status = main(sys.argv[2:])
except SystemExit as exit:
    status = exit.code
with open(sys.argv[1], "w") as out:
    json.dump({"status": status, "modules": sorted(sys.modules)}, out)
"""


def loaded_modules(tmp_path, *args: str) -> set[str]:
    report = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, str(report), *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(report.read_text())
    assert result["status"] in (0, None), done.stdout + done.stderr
    return {name.split(".")[0] for name in result["modules"]}


@pytest.mark.parametrize("command", [["--help"], ["view", "--help"], ["eval", "--help"]])
def test_help_imports_no_heavy_module(tmp_path, command):
    assert not set(HEAVY) & loaded_modules(tmp_path, *command)


def test_view_imports_no_heavy_module(tmp_path):
    run = write_synthetic_run(tmp_path / "run", "rlm", rollouts=2)
    assert not set(HEAVY) & loaded_modules(tmp_path, "view", str(run), "--rollout", "1")
