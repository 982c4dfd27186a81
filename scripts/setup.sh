#!/usr/bin/env bash
# Installs what rlm-env needs on a bare machine: uv, bubblewrap (the REPL sandbox) and the
# locked Python environment. Safe to run again; each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v uv >/dev/null 2>&1; then
    echo "setup: installing uv" >&2
    python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
    export PATH="$HOME/.local/bin:$PATH"
fi

if ! command -v bwrap >/dev/null 2>&1; then
    as_root=""
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && as_root="sudo -n"
    if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || [ -n "$as_root" ]; }; then
        echo "setup: installing bubblewrap" >&2
        $as_root apt-get update -qq >/dev/null && $as_root apt-get install -y -qq bubblewrap >/dev/null \
            || echo "setup: could not install bubblewrap; the REPL falls back to resource limits only" >&2
    else
        echo "setup: bubblewrap missing and apt-get unavailable; the REPL falls back to resource limits only" >&2
    fi
fi

# Bytecode compiled at install: without it every process (vf-eval, rlm-env, REPL workers, test
# subprocesses) recompiles verifiers, openai and the rest on start-up (seconds each).
uv sync --locked --all-packages --compile-bytecode ${RLM_ENV_EXTRAS:-}
