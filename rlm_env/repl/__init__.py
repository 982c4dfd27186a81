"""The sandboxed, persistent Python REPL that the root model's code runs in."""

from rlm_env.repl.sandbox import LocalSandbox, SandboxConfig, SandboxUnavailable
from rlm_env.repl.session import CellResult, ReplConfig, ReplInfraError, ReplSession, ReplStats, WorkerHost

__all__ = [
    "CellResult",
    "LocalSandbox",
    "ReplConfig",
    "ReplInfraError",
    "ReplSession",
    "ReplStats",
    "SandboxConfig",
    "SandboxUnavailable",
    "WorkerHost",
]
