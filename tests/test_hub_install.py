"""Install an environment as the Environments Hub does, from built wheels alone, and run it.

`prime env install` installs an environment wheel plus its dependencies from an index. Here
the index is a folder holding the wheels this test builds (rlm-env and verbatim-copy-rlm);
everything else comes from the package registry, as for a user. The fresh virtual
environment has no checkout on its path, so a module the wheels forgot to ship, or a
dependency missing from their metadata, fails this test. One rollout then runs through
`vf-eval` in RLM mode against the scripted server, and its reward is read from vf-eval's output.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fake_openai import FakeOpenAI, code
from rlm_env.harness.compat import verifiers_version

ROOT = Path(__file__).resolve().parents[1]
ENV_ID = "verbatim-copy-rlm"


def copy_the_text(request: dict) -> dict:
    """The root model in RLM mode: set the answer to the text between the prompt's <text> tags."""
    prompt = next(m["content"] for m in request["messages"] if m["role"] == "user")
    text = re.search(r"\n<text>\n(.*)\n</text>", prompt, re.DOTALL).group(1)
    return code(f"answer['content'] = {text!r}\nanswer['ready'] = True")


def run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600, **kwargs)
    assert result.returncode == 0, f"{' '.join(argv)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.mark.slow  # builds two wheels and installs a fresh environment: about a minute
def test_environment_installs_from_wheels_alone_and_scores_a_rollout(tmp_path):
    if shutil.which("uv") is None:
        pytest.skip("uv is not on PATH: the Hub install is not checked")
    wheels = tmp_path / "index"
    for package in ("rlm-env", ENV_ID):
        run(["uv", "build", "--package", package, "--wheel", "-o", str(wheels)], cwd=ROOT)

    venv = tmp_path / "venv"
    run(["uv", "venv", "--python", sys.executable, str(venv)], cwd=tmp_path)
    python = venv / "bin" / "python"
    # The same verifiers as this test run, so each CI job checks the install on its own version.
    run(
        [
            "uv",
            "pip",
            "install",
            "--python",
            str(python),
            "--find-links",
            str(wheels),
            "--prerelease",
            "if-necessary-or-explicit",
            ENV_ID,
            f"verifiers=={verifiers_version()}",
        ],
        cwd=tmp_path,
    )

    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "VIRTUAL_ENV", "UV_"))}
    where = run(
        [str(python), "-c", "import rlm_env, verbatim_copy_rlm; print(rlm_env.__file__)"], cwd=tmp_path, env=env
    ).stdout
    assert str(venv) in where and str(ROOT) not in where, where

    outputs = tmp_path / "outputs"
    with FakeOpenAI(root=copy_the_text) as server:
        run(
            [
                str(venv / "bin" / "vf-eval"),
                ENV_ID,
                "--env.agent.runtime.type",
                "subprocess",
                "-m",
                "fake-model",
                "--client.base-url",
                server.base_url,
                "--client.api-key-var",
                "FAKE_API_KEY",
                "-n",
                "1",
                "-r",
                "1",
                "-c",
                "1",
                "--no-push",
                "--no-rich",
                "-o",
                str(outputs),
            ],
            cwd=tmp_path,
            env={**env, "FAKE_API_KEY": "sk-fake"},
        )
    server.check()
    [traces_file] = outputs.rglob("traces.jsonl")
    [episode] = [json.loads(line) for line in traces_file.read_text().splitlines() if line.strip()]
    [trace] = episode["traces"]
    assert episode["ok"] and trace["info"]["rlm_env"]["stop_reason"] == "answer_ready", episode["errors"]
    assert {name: reward["score"] for name, reward in trace["rewards"].items()} == {"exact_match": 1.0}
