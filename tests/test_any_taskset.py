"""The RLM harness on a taskset that knows nothing about rlm-env: plain `vf.TaskData`, its own
reward, the harness picked by id (`rlm-env`), end to end through verifiers and the real REPL."""

import asyncio
import copy
import json
import re
import sys
import types

import pytest
import verifiers.v1 as vf

from fake_openai import FakeOpenAI, code, text
from rlm_env.core.prompts import PROMPT_IN_EXTRA_DATA
from rlm_env.harness.adapter import RLMHarnessConfig
from rlm_env.run import cli

TASKSET_ID = "plain-addition"
PAIRS = [(17, 25), (40, 2)]


class AdditionTask(vf.Task[vf.TaskData, vf.State, vf.TaskConfig]):
    @vf.reward(weight=1.0)
    async def correct(self, trace: vf.Trace) -> float:
        a, b = map(int, re.findall(r"\d+", self.data.prompt))
        return float(trace.last_reply == str(a + b))


class AdditionTaskset(vf.Taskset[AdditionTask, vf.TasksetConfig]):
    def load(self):
        for i, (a, b) in enumerate(PAIRS):
            yield AdditionTask(
                vf.TaskData(
                    id=f"add-{i}", prompt=f"What is {a} + {b}? Reply with the number only.", description=f"{a} and {b}"
                )
            )


@pytest.fixture(autouse=True)
def installed_taskset(monkeypatch):
    """Make the taskset importable by its id, as an installed package would be."""
    module = types.ModuleType(TASKSET_ID.replace("-", "_"))
    module.AdditionTaskset = AdditionTaskset
    module.__all__ = ["AdditionTaskset"]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setenv("FAKE_API_KEY", "sk-fake")


def user_turn(request: dict) -> str:
    return next(m["content"] for m in request["messages"] if m["role"] == "user")


def fake_model(request: dict) -> dict:
    """Adds up the two numbers, wrongly for the second task, in whichever mode it is asked.

    With the prompt moved to extra_data it cannot see the numbers: it reads them with code first,
    then answers from the REPL output."""
    user = user_turn(request)
    if not request.get("tools"):  # standard mode: a plain chat model
        a, b = map(int, re.findall(r"\d+", user))
        return text(str(a + b + (a == 40)))
    tool_outputs = [m["content"] for m in request["messages"] if m["role"] == "tool"]
    if user == PROMPT_IN_EXTRA_DATA:
        assert not any("What is" in (m.get("content") or "") for m in request["messages"]), "the prompt leaked"
        if not tool_outputs:
            return code("import re\nnumbers = [int(n) for n in re.findall(r'\\d+', extra_data)]\nprint(numbers)")
        a, b = json.loads(tool_outputs[-1])
    else:
        a, b = map(int, re.findall(r"\d+", user))
    return code(f"answer['content'] = str({a} + {b} + {int(a == 40)})\nanswer['ready'] = True")


async def run_episodes(server: FakeOpenAI, harness: dict) -> list[vf.Trace]:
    config = vf.resolve_env_config(
        copy.deepcopy(
            {
                "taskset": {"id": TASKSET_ID},
                "agent": {"runtime": {"type": "subprocess"}, "harness": {"id": "rlm-env", **harness}},
            }
        )
    )
    env = vf.load_environment(config)
    client = vf.EvalClientConfig(base_url=server.base_url, api_key_var="FAKE_API_KEY")
    ctx = vf.ModelContext(model="fake", client=client)
    async with env.serving():
        return [(await env.run_episode(task, ctx)).traces[0] for task in env.taskset]


@pytest.mark.parametrize(
    "harness, root_turns",
    [
        ({"mode": "standard"}, 1),
        ({"mode": "rlm"}, 1),  # the prompt stays: plain TaskData has no input of its own
        ({"mode": "rlm", "extra_data_source": "prompt"}, 2),  # the prompt lives only in the REPL
    ],
)
def test_a_plain_taskset_is_scored_by_its_own_reward_in_every_mode(harness, root_turns):
    with FakeOpenAI(root=fake_model, is_sub=lambda request: False) as server:
        traces = asyncio.run(run_episodes(server, harness))
    server.check()
    assert [trace.ok for trace in traces] == [True, True], [trace.errors for trace in traces]
    assert [trace.rewards["correct"].score for trace in traces] == [1.0, 0.0]  # the taskset's reward, 42 vs 43
    assert [trace.last_reply for trace in traces] == ["42", "43"]
    for trace in traces:
        info = trace.info["rlm_env"]
        assert info["mode"] == harness["mode"] and trace.metrics["root_turns"] == root_turns
    if harness["mode"] == "rlm":
        users = [user_turn(r) for r in server.requests]
        moved = harness.get("extra_data_source") == "prompt"
        assert all((u == PROMPT_IN_EXTRA_DATA) == moved for u in users)
        assert all(trace.info["rlm_env"]["stop_reason"] == "answer_ready" for trace in traces)


def test_a_named_field_of_the_task_data_becomes_extra_data():
    def model(request: dict) -> dict:
        if not [m for m in request["messages"] if m["role"] == "tool"]:
            return code("print(repr(extra_data))")
        return code("answer['content'] = str(sum(int(n) for n in extra_data.split(' and ')))\nanswer['ready'] = True")

    with FakeOpenAI(root=model, is_sub=lambda request: False) as server:
        traces = asyncio.run(run_episodes(server, {"extra_data_source": "description"}))
    server.check()
    assert [trace.info["rlm_env"]["cells"][0]["output"] for trace in traces] == ["'17 and 25'\n", "'40 and 2'\n"]
    assert [trace.reward for trace in traces] == [1.0, 1.0]
    assert "is in the variable `extra_data`" in server.requests[0]["messages"][0]["content"]
    assert user_turn(server.requests[0]).startswith("What is 17 + 25?")  # the prompt stays


def test_a_missing_field_fails_the_rollout_with_one_line_before_any_model_call():
    with FakeOpenAI(root=fake_model) as server:
        traces = asyncio.run(run_episodes(server, {"extra_data_source": "context"}))
    assert server.requests == []
    for trace in traces:
        assert not trace.ok and not trace.rewards
        [error] = trace.errors
        assert "\n" not in error.message
        assert (
            "extra_data_source = 'context', but the task data (TaskData) has no field 'context': set "
            "extra_data_source to 'prompt' (the whole prompt goes to extra_data) or 'none'"
        ) in error.message


# --------------------------------------------------------------------------- the rlm-env command


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    status = cli.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def endpoint(server: FakeOpenAI) -> list[str]:
    return ["--base-url", server.base_url, "--model", "fake", "--api-key-var", "FAKE_API_KEY"]


def test_ablate_takes_any_installed_taskset_id(tmp_path, capsys):
    out = tmp_path / "ablation"
    with FakeOpenAI(root=fake_model, is_sub=lambda request: False) as server:
        status, _, stderr = run_cli(capsys, "ablate", TASKSET_ID, *endpoint(server), "--out", out)
    server.check()
    assert status == 0, stderr
    for mode in ("standard", "rlm", "rlm-tips"):
        config = json.loads((out / mode / "config.json").read_text())
        assert config["env_config"]["agent"]["harness"]["id"] == "rlm-env"
        summary = json.loads((out / mode / "summary.json").read_text())
        assert summary["reward"]["mean"] == 0.5 and summary["failed"] == 0, summary
    first_table = (out / "ablation.md").read_text().split("\n\n")[1]  # the reward table; learnability follows
    rows = [line for line in first_table.splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[0] for row in rows[1:]] == ["| standard", "| rlm", "| rlm-tips"]


@pytest.mark.parametrize(
    "harness_args, message",
    [
        (
            {"sub_llm": {"depth": 0}},
            (
                "invalid --harness-args for plain-addition: sub_llm.depth: must be 1 or more, not 0: "
                "1 = plain sub-LLM calls (the default), 2 = each llm_batch prompt starts a child RLM"
            ),
        ),
        (
            {"sub_llm": {"depth": 4, "max_child_repls": 2}},
            ("sub_llm.max_child_repls is 2, below the 3 child levels of sub_llm.depth = 4; set it to at least 3"),
        ),
        (
            {"extra_data_source": "context"},
            (
                "--harness-args: extra_data_source = 'context', but the task data "
                "(TaskData) has no field 'context': set extra_data_source to 'prompt'"
            ),
        ),
        (
            {"extra_data_source": "my field"},
            ("extra_data_source: 'my field' is neither 'task', 'none', 'prompt' nor a task-data field name"),
        ),
    ],
)
def test_bad_recursion_or_source_config_is_one_line_before_any_rollout(harness_args, message, tmp_path, capsys):
    with FakeOpenAI(root=fake_model) as server:
        status, _, stderr = run_cli(
            capsys,
            "eval",
            TASKSET_ID,
            "--harness-args",
            json.dumps(harness_args),
            *endpoint(server),
            "--out",
            tmp_path / "run",
        )
    assert server.requests == []  # no rollout started
    errors = [line for line in stderr.splitlines() if line.startswith("rlm-env: error: ")]
    assert status == 2 and len(errors) == 1 and stderr.endswith(errors[0] + "\n"), stderr
    assert message in errors[0]


def test_bad_depth_is_a_validation_error_naming_the_knob_in_python_too():
    with pytest.raises(ValueError) as caught:
        RLMHarnessConfig(sub_llm={"depth": 0})
    [error] = caught.value.errors()
    assert error["loc"] == ("sub_llm", "depth") and "must be 1 or more" in error["msg"]
