"""End to end through verifiers v1: env loading by id, interception, subprocess runtime, REPL."""

import asyncio
import copy
import os

import verifiers.v1 as vf

from fake_openai import FakeOpenAI, Script, code, text
from rlm_env.harness.metrics import STOP_REASONS


async def run_episodes(server: FakeOpenAI, harness: dict, num_tasks: int = 1) -> list:
    os.environ["FAKE_API_KEY"] = "sk-fake"
    config = vf.resolve_env_config(
        copy.deepcopy(
            {
                "taskset": {"id": "sum-numbers-rlm", "num_tasks": num_tasks},
                "agent": {"runtime": {"type": "subprocess"}, "harness": {"id": "sum-numbers-rlm", **harness}},
            }
        )
    )
    env = vf.load_environment(config)
    ctx = vf.ModelContext(
        model="fake-model", client=vf.EvalClientConfig(base_url=server.base_url, api_key_var="FAKE_API_KEY")
    )
    tasks = list(env.taskset.select(vf.SelectConfig(limit=num_tasks)))
    async with env.serving():
        return [await env.run_episode(task, ctx) for task in tasks]


def test_rlm_mode_scores_and_records_every_call_and_metric():
    root = Script(
        [
            code(
                "half = len(extra_data) // 2\n"
                "parts = llm_batch([f'Sum these: {extra_data[:half]}', f'Sum these: {extra_data[half:]}'])\n"
                "print(parts)"
            ),
            code("answer['content'] = str(sum(int(p) for p in parts))\nanswer['ready'] = True"),
        ]
    )

    def sub(request):
        numbers = eval(request["messages"][-1]["content"].removeprefix("Sum these: "))
        return text(f"The total is \\boxed{{{sum(numbers)}}}")

    with FakeOpenAI(root=root, sub=sub) as server:
        [episode] = asyncio.run(run_episodes(server, {}))
    server.check()
    trace = episode.traces[0]
    assert episode.ok, trace.errors
    assert trace.reward == 1.0
    info = trace.info["rlm_env"]
    assert info["stop_reason"] == "answer_ready"
    # every root and sub-LLM call went through the interception and is in the trace
    request_ids = sorted(call.acp.request_id for call in trace.calls)
    assert request_ids == ["root-1", "root-2", "sub-0-0", "sub-1-0"]
    assert trace.num_branches == 3  # one root conversation + one per sub-LLM call
    edges = [link.type for node in trace.nodes for link in node.semantic_parents]
    assert edges == ["subagent_call", "subagent_call"]
    metric_names = {
        "root_turns",
        "root_prompt_tokens",
        "root_completion_tokens",
        "sub_llm_calls",
        "sub_llm_batches",
        "sub_llm_prompt_tokens",
        "sub_llm_completion_tokens",
        "sub_llm_tool_calls",
        "repl_calls",
        "repl_seconds",
        "repl_timeouts",
        "repl_restarts",
        "answer_chars",
        *(f"stop_{r}" for r in STOP_REASONS),
    }
    assert metric_names <= set(trace.metrics)
    assert trace.metrics["root_turns"] == 2 and trace.metrics["sub_llm_calls"] == 2
    assert trace.metrics["sub_llm_batches"] == 1 and trace.metrics["repl_calls"] == 2
    assert trace.metrics["stop_answer_ready"] == 1.0
    assert [cell["code"][:4] for cell in info["cells"]] == ["half", "answ"]
    numbers = trace.task.data.model_extra["extra_data"] if trace.task.data.model_extra else trace.task.data.extra_data
    half = len(numbers) // 2
    assert [call["reply"] for call in info["sub_llm_calls"]] == [str(sum(numbers[:half])), str(sum(numbers[half:]))]
    assert all(call["parent_request_id"] == "root-1" for call in info["sub_llm_calls"])


def test_standard_mode_scores_with_the_same_reward():
    def root(request):
        prompt = request["messages"][-1]["content"]
        numbers = eval(prompt.split("\n\n")[0])
        return text(str(sum(numbers)))

    with FakeOpenAI(root=root, is_sub=lambda r: False) as server:
        [episode] = asyncio.run(run_episodes(server, {"mode": "standard"}))
    server.check()
    trace = episode.traces[0]
    assert episode.ok and trace.reward == 1.0
    assert trace.info["rlm_env"]["stop_reason"] == "completed"
    assert trace.metrics["repl_calls"] == 0 and trace.metrics["root_turns"] == 1


def test_tips_are_appended_in_env_tips_tags():
    root = Script([code("answer['content'] = str(sum(extra_data))\nanswer['ready'] = True")])
    with FakeOpenAI(root=root) as server:
        [episode] = asyncio.run(run_episodes(server, {"env_tips": True}))
    server.check()
    user = root.requests[0]["messages"][1]["content"]
    assert user.endswith("<env_tips>\nUse Python's sum().\n</env_tips>")
    assert episode.traces[0].reward == 1.0


def test_provider_failure_is_a_typed_error_on_the_rollout_not_a_zero():
    from fake_openai import Error

    with FakeOpenAI(root=Script([Error(500, "upstream down")] * 10)) as server:
        [episode] = asyncio.run(run_episodes(server, {"model_retries": 0}))
    trace = episode.traces[0]
    assert not trace.ok and trace.stop_condition == "provider_error"
    assert trace.errors[0].type == "ProviderError" and "upstream down" in trace.errors[0].message
    assert trace.errors[0].status_code == 500  # a trainer's retry rules match on it
    assert not trace.rewards  # not scored: no silent zero
    assert trace.info["rlm_env"]["stop_reason"] == "provider_error"  # what happened is kept
