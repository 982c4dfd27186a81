"""What a run can be asked for (the three modes) and the error for a request the user can fix.

Kept apart from rlm_env.run.evaluate so the CLI can build its parser and report errors without
importing verifiers.
"""

from typing import Any

# Mode -> harness config. The harness id is always the env id (its package exports RLMHarness).
MODES: dict[str, dict[str, Any]] = {
    "standard": {"mode": "standard"},
    "rlm": {"mode": "rlm"},
    "rlm-tips": {"mode": "rlm", "env_tips": True},
}


class CLIError(Exception):
    """A problem the user can fix; the message names the fix. Shown as one line, no traceback."""
