"""Token-level traces for training: a rollout through verifiers' train client (the one
prime-rl uses) against a server that answers like prime-rl's vLLM server.

The root conversation must be one training sample whose tokens are exactly what the model saw
and sampled, with a logprob per sampled token; sub-LLM calls are their own samples, trained or
masked out as `train_sub_llms` says; so are child RLMs at sub_llm.depth 2."""

import asyncio
import copy
import os

import pytest
import verifiers.v1 as vf
from renderers.configs import Qwen3RendererConfig

from fake_openai import FakeOpenAI, Script, code, text, write_chatml_tokenizer
from rlm_env.core.prompts import SUB_LLM_SYSTEM_PROMPT
from rlm_env.harness.compat import token_list


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    return write_chatml_tokenizer(tmp_path_factory.mktemp("tokenizer"))


def root_script() -> Script:
    """Four root turns: fan out to two sub-LLMs, a prose reply (answered with a reminder, as
    small models often need), look at the result, answer."""
    return Script(
        [
            code(
                "half = len(extra_data) // 2\n"
                "parts = llm_batch([f'Sum these: {extra_data[:half]}', f'Sum these: {extra_data[half:]}'])\n"
                "print(parts)"
            ),
            text("The parts are in; next I add them up."),
            code("total = sum(int(p) for p in parts)\nprint(total)"),
            code("answer['content'] = str(total)\nanswer['ready'] = True"),
        ],
        name="root",
    )


def sub(request: dict) -> dict:
    prompt = request["prompt_text"]
    numbers = eval(prompt[prompt.index("Sum these: ") + len("Sum these: ") : prompt.index("]") + 1])
    return text(f"The total is \\boxed{{{sum(numbers)}}}")


def run_training_rollout(server: FakeOpenAI, tokenizer_dir, harness: dict):
    os.environ["FAKE_API_KEY"] = "sk-fake"
    config = vf.resolve_env_config(
        copy.deepcopy(
            {
                "taskset": {"id": "sum-numbers-rlm", "num_tasks": 1},
                "agent": {"runtime": {"type": "subprocess"}, "harness": {"id": "sum-numbers-rlm", **harness}},
            }
        )
    )
    env = vf.load_environment(config)
    client = vf.TrainClientConfig(
        base_url=server.base_url,
        api_key_var="FAKE_API_KEY",
        renderer=Qwen3RendererConfig(enable_thinking=False),
        renderer_model_name=str(tokenizer_dir),
    )
    ctx = vf.ModelContext(model="fake-model", client=client)
    [task] = env.taskset.select(vf.SelectConfig(limit=1))

    async def go():
        async with env.serving():
            return await env.run_episode(task, ctx)

    episode = asyncio.run(go())
    server.check()
    assert episode.ok, episode.traces[0].errors
    return episode.traces[0]


def nodes_by_request(trace) -> dict:
    return {call.acp.request_id: trace.nodes[call.node] for call in trace.calls}


@pytest.mark.parametrize("train_sub_llms", [False, True])
def test_root_turns_extend_one_sample_and_sub_llm_masks_follow_the_switch(tokenizer_dir, train_sub_llms):
    with FakeOpenAI(root=root_script(), sub=sub, tokenizer_dir=tokenizer_dir) as server:
        trace = run_training_rollout(server, tokenizer_dir, {"train_sub_llms": train_sub_llms})
    assert trace.reward == 1.0
    root_gens = [g for g in server.generations if not g.is_sub]
    sub_gens = [g for g in server.generations if g.is_sub]
    assert len(root_gens) == 4 and len(sub_gens) == 2

    # Each root prompt is the previous prompt + completion + the REPL output (or the reminder
    # after prose): the turns extend
    # one another token for token, so the trainer can merge them into one sample.
    for before, after in zip(root_gens, root_gens[1:]):
        seen = before.prompt_ids + before.completion_ids
        assert after.prompt_ids[: len(seen)] == seen

    nodes = nodes_by_request(trace)
    assert sorted(nodes) == ["root-1", "root-2", "root-3", "root-4", "sub-0-0", "sub-1-0"]
    root_nodes = [nodes[f"root-{turn}"] for turn in (1, 2, 3, 4)]
    [root_branch] = [b for b in trace.branches if root_nodes[0] in b.nodes]
    assert all(node in root_branch.nodes for node in root_nodes)
    assert trace.num_branches == 3  # the root conversation and one per sub-LLM call

    # The sample is exactly what the model saw and sampled, trained on the sampled tokens only.
    last = root_gens[-1]
    assert token_list(root_branch.token_ids) == last.prompt_ids + last.completion_ids
    mask = root_branch.sampled_mask
    assert len(mask) == len(root_branch.token_ids)
    assert sum(mask) == sum(len(g.completion_ids) for g in root_gens)
    for node, gen in zip(root_nodes, root_gens):
        assert token_list(node.token_ids[-len(gen.completion_ids) :]) == gen.completion_ids
        assert token_list(node.mask[-len(gen.completion_ids) :]) == [True] * len(gen.completion_ids)
        assert node.logprobs[-len(gen.completion_ids) :] == pytest.approx(gen.logprobs)

    # Sub-LLM samples carry their tokens and logprobs; their mask follows the switch.
    sub_nodes = [nodes["sub-0-0"], nodes["sub-1-0"]]
    for node in sub_nodes:
        gen = next(g for g in sub_gens if token_list(node.token_ids[-len(g.completion_ids) :]) == g.completion_ids)
        assert node.logprobs[-len(gen.completion_ids) :] == pytest.approx(gen.logprobs)
        assert sum(node.mask) == (len(gen.completion_ids) if train_sub_llms else 0)
    assert all(link.type == "subagent_call" for node in sub_nodes for link in node.semantic_parents)


def is_root(request: dict) -> bool:
    prompt = request["prompt_text"]
    return '"name": "python"' in prompt and SUB_LLM_SYSTEM_PROMPT not in prompt


def child_rlm(request: dict) -> dict:
    """A child RLM (sub_llm.depth 2): reads its prompt from extra_data, then answers."""
    earlier_turns = request["prompt_text"].count("<|im_start|>assistant") - 1
    if earlier_turns == 0:
        return code("nums = eval(extra_data.removeprefix('Sum these: '))\nprint(nums)")
    return code("answer['content'] = str(sum(nums))\nanswer['ready'] = True")


@pytest.mark.parametrize("train_sub_llms", [False, True])
def test_depth_two_children_are_their_own_samples_masked_unless_trained(tokenizer_dir, train_sub_llms):
    root = Script(
        [
            code("parts = llm_batch([f'Sum these: {extra_data[:2]}', f'Sum these: {extra_data[2:]}'])\nprint(parts)"),
            code("answer['content'] = str(sum(int(p) for p in parts))\nanswer['ready'] = True"),
        ],
        name="root",
    )

    def model(request: dict) -> dict:
        return root(request) if is_root(request) else child_rlm(request)

    with FakeOpenAI(root=model, is_sub=lambda request: not is_root(request), tokenizer_dir=tokenizer_dir) as server:
        trace = run_training_rollout(server, tokenizer_dir, {"train_sub_llms": train_sub_llms, "sub_llm": {"depth": 2}})
    assert trace.reward == 1.0
    nodes = nodes_by_request(trace)
    assert sorted(nodes) == ["root-1", "root-2", "sub-0:root-1", "sub-0:root-2", "sub-1:root-1", "sub-1:root-2"]
    assert trace.num_branches == 3  # the root conversation and one per child RLM

    child_gens = [g for g in server.generations if g.is_sub]
    assert len(child_gens) == 4

    def ends_with(tokens, completion: list[int]) -> bool:  # lists or arrays (verifiers 0.4.1 keeps numpy arrays)
        return list(tokens[-len(completion) :]) == completion

    for i in (0, 1):
        first, second = nodes[f"sub-{i}:root-1"], nodes[f"sub-{i}:root-2"]
        # A child's turns extend one another, as the root's do: one sample per child, apart from the root's.
        [branch] = [b for b in trace.branches if first in b.nodes]
        assert second in branch.nodes and nodes["root-1"] not in branch.nodes
        tokens = list(branch.token_ids)
        assert tokens == next(
            g.prompt_ids + g.completion_ids
            for g in child_gens
            if ends_with(tokens, g.completion_ids) and len(g.prompt_ids) + len(g.completion_ids) == len(tokens)
        )
        for node in (first, second):
            gen = next(g for g in child_gens if ends_with(node.token_ids, g.completion_ids))
            assert list(node.logprobs[-len(gen.completion_ids) :]) == pytest.approx(gen.logprobs)
            assert sum(node.mask) == (len(gen.completion_ids) if train_sub_llms else 0)
        assert [(trace.nodes[link.node], link.type) for link in first.semantic_parents] == [
            (nodes["root-1"], "subagent_call")
        ]
    root_gens = [g for g in server.generations if not g.is_sub]
    for turn, gen in zip((1, 2), root_gens, strict=True):  # the root's sample is trained whatever the switch
        assert list(nodes[f"root-{turn}"].mask[-len(gen.completion_ids) :]) == [True] * len(gen.completion_ids)
