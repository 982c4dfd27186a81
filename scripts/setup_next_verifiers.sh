#!/usr/bin/env bash
# A second environment, .venv-next: the locked one with verifiers replaced by the newest
# pre-release below 0.5 (the renamed runtime API that prime-rl may install). Sourced by
# scripts/test.sh after scripts/setup.sh; safe to run again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
UV_PROJECT_ENVIRONMENT=.venv-next uv sync --locked --all-packages --compile-bytecode ${RLM_ENV_EXTRAS:-} --quiet
uv pip install --python .venv-next/bin/python --quiet --compile-bytecode --prerelease allow "verifiers>0.4.0,<0.5"
