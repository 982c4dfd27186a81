"""Every TOML in configs/ parses and validates against the classes that will read it.

- `eval.toml` (verifiers' `vf-eval @ configs/<env>/eval.toml`): the whole file with verifiers'
  own `EvalConfig`, and its `[env]` block with `vf.resolve_env_config`, which narrows the
  taskset and harness configs by id, so every knob must exist and unknown keys fail.
- `rl-smoke.toml` / `rl.toml` (prime-rl's `uv run rl @ ...`): every
  `[[orchestrator.train.source]]` / `[[orchestrator.eval.source]]` `env` block with
  `vf.resolve_env_config` (prime-rl narrows that block with the same verifiers call), and the
  rest of the file with a structural check of its tables against the field names of
  prime-rl's config classes. prime-rl needs Python 3.12 and GPUs and is not on PyPI, so it is
  not imported here; the field names below were read from
  PrimeIntellect-ai/prime-rl@559b44772e471d1538537b8805cc77f3824a5e64 (main, 2026-08-21),
  packages/prime-rl-configs/src/prime_rl/configs/{rl,orchestrator,trainer,inference}.py.
  A table the check does not know fails: verify it against prime-rl first, then add it here.

An environment package that is not installed yet (math-python-rlm, deepdive-rlm while they
are being written) skips its cases with the reason; they validate as soon as it is importable.
"""

import copy
import importlib
import importlib.util
import tomllib
from pathlib import Path

import pytest
import verifiers.v1 as vf
from pydantic import ValidationError
from verifiers.v1.configs.cli.eval import EvalConfig

from rlm_env import RLMHarnessConfig

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
ENV_IDS = ["verbatim-copy-rlm", "oolong-rlm", "math-python-rlm", "deepdive-rlm"]
FILES = ["rl-smoke.toml", "rl.toml", "eval.toml"]
TOMLS = sorted(CONFIGS.glob("*/*.toml"))
RL_TOMLS = [p for p in TOMLS if p.name.startswith("rl")]
EVAL_TOMLS = [p for p in TOMLS if p.name == "eval.toml"]
HARNESS_KNOBS = ("mode", "env_tips", "train_sub_llms", "budgets")

PRIME_RL_COMMIT = "559b44772e471d1538537b8805cc77f3824a5e64"

# Field names of prime-rl's config classes at PRIME_RL_COMMIT, for the tables our TOMLs use.
# Key: path of the table in the TOML ("[]" = an element of an array of tables).
_TRAIN_SAMPLING = {"temperature", "max_completion_tokens", "extra_body"}  # TrainSamplingConfig
_EVAL_SAMPLING = {
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "max_completion_tokens",
    "reasoning_effort",
    "extra_body",
}  # EvalSamplingConfig
_SOURCE = {"env", "serve", "name", "ratio"}  # orchestrator.EnvConfig (env/serve are verifiers' blocks)
PRIME_RL_TABLES: dict[str, set[str]] = {
    # configs/rl.py: RLConfig
    "": {
        "trainer",
        "orchestrator",
        "inference",
        "env_vars",
        "run",
        "output_dir",
        "clean",
        "log",
        "ckpt",
        "resume",
        "monitors",
        "model",
        "tokenizer",
        "max_steps",
        "seq_len",
        "weight_broadcast",
        "rollout_transport",
        "deployment",
        "slurm",
        "dry_run",
    },
    "model": {"name", "vlm"},  # SharedModelConfig
    "deployment": {"type", "gpus_per_node", "num_train_gpus", "num_infer_gpus"},  # SingleNodeDeploymentConfig
    "monitors": {"wandb", "file", "prime"},  # SharedMonitorsConfig
    "monitors.wandb": {"project", "entity", "name", "group", "tags", "offline"},  # SharedWandbConfig
    "ckpt": {"output_dir", "interval", "keep_last", "keep_interval"},  # SharedCheckpointConfig
    # configs/orchestrator.py: OrchestratorConfig
    "orchestrator": {
        "algo",
        "model",
        "train",
        "tokenizer",
        "renderer",
        "eval",
        "log",
        "env_vars",
        "monitors",
        "collect_inference_metrics",
        "inference_metrics_roles",
        "ckpt",
        "resume",
        "weight_broadcast",
        "rollout_transport",
        "output_dir",
        "tasks_per_minute",
        "env_server_base_port",
        "batch_size",
        "token_batch_size",
        "concurrency",
        "group_size",
        "seq_len",
        "num_train_workers",
        "pad_to_multiple_of",
        "max_steps",
        "max_off_policy_steps",
        "heartbeat",
    },
    "orchestrator.concurrency": {"initial_inflight", "min_inflight", "max_inflight"},  # ConcurrencyConfig
    "orchestrator.train": {"source", "sampling", "filter_zero_advantages"},  # TrainConfig
    "orchestrator.train.sampling": _TRAIN_SAMPLING,
    "orchestrator.train.source[]": _SOURCE | {"sampling", "group_size", "algo", "curriculum"},  # TrainSourceConfig
    "orchestrator.train.source[].sampling": _TRAIN_SAMPLING,
    "orchestrator.eval": {
        "source",
        "sampling",
        "num_examples",
        "group_size",
        "interval",
        "skip_first_step",
        "retrigger_on_resume",
    },  # orchestrator.EvalConfig
    "orchestrator.eval.sampling": _EVAL_SAMPLING,
    "orchestrator.eval.source[]": _SOURCE | {"sampling", "num_examples", "group_size", "interval"},  # EvalSourceConfig
    "orchestrator.eval.source[].sampling": _EVAL_SAMPLING,
    # configs/trainer.py: TrainerConfig, AdamWConfig (the default optimizer)
    "trainer": {
        "model",
        "tokenizer",
        "data",
        "loss",
        "optim",
        "scheduler",
        "ckpt",
        "resume",
        "weight_broadcast",
        "rollout_transport",
        "log",
        "monitors",
        "env_vars",
        "gc",
        "heartbeat",
        "metrics_server",
        "max_steps",
        "output_dir",
        "dist_timeout_seconds",
        "enable_router_replay",
        "enable_token_export",
        "matmul_precision",
        "memory_profiler_path",
        "trace_path",
    },
    "trainer.optim": {"type", "lr", "weight_decay", "max_norm", "betas1", "betas2"},
    # configs/inference.py: InferenceConfig, VllmConfig
    "inference": {
        "server",
        "router",
        "backend_port",
        "vllm",
        "log",
        "env_vars",
        "use_deep_gemm",
        "weight_broadcast",
        "kv_cache_offload",
        "use_pd_kv_transfer",
        "deployment",
        "slurm",
        "output_dir",
        "dry_run",
        "enable_fp32_lm_head",
        "enable_fp32_router_logits",
    },
    "inference.vllm": {
        "model",
        "dtype",
        "max_model_len",
        "enforce_eager",
        "trust_remote_code",
        "chat_template",
        "tool_call_parser",
        "reasoning_parser",
        "rope_scaling",
        "tensor_parallel_size",
        "data_parallel_size",
        "data_parallel_size_local",
        "data_parallel_rpc_port",
        "api_server_count",
        "seed",
        "gpu_memory_utilization",
        "enable_prefix_caching",
        "quantization",
        "enable_lora",
        "max_loras",
        "max_cpu_loras",
        "max_lora_rank",
        "lora_target_modules",
        "enable_expert_parallel",
        "enable_eplb",
        "enable_dbo",
        "enable_return_routed_experts",
        "all2all_backend",
    },
}
# Blocks prime-rl hands to verifiers unchanged: validated with verifiers' classes below.
VERIFIERS_BLOCKS = {
    "orchestrator.train.source[].env",
    "orchestrator.eval.source[].env",
    "orchestrator.train.source[].serve",
    "orchestrator.eval.source[].serve",
}
# OrchestratorConfig.validate_renderer_auto_resolves rejects a model outside renderers'
# MODEL_RENDERER_MAP unless [orchestrator.renderer] names one; these are in it (renderers 0.1.12).
RENDERER_MAPPED_MODELS = {
    "Qwen/Qwen3-0.6B",
    "Qwen/Qwen3-1.7B",
    "Qwen/Qwen3-4B",
    "Qwen/Qwen3-4B-Instruct-2507",
    "Qwen/Qwen3-8B",
    "Qwen/Qwen3-30B-A3B-Instruct-2507",
}


def load(path: Path) -> dict:
    return tomllib.loads(path.read_text())


def env_id_of(path: Path) -> str:
    return path.parent.name


def require_env_package(env_id: str) -> None:
    """Skip while the environment package is not installed; import it (errors fail) once it is."""
    module = env_id.replace("-", "_")
    if importlib.util.find_spec(module) is None:
        pytest.skip(
            f"{module} is not installed yet (environments/{module} not landed or not synced): "
            f"configs/{env_id}/ validates once it is importable"
        )
    importlib.import_module(module)


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# -- layout and headers ---------------------------------------------------------------------


def test_every_environment_has_its_three_configs():
    assert sorted(p.name for p in CONFIGS.iterdir() if p.is_dir()) == sorted(ENV_IDS)
    for env_id in ENV_IDS:
        assert sorted(p.name for p in (CONFIGS / env_id).glob("*.toml")) == sorted(FILES), env_id


@pytest.mark.parametrize("path", TOMLS, ids=rel)
def test_opens_with_the_command_that_runs_it(path):
    first = path.read_text().splitlines()[0]
    if path.name == "eval.toml":
        assert first == f"# uv run vf-eval @ configs/{env_id_of(path)}/eval.toml"
    else:
        assert first == f"# uv run --no-sync rl @ $RLM_ENV/configs/{env_id_of(path)}/{path.name}"


@pytest.mark.parametrize("path", TOMLS, ids=rel)
def test_runtime_is_subprocess_with_docker_and_prime_commented(path):
    text = path.read_text()
    assert '# type = "docker"' in text and '# type = "prime"' in text
    for _, env in env_blocks(path):
        assert env["agent"]["runtime"] == {"type": "subprocess"}


# -- the environment blocks, with verifiers' own classes --------------------------------------


def env_blocks(path: Path) -> list[tuple[str, dict]]:
    """(where, env dict) for every verifiers [env] block in the file."""
    raw = load(path)
    if path.name == "eval.toml":
        return [("env", raw["env"])]
    orchestrator = raw["orchestrator"]
    groups = [group for group in ("train", "eval") if group in orchestrator]
    return [
        (f"orchestrator.{group}.source[{i}].env", source["env"])
        for group in groups
        for i, source in enumerate(orchestrator[group]["source"])
    ]


@pytest.mark.parametrize("path", TOMLS, ids=rel)
def test_env_blocks_resolve_with_verifiers(path):
    env_id = env_id_of(path)
    require_env_package(env_id)
    for where, env in env_blocks(path):
        config = vf.resolve_env_config(copy.deepcopy(env))  # ValidationError on any unknown key
        assert config.taskset.id == env_id, where
        assert type(config.taskset) is vf.taskset_config_type(env_id), where
        harness = env["agent"]["harness"]
        assert harness["id"] == env_id, f"{where}: harness knobs need the harness id beside them"
        assert all(knob in harness for knob in HARNESS_KNOBS), f"{where}: set {HARNESS_KNOBS} explicitly"
        assert isinstance(config.agent.harness, RLMHarnessConfig), where
        assert config.agent.harness.mode == harness["mode"]
        assert config.agent.runtime.type == "subprocess"


@pytest.mark.parametrize("path", RL_TOMLS, ids=rel)
def test_serve_blocks_validate_with_verifiers_serve_config(path):
    orchestrator = load(path)["orchestrator"]
    for group in ("train", "eval"):
        for source in orchestrator.get(group, {}).get("source", []):
            if "serve" in source:
                vf.ServeConfig.model_validate(source["serve"])  # prime-rl's source.serve is this class


def test_an_unknown_serve_key_fails_verifiers_validation():
    with pytest.raises(ValidationError):
        vf.ServeConfig.model_validate({"pool": {"type": "elastic", "workers": 2}})


def test_an_unknown_key_fails_verifiers_validation():
    env = copy.deepcopy(load(CONFIGS / "verbatim-copy-rlm" / "eval.toml")["env"])
    env["agent"]["harness"]["budgets"]["max_turnz"] = 3
    with pytest.raises(ValidationError, match="max_turnz"):
        vf.resolve_env_config(env)
    env = copy.deepcopy(load(CONFIGS / "verbatim-copy-rlm" / "eval.toml")["env"])
    env["taskset"]["num_exampels"] = 3
    with pytest.raises(ValidationError, match="num_exampels"):
        vf.resolve_env_config(env)


# -- eval TOMLs: the whole file with vf-eval's EvalConfig ----------------------------------------


@pytest.mark.parametrize("path", EVAL_TOMLS, ids=rel)
def test_eval_toml_validates_with_vf_eval_config(path):
    require_env_package(env_id_of(path))
    raw = load(path)
    config = EvalConfig.model_validate(copy.deepcopy(raw))
    assert type(config.env.taskset) is vf.taskset_config_type(env_id_of(path))
    assert isinstance(config.env.agent.harness, RLMHarnessConfig)
    assert config.push is False, "eval configs must not upload by default"
    assert config.select.limit and config.client.base_url


# -- prime-rl TOMLs: structure checked against prime-rl's config classes ------------------------


def check_prime_rl_tables(node: dict, path: str = "") -> list[str]:
    """Problems with `node` and its sub-tables against PRIME_RL_TABLES (empty = fine)."""
    allowed = PRIME_RL_TABLES[path]
    problems = [f"[{path or 'top level'}] {key!r} is not a prime-rl field" for key in node if key not in allowed]
    for key, value in node.items():
        child = f"{path}.{key}" if path else key
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            child += "[]"
            items = value
        elif isinstance(value, dict):
            items = [value]
        else:
            continue
        for item in items:
            if child in VERIFIERS_BLOCKS:
                continue
            if child not in PRIME_RL_TABLES:
                problems.append(f"[{child}] is not verified against prime-rl@{PRIME_RL_COMMIT[:7]}")
                continue
            problems += check_prime_rl_tables(item, child)
    return problems


@pytest.mark.parametrize("path", RL_TOMLS, ids=rel)
def test_rl_toml_matches_prime_rl_config_classes(path):
    raw = load(path)
    assert check_prime_rl_tables(raw) == []
    # RLConfig requires trainer and orchestrator; shared fields (model.name, seq_len, max_steps)
    # only propagate into sub-config tables that are present; no [inference] = no server started.
    assert {"trainer", "orchestrator", "inference", "model", "seq_len", "max_steps"} <= raw.keys()
    assert raw["model"]["name"] in RENDERER_MAPPED_MODELS or "renderer" in raw["orchestrator"]
    orchestrator = raw["orchestrator"]
    assert orchestrator["batch_size"] % orchestrator.get("group_size", 1) == 0  # resolve_batching
    deployment = raw.get("deployment", {})
    gpus = deployment.get("num_train_gpus", 1) + deployment.get("num_infer_gpus", 1)
    assert gpus <= deployment.get("gpus_per_node", 8)  # SingleNodeDeploymentConfig.validate_gpu_count
    assert orchestrator["train"]["sampling"]["max_completion_tokens"] < raw["seq_len"]
    for group in ("train", "eval"):
        if group not in orchestrator:
            continue
        sources = orchestrator[group]["source"]
        assert sources, f"orchestrator.{group} needs at least one source"
        names = [s.get("name") or s["env"]["taskset"]["id"] for s in sources]
        assert len(set(names)) == len(names) and "agg" not in names  # unique names; "agg" is reserved
        for source in sources:
            budgets = source["env"]["agent"]["harness"]["budgets"]
            assert budgets.get("context_window_tokens", 0) <= raw["seq_len"]
    if path.name == "rl-smoke.toml":
        assert raw["model"]["name"] == "Qwen/Qwen3-0.6B" and raw["max_steps"] <= 10
        assert deployment["num_train_gpus"] + deployment["num_infer_gpus"] == 2


def test_an_unknown_prime_rl_key_fails_the_structural_check():
    raw = load(CONFIGS / "verbatim-copy-rlm" / "rl.toml")
    raw["orchestrator"]["batch_sizes"] = 8
    raw["orchestrator"]["train"]["source"][0]["weight"] = 2
    raw["trainer"]["model"] = {"lora": {"rank": 8}}
    assert check_prime_rl_tables(raw) == [
        "[orchestrator] 'batch_sizes' is not a prime-rl field",
        "[orchestrator.train.source[]] 'weight' is not a prime-rl field",
        f"[trainer.model] is not verified against prime-rl@{PRIME_RL_COMMIT[:7]}",
    ]
