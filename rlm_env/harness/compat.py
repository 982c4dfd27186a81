"""The one place that knows which verifiers API is installed.

rlm-env supports `verifiers>=0.4,<0.5`. Inside that range the runtime API was renamed in the
0.4.1 pre-releases (0.4.1.dev52, 2026-10-18), which prime-rl may install from its own source:

| what                        | 0.4.0                                   | 0.4.1.dev52 and later                    |
|-----------------------------|-----------------------------------------|------------------------------------------|
| start a process in a runtime| `runtime.open_process(argv, env)`       | `runtime.exec(argv, env)`                |
| provision a runtime (tests) | `make_runtime(config)`, `start`/`stop`  | `async with provision_runtime(config)`   |
| trace node token ids, masks | `list[int]`, `list[bool]`               | numpy arrays                             |

Everything else in rlm_env and the environments calls the functions below instead of branching
on the version itself.
"""

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Any

from packaging.version import Version

SUPPORTED = ">=0.4,<0.5"
_LOWEST, _FIRST_UNSUPPORTED = Version("0.4.0.dev0"), Version("0.5.0.dev0")


class UnsupportedVerifiersError(ImportError):
    """The installed verifiers is outside the range rlm-env supports."""


def verifiers_version() -> str:
    """The installed verifiers version, read from its metadata without importing it."""
    return version("verifiers")


def check_verifiers(installed: str | None = None) -> str:
    """Return the installed version, or raise one line naming the supported range and the fix."""
    installed = installed or verifiers_version()
    if not _LOWEST <= Version(installed) < _FIRST_UNSUPPORTED:
        raise UnsupportedVerifiersError(
            f"rlm-env needs verifiers{SUPPORTED}, but verifiers {installed} is installed: "
            f"run `uv pip install 'verifiers{SUPPORTED}'` (in a prime-rl checkout, then use `uv run --no-sync`)"
        )
    return installed


def runtime_api() -> str:
    """`exec` (0.4.1.dev52 and later) or `open_process` (0.4.0): how a runtime starts a process."""
    from verifiers.v1.runtimes import Runtime

    return "exec" if hasattr(Runtime, "exec") else "open_process"


def process_starter(runtime: Any) -> Callable[[list[str], dict[str, str]], Awaitable[Any]]:
    """The runtime's "start argv with env, return a live process with stdio" method."""
    start = getattr(runtime, "exec", None) or getattr(runtime, "open_process", None)
    if start is None:
        raise UnsupportedVerifiersError(
            f"this verifiers runtime ({type(runtime).__name__}) has neither exec nor open_process; "
            f"rlm-env needs verifiers{SUPPORTED}"
        )
    return start


@asynccontextmanager
async def subprocess_runtime(name: str) -> AsyncIterator[Any]:
    """A started verifiers subprocess runtime, stopped on exit (what tests provision)."""
    from verifiers.v1 import runtimes

    config = runtimes.SubprocessConfig()
    if hasattr(runtimes, "provision_runtime"):
        async with runtimes.provision_runtime(config, name=name) as runtime:
            yield runtime
        return
    runtime = runtimes.make_runtime(config, name=name)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


def token_list(ids: Sequence[int] | Any) -> list[int]:
    """Token ids (or a mask) as a plain list, whether verifiers keeps a list or a numpy array."""
    return [value.item() if hasattr(value, "item") else value for value in ids]


def masked_out(mask: Sequence[bool] | Any) -> Any:
    """An all-False mask of the same length and kind (list or numpy array) as `mask`."""
    if hasattr(mask, "dtype"):
        import numpy

        return numpy.zeros(len(mask), dtype=mask.dtype)
    return [False] * len(mask)
