"""Running an environment for `rlm-env eval` and `rlm-env ablate`, through verifiers' own path.

The path is the one vf-eval and prime-rl's env server take: `vf.resolve_env_config` ->
`vf.load_environment` -> `async with env.serving()` -> `env.run_slot` per rollout. Nothing
here re-implements a rollout; this module only builds the config, picks the endpoint, shows
progress and hands each finished episode to the run folder (rlm_env.run.results).

Endpoints: `--base-url` (checked with `GET {base_url}/models` before anything runs), or, when
none is given, the bundled GGUF model served in this process by rlm_env.run.local_model. That one
server answers both the root model and the sub-LLMs.
"""

import asyncio
import contextlib
import importlib.metadata
import importlib.util
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import verifiers.v1 as vf
from pydantic import ValidationError
from rich.progress import Progress
from verifiers.v1.env import RunSlot
from verifiers.v1.utils.trace_store import append_episode

from rlm_env.harness.adapter import RLMHarnessConfig
from rlm_env.harness.prompt_source import ExtraDataSourceError, check_source
from rlm_env.run.local_model.server import LocalModelServer
from rlm_env.run.results import RunWriter, failed_episode_record, rollout_record
from rlm_env.run.run_args import MODES, CLIError

LOCAL_KEY_VAR = "RLM_ENV_LOCAL_API_KEY"
GENERIC_HARNESS_ID = "rlm-env"
"""The RLM harness by id (the rlm_env package exports it), for a taskset that bundles none."""
LOCAL_EXTRA_HINT = "`uv sync --all-packages --extra local` (or `pip install 'rlm-env[local]'`)"


# --------------------------------------------------------------------------- config


def parse_json_object(flag: str, text: str | None) -> dict[str, Any]:
    """A JSON object given on the command line, e.g. --env-args '{"num_examples": 5}'."""
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except ValueError as error:
        raise CLIError(
            f"{flag} is not valid JSON ({error}); pass an object such as '{{\"num_examples\": 5}}' in single quotes"
        ) from None
    if not isinstance(value, dict):
        raise CLIError(f"{flag} must be a JSON object such as '{{\"num_examples\": 5}}', not {text!r}")
    return value


def installed_env_ids() -> list[str]:
    """Installed distributions that depend on rlm-env: the environments rlm-env can run."""
    ids = set()
    for dist in importlib.metadata.distributions():
        for requirement in dist.requires or []:
            name = re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0]
            if name.lower().replace("_", "-") == "rlm-env":
                ids.add(dist.metadata["Name"])
    return sorted(ids)


def _check_env_id(env_id: str) -> str:
    """The env id names an installed package that exports a v1 Taskset; returns the harness id:
    the env id when the package exports rlm_env's RLMHarness, else `rlm-env` (any other taskset)."""
    module = env_id.rsplit("/", 1)[-1].split("@", 1)[0].replace("-", "_").lower()  # as verifiers' loader does
    try:
        vf.taskset_config_type(env_id)
    except ModuleNotFoundError as error:
        cause = error.__cause__
        if isinstance(cause, ModuleNotFoundError) and cause.name == module:
            installed = ", ".join(installed_env_ids()) or "none"
            raise CLIError(
                f"unknown environment {env_id!r}; installed environments: {installed} "
                "(install one with `uv sync --all-packages` or `uv pip install <env>`)"
            ) from None
        raise CLIError(
            f"environment {env_id!r} failed to import ({cause or error}); install its "
            "dependencies with `uv sync --all-packages`"
        ) from None
    except (AttributeError, TypeError, ValueError) as error:  # no __all__, or no / two exported classes
        raise CLIError(f"environment {env_id!r} cannot run under rlm-env: {error}") from None
    try:
        harness_config = vf.harness_config_type(env_id)
    except TypeError:  # the package bundles no harness
        return GENERIC_HARNESS_ID
    except ValueError as error:  # two harnesses exported
        raise CLIError(f"environment {env_id!r} cannot run under rlm-env: {error}") from None
    return env_id if issubclass(harness_config, RLMHarnessConfig) else GENERIC_HARNESS_ID


def env_config(env_id: str, mode: str, env_args: dict[str, Any], harness_args: dict[str, Any]) -> vf.EnvConfig:
    """The verifiers env config of one mode; the same dict shape prime-rl's TOMLs hold."""
    harness_id = _check_env_id(env_id)
    for key in ("id", *MODES["rlm-tips"]):
        if key in harness_args:
            raise CLIError(
                f"--harness-args may not set {key!r}: rlm-env picks the RLM harness and the mode "
                f"comes from --mode ({', '.join(MODES)})"
            )
    if "id" in env_args:
        raise CLIError("--env-args may not set 'id': the taskset id is the env id")
    raw = {
        "taskset": {**env_args, "id": env_id},
        "agent": {"runtime": {"type": "subprocess"}, "harness": {**harness_args, **MODES[mode], "id": harness_id}},
    }
    try:
        return vf.resolve_env_config(raw)
    except ValidationError as error:
        raise CLIError(_validation_message(error, env_id)) from None


def _validation_message(error: ValidationError, env_id: str) -> str:
    """pydantic's complaints on one line, each under the flag that set the value."""
    by_flag: dict[str, list[str]] = {}
    extra: set[str] = set()
    for item in error.errors():
        loc = item["loc"]
        if loc[:1] == ("taskset",):
            flag, path = "--env-args", loc[1:]
        elif loc[:2] == ("agent", "harness"):
            flag, path = "--harness-args", loc[2:]
        else:
            flag, path = "arguments", loc
        message = item["msg"].removeprefix("Value error, ")
        by_flag.setdefault(flag, []).append(f"{'.'.join(map(str, path))}: {message}" if path else message)
        if item["type"] == "extra_forbidden" and len(path) == 1:
            extra.add(flag)
    parts = []
    for flag, messages in by_flag.items():
        text = f"invalid {flag} for {env_id}: {'; '.join(messages)}"
        if flag in extra:
            fields = (vf.taskset_config_type(env_id) if flag == "--env-args" else RLMHarnessConfig).model_fields
            text += f" (valid fields: {', '.join(name for name in fields if name != 'id')})"
        parts.append(text)
    return "; ".join(parts)


# --------------------------------------------------------------------------- endpoint


@dataclass(frozen=True)
class Endpoint:
    """Where the root model and the sub-LLMs are served."""

    base_url: str
    model: str
    api_key_var: str
    local_model: str | None = None
    """The local model key or GGUF path when rlm-env serves the model itself."""


def check_endpoint(base_url: str, api_key: str, api_key_var: str) -> list[str]:
    """GET {base_url}/models before any rollout; returns the model ids it lists."""
    url = base_url.rstrip("/") + "/models"
    try:
        response = httpx.get(url, headers={"Authorization": f"Bearer {api_key}"}, timeout=15)
    except httpx.HTTPError as error:
        raise CLIError(
            f"cannot reach the endpoint: GET {url} failed ({type(error).__name__}: {error}); "
            "start the server or fix --base-url (an OpenAI-compatible URL ending in /v1)"
        ) from None
    if response.status_code in (401, 403):
        raise CLIError(
            f"the endpoint refused the API key in ${api_key_var} (GET {url}: HTTP {response.status_code}); "
            "set the right key or pass --api-key-var"
        )
    if response.status_code >= 400:
        raise CLIError(
            f"GET {url} answered HTTP {response.status_code}; check --base-url (an OpenAI-compatible URL ending in /v1)"
        )
    try:
        return [model["id"] for model in response.json()["data"]]
    except (ValueError, KeyError, TypeError):  # some servers list models differently; not fatal
        return []


def _require_local_extra() -> None:
    if importlib.util.find_spec("xllamacpp") is None:
        raise CLIError(
            "no --base-url given, so rlm-env would serve its bundled local model, but xllamacpp is "
            f"not installed: run {LOCAL_EXTRA_HINT}, or pass --base-url and --model of an "
            "OpenAI-compatible endpoint"
        )


@contextlib.contextmanager
def open_endpoint(
    base_url: str | None,
    model: str | None,
    api_key_var: str,
    local_model: str,
    port: int,
    parallel: int,
    say: Callable[[str], None] = print,
    threads: int | None = None,
) -> Iterator[Endpoint]:
    """A checked remote endpoint, or the local model server for as long as the block runs."""
    if base_url is None:
        if model is not None:
            raise CLIError(
                "--model names a model served at --base-url; pass --base-url too, or use "
                "--local-model to pick the bundled model"
            )
        _require_local_extra()
        say(f"starting the local model server ({local_model}); the first start assembles the model file")
        with LocalModelServer(local_model, port=port, parallel=parallel, threads=threads) as server:
            # The key travels by environment variable, as verifiers' client config expects.
            os.environ[LOCAL_KEY_VAR] = server.api_key
            try:
                yield Endpoint(server.base_url, server.model_name, LOCAL_KEY_VAR, local_model)
            finally:
                os.environ.pop(LOCAL_KEY_VAR, None)
        return
    api_key = os.environ.get(api_key_var)
    if not api_key:
        raise CLIError(
            f"the API key variable ${api_key_var} is not set: export {api_key_var}=<key> "
            "(any value for a server without auth), or name another variable with --api-key-var"
        )
    served = check_endpoint(base_url, api_key, api_key_var)
    if model is None:
        if len(served) != 1:
            listed = f"; it serves: {', '.join(served[:10])}" if served else ""
            raise CLIError(f"pass --model to say which model at {base_url} to evaluate{listed}")
        model = served[0]
    yield Endpoint(base_url.rstrip("/"), model, api_key_var)


# --------------------------------------------------------------------------- running


@dataclass(frozen=True)
class RunPlan:
    """What to run, shared by every mode of an ablation."""

    env_id: str
    num_tasks: int | None
    """Tasks to take from the taskset (None = all)."""
    rollouts_per_task: int = 1
    concurrency: int = 4
    """Rollouts in flight at once."""
    env_args: dict[str, Any] = field(default_factory=dict)
    harness_args: dict[str, Any] = field(default_factory=dict)
    sampling: dict[str, Any] = field(default_factory=dict)
    """Sampling overrides (temperature, max_tokens) applied to every model call."""
    pass_threshold: float = 1.0
    """A rollout passes (pass@1, pass@K in the summary) when its reward is at least this."""
    variants: dict[str, "Variant"] = field(default_factory=dict)
    """Extra named modes of an ablation (a knob on or off), by name."""

    def resolve(self, mode: str) -> tuple[str, dict[str, Any]]:
        """The mode (a MODES key) and harness arguments of a mode or variant name."""
        if mode in self.variants:
            variant = self.variants[mode]
            return variant.mode, merged(self.harness_args, variant.harness_args)
        return mode, self.harness_args


@dataclass(frozen=True)
class Variant:
    """A named mode of one ablation: one of MODES with harness arguments of its own, so a knob's
    effect is measured on and off in the same run (same server, tasks and sampling)."""

    name: str
    mode: str
    harness_args: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> "Variant":
        """NAME=MODE:JSON, e.g. 'rlm-no-stop=rlm:{"protocol": {"stop_sequences": []}}'."""
        name, sep, rest = text.partition("=")
        mode, colon, args = rest.partition(":")
        if not sep or not name.strip() or mode not in MODES:
            raise CLIError(
                f"--variant {text!r}: write NAME=MODE:JSON with MODE one of {', '.join(MODES)}, e.g. "
                '\'rlm-no-stop=rlm:{"protocol": {"stop_sequences": []}}\''
            )
        if name.strip() in MODES:
            raise CLIError(f"--variant {text!r}: the name {name.strip()!r} is a mode already; pick another")
        return cls(name.strip(), mode, parse_json_object("--variant", args) if colon else {})


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`base` with `override` laid over it, nested tables merged key by key."""
    out = dict(base)
    for key, value in override.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _versions(env_id: str) -> dict[str, str]:
    versions = {}
    for name in ("rlm-env", "verifiers", env_id):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):  # e.g. an env on sys.path only
            versions[name] = importlib.metadata.version(name)
    return versions


def check_tasks(config: vf.EnvConfig, tasks: list[vf.Task]) -> None:
    """The harness config fits the task data (an `extra_data_source` field exists), before any rollout."""
    source = config.agent.harness.extra_data_source
    try:
        for task in tasks:
            check_source(source, task.data)
    except ExtraDataSourceError as error:
        raise CLIError(f"--harness-args: {error}") from None


async def run_mode(plan: RunPlan, mode: str, endpoint: Endpoint, out: Path, progress: Progress) -> dict[str, Any]:
    """Run every rollout of one mode (or variant) into the run folder `out`; returns the summary."""
    base_mode, harness_args = plan.resolve(mode)
    config = env_config(plan.env_id, base_mode, plan.env_args, harness_args)
    env = vf.load_environment(config)
    taskset = env.taskset.select(vf.SelectConfig(limit=plan.num_tasks))
    if not taskset.bounded:
        raise CLIError(f"{plan.env_id} has endless tasks: pass -n with a number of tasks")
    tasks = list(taskset)
    check_tasks(config, tasks)
    try:
        writer = RunWriter(
            out,
            {
                "env_id": plan.env_id,
                "mode": mode,
                "model": endpoint.model,
                "base_url": endpoint.base_url,
                "local_model": endpoint.local_model,
                "num_tasks": len(tasks),
                "rollouts_per_task": plan.rollouts_per_task,
                "concurrency": plan.concurrency,
                "base_mode": base_mode,
                "env_args": plan.env_args,
                "harness_args": harness_args,
                "sampling": plan.sampling,
                "pass_threshold": plan.pass_threshold,
                "env_config": config.model_dump(mode="json"),
                "versions": _versions(plan.env_id),
                "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            },
        )
    except FileExistsError as error:
        raise CLIError(f"{error}; pass another --out or remove it") from None
    ctx = vf.ModelContext(
        model=endpoint.model,
        client=vf.EvalClientConfig(base_url=endpoint.base_url, api_key_var=endpoint.api_key_var),
        sampling=vf.SamplingConfig(**plan.sampling),
    )
    semaphore = asyncio.Semaphore(plan.concurrency)
    traces_lock = asyncio.Lock()
    slots = [(rollout, slot) for task in tasks for rollout, slot in enumerate(env.slots(task, plan.rollouts_per_task))]
    bar = progress.add_task(f"{plan.env_id} · {mode}", total=len(slots), reward="-")
    started = time.monotonic()

    async def one(index: int, rollout: int, slot: RunSlot) -> None:
        episode = await env.run_slot(slot, ctx, semaphore)
        await append_episode(out, episode, traces_lock)  # verifiers' own traces.jsonl line
        for trace in episode.traces:
            writer.add(rollout_record(trace, index=index, rollout=rollout))
        if not episode.traces:
            writer.add(failed_episode_record(episode, index=index, rollout=rollout))
        scored = [r["reward"] for r in writer.records if r["reward"] is not None]
        progress.update(bar, advance=1, reward=f"{sum(scored) / len(scored):.3f}" if scored else "-")

    async with env.serving():
        await asyncio.gather(*(one(index, rollout, slot) for index, (rollout, slot) in enumerate(slots)))
    return writer.finish(time.monotonic() - started)
