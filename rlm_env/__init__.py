"""rlm-env: Recursive Language Model environments for verifiers and prime-rl.

The public surface environments import from; everything else is internal. Names load on
first use (PEP 562), so `rlm-env --help` and the REPL modules do not pay for importing
verifiers.
"""

import importlib

_EXPORTS = {
    "Budgets": "rlm_env.core.loop",
    "RLMHarness": "rlm_env.harness.adapter",
    "RLMHarnessConfig": "rlm_env.harness.adapter",
    "RolloutInfo": "rlm_env.core.rollout",
    "RLMTaskData": "rlm_env.harness.task_data",
    "Ref": "rlm_env.harness.task_data",
    "ReplConfig": "rlm_env.repl",
    "SandboxConfig": "rlm_env.repl",
    "ScoringError": "rlm_env.core.errors",
    "SubLLMConfig": "rlm_env.core.sub_llm",
    "Tool": "rlm_env.core.tools",
    "ToolError": "rlm_env.core.tools",
    "ToolUnavailable": "rlm_env.core.errors",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'rlm_env' has no attribute {name!r}")
    from rlm_env.harness.compat import check_verifiers

    check_verifiers()  # one line naming the supported range, not an AttributeError in a rollout
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value
