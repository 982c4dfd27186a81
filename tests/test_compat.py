"""rlm_env.harness.compat: the one place that knows which verifiers API is installed."""

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest

import rlm_env
from rlm_env.harness import compat


@pytest.mark.parametrize("version", ["0.4.0", "0.4.1.dev52", "0.4.1.dev86", "0.4.9"])
def test_supported_versions_pass(version):
    assert compat.check_verifiers(version) == version


@pytest.mark.parametrize("version", ["0.3.1.dev70", "0.3.2", "0.5.0", "0.5.0.dev1", "1.0.0"])
def test_an_unsupported_version_is_one_line_naming_the_range_and_the_fix(version):
    with pytest.raises(compat.UnsupportedVerifiersError) as caught:
        compat.check_verifiers(version)
    message = str(caught.value)
    assert "\n" not in message and f"verifiers {version} is installed" in message
    assert ">=0.4,<0.5" in message and "uv pip install 'verifiers>=0.4,<0.5'" in message


def test_loading_the_harness_on_an_unsupported_verifiers_fails_before_any_rollout(monkeypatch):
    monkeypatch.setattr(compat, "verifiers_version", lambda: "0.5.2")
    monkeypatch.delitem(rlm_env.__dict__, "RLMHarness", raising=False)
    with pytest.raises(compat.UnsupportedVerifiersError, match="verifiers 0.5.2 is installed"):
        rlm_env.RLMHarness  # noqa: B018 - the lazy import is the point


def test_the_cli_prints_one_line_for_an_unsupported_verifiers():
    script = (
        "import sys\nfrom rlm_env.harness import compat\ncompat.verifiers_version = lambda: '0.3.1'\n"
        "from rlm_env.run.cli import main\nsys.exit(main(['eval', 'verbatim-copy-rlm', '--base-url', 'http://x/v1']))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("rlm-env: error: rlm-env needs verifiers>=0.4,<0.5, but verifiers 0.3.1 is installed")


def test_the_process_start_is_exec_on_new_runtimes_and_open_process_on_0_4_0():
    async def exec_(argv, env): ...
    async def open_process(argv, env): ...

    assert compat.process_starter(SimpleNamespace(exec=exec_)) is exec_
    assert compat.process_starter(SimpleNamespace(open_process=open_process)) is open_process
    with pytest.raises(compat.UnsupportedVerifiersError, match="neither exec nor open_process"):
        compat.process_starter(SimpleNamespace())


def test_the_installed_verifiers_has_the_runtime_api_compat_names():
    expected = "open_process" if compat.verifiers_version() == "0.4.0" else "exec"
    assert compat.runtime_api() == expected


def test_token_arrays_and_masks_become_lists_or_keep_their_kind():
    assert compat.token_list(np.array([1, 2, 3], dtype=np.int32)) == [1, 2, 3]
    assert compat.token_list([4, 5]) == [4, 5]
    masked = compat.masked_out(np.array([True, False, True]))
    assert isinstance(masked, np.ndarray) and masked.dtype == np.bool_ and not masked.any() and len(masked) == 3
    assert compat.masked_out([True, True]) == [False, False]


def test_doctor_names_the_active_verifiers_and_its_runtime_api():
    result = subprocess.run(
        [sys.executable, "-m", "rlm_env.run.cli", "doctor"], capture_output=True, text=True, timeout=300
    )
    lines = {line.split()[1]: line for line in result.stdout.splitlines() if line.strip()}
    assert f"{compat.verifiers_version()} (supported: >=0.4,<0.5)" in lines["verifiers"]
    assert lines["verifiers"].startswith("ok") and f"runtime.{compat.runtime_api()}" in lines["runtime"]
    assert "bubblewrap" in lines and "local" in lines
