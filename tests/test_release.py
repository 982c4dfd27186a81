"""scripts/release.py: the checks it makes before building anything."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("release", ROOT / "scripts" / "release.py")
release = importlib.util.module_from_spec(spec)
spec.loader.exec_module(release)


def test_the_repository_passes_the_release_checks():
    core, *environments = release.packages()
    assert core.name == "rlm-env" and len(environments) == 4
    release.check_sources(core, environments)


def test_an_environment_pin_that_excludes_the_release_is_refused(tmp_path):
    core, env, *_ = release.packages()
    env.requires = ["rlm-env>=0.1,<0.2", *[r for r in env.requires if not r.startswith("rlm-env")]]
    with pytest.raises(release.ReleaseError, match=f"does not admit rlm-env {core.version}: pin a compatible range"):
        release.check_sources(core, [env])
    env.requires = [r for r in env.requires if not r.startswith("rlm-env")]
    with pytest.raises(release.ReleaseError, match="requires no rlm-env"):
        release.check_sources(core, [env])


def test_a_version_without_a_changelog_line_is_refused():
    core, env, *_ = release.packages()
    env.version = "9.9.9"
    with pytest.raises(release.ReleaseError, match=r"no changelog line for 9.9.9: add '- 9.9.9: <what changed>'"):
        release.check_sources(core, [env])
