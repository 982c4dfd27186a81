"""The RLM loop and the sub-LLMs against the scripted server, with a real REPL."""

import json

import pytest

from conftest import run
from fake_openai import Delay, Error, FakeOpenAI, Script, code, text, tool_call
from rlm_env.core.client import ChatClient
from rlm_env.core.loop import Budgets, ProtocolConfig, run_chat_loop, run_rlm_loop
from rlm_env.core.parsing import broken_tool_call, extract_code
from rlm_env.core.prompts import PROSE_REMINDER, DataInfo
from rlm_env.core.sub_llm import SubLLMConfig, SubLLMPool
from rlm_env.core.tools import Tool, ToolError
from rlm_env.repl import LocalSandbox, ReplConfig, ReplSession

FINISH = "answer['content'] = 'done'\nanswer['ready'] = True"


async def rlm(
    server: FakeOpenAI,
    extra_data=None,
    budgets: Budgets | None = None,
    sub: SubLLMConfig | None = None,
    tools=None,
    cell_timeout_s: float = 30,
    protocol: ProtocolConfig | None = None,
):
    client = ChatClient(server.base_url, "test-key", "fake-model", max_retries=0)
    pool = SubLLMPool(client, sub or SubLLMConfig(), tools, (budgets or Budgets()).max_sub_llm_calls)
    repl = ReplSession(LocalSandbox(), ReplConfig(cell_timeout_s=cell_timeout_s), llm_batch=pool.batch)
    await repl.start(extra_data)
    try:
        data = DataInfo.describe(extra_data)
        result = await run_rlm_loop(client, repl, pool, "system", "user task", budgets or Budgets(), protocol, data)
    finally:
        await repl.close()
    return result, pool, repl


def test_answer_set_and_ready_ends_the_rollout():
    root = Script([code("x = sum(extra_data)"), code("answer['content'] = str(x)\nanswer['ready'] = True")])
    with FakeOpenAI(root=root) as server:
        result, _, repl = run(rlm(server, extra_data=[1, 2, 3]))
    server.check()
    assert result.stop_reason == "answer_ready" and result.answer == "6"
    assert result.root_turns == 2 and len(result.cells) == 2 and repl.stats.calls == 2
    assert result.messages[0] == {"role": "system", "content": "system"}
    assert [m["role"] for m in result.messages[1:]] == ["user", "assistant", "tool", "assistant", "tool"]
    assert root.requests[0]["tools"][0]["function"]["name"] == "python"


def test_max_turns_stops_with_the_current_answer():
    root = Script([code(f"answer['content'] = 'draft {i}'") for i in range(3)])
    with FakeOpenAI(root=root) as server:
        result, _, _ = run(rlm(server, budgets=Budgets(max_turns=3)))
    server.check()
    assert result.stop_reason == "max_turns" and result.answer == "draft 2" and result.root_turns == 3


def test_completion_token_budget_stops_the_rollout():
    with FakeOpenAI(root=Script([code("answer['content'] = 'a'")] * 2), completion_tokens=600) as server:
        result, _, _ = run(rlm(server, budgets=Budgets(max_root_completion_tokens=1000)))
    server.check()
    assert result.stop_reason == "max_root_completion_tokens" and result.root_completion_tokens == 1200


def test_sub_llm_call_budget_stops_the_rollout():
    root = Script([code("r = llm_batch(['a', 'b', 'c'])\nanswer['content'] = r[2]")])
    sub = Script([text("A"), text("B")])
    with FakeOpenAI(root=root, sub=sub) as server:
        result, pool, _ = run(rlm(server, budgets=Budgets(max_sub_llm_calls=2)))
    server.check()
    assert result.stop_reason == "max_sub_llm_calls"
    assert result.answer.startswith("Error: the budget of 2 sub-LLM calls")
    assert pool.stats.calls == 2


def test_wall_time_budget_stops_the_rollout():
    root = Script([code("import time; time.sleep(5)")])
    with FakeOpenAI(root=root) as server:
        result, _, _ = run(rlm(server, budgets=Budgets(max_wall_time_s=1.0)))
    assert result.stop_reason == "max_wall_time" and result.wall_seconds < 4


@pytest.mark.parametrize(
    "message",
    [
        "This model's maximum context length is 8192 tokens, your prompt has 9000",  # vLLM / OpenAI
        'upstream 400: {"error":{"code":400,"message":"request (18769 tokens) exceeds the available context size '
        '(8192 tokens), try increasing it","type":"exceed_context_size_error"}}',  # llama.cpp via the interception
        "Prompt length (9000) exceeds maximum context length (8192).",  # verifiers' train client pre-flight
    ],
)
def test_context_overflow_is_a_stop_reason_not_a_crash(message):
    root = Script([Error(400, message)])
    with FakeOpenAI(root=root) as server:
        result, _, _ = run(rlm(server))
    assert result.stop_reason == "context_overflow" and result.error is None


def test_provider_failure_is_recorded_as_an_infrastructure_error():
    with FakeOpenAI(root=Script([Error(503, "upstream overloaded")])) as server:
        result, _, _ = run(rlm(server))
    assert result.stop_reason == "provider_error" and "upstream overloaded" in result.error


def test_near_context_limit_warns_once():
    root = Script([code("x = 1"), code("x = 2"), code(FINISH)])
    with FakeOpenAI(root=root, prompt_tokens=900) as server:
        result, _, _ = run(rlm(server, budgets=Budgets(context_window_tokens=1000)))
    server.check()
    warnings = [m for m in result.messages if m["role"] == "user" and "context window" in m["content"]]
    assert len(warnings) == 1 and "91%" in warnings[0]["content"]


def test_model_mistakes_become_text_for_the_model():
    root = Script(
        [
            tool_call("python", "{not json"),
            tool_call("search", {"query": "x"}),
            tool_call("python", {"source": "1"}),
            text("I think the answer is probably 42."),
            code(FINISH),
        ]
    )
    with FakeOpenAI(root=root) as server:
        result, _, _ = run(rlm(server))
    server.check()
    assert result.stop_reason == "answer_ready" and result.root_turns == 5
    tool_texts = [m["content"] for m in result.messages if m["role"] == "tool"]
    assert tool_texts[0].startswith("Error: the arguments of `python` are not valid JSON")
    assert tool_texts[1] == "Error: unknown tool `search`. Available tools: `python`."
    assert tool_texts[2].startswith("Error: bad arguments for `python`")
    assert {"role": "user", "content": PROSE_REMINDER} in result.messages


def test_unfenced_and_fenced_code_replies_are_run():
    root = Script(
        [
            text("total = 20 + 22\nprint(total)"),
            text("Now:\n```python\nanswer['content'] = str(total)\nanswer['ready'] = True\n```"),
        ]
    )
    with FakeOpenAI(root=root) as server:
        result, _, _ = run(rlm(server))
    server.check()
    assert result.answer == "42" and result.messages[3] == {"role": "user", "content": "REPL output:\n42\n"}


def test_extract_code_leaves_prose_alone():
    assert extract_code("The answer is 42.") is None
    assert extract_code("42") is None and extract_code("Done") is None and extract_code("") is None
    assert extract_code("x = 1") == "x = 1"
    # An answer line like "Label: People" parses as a bare annotation; it is prose, not code.
    assert extract_code("Label: Technology") is None and extract_code("Answer: 42\nDone") is None
    assert extract_code("x: int = 3") == "x: int = 3" and extract_code("x: int\nx = 3") == "x: int\nx = 3"
    assert extract_code("Here:\n```py\na = 1\n```\nand\n```\nb = 2\n```") == "a = 1\nb = 2"
    # a plain fence holding prose is not run; a ```python block always is (its error is feedback)
    assert extract_code("```\nDate: 02/01/2023\n```") is None
    assert extract_code("```\nDate: 02/01/2023\n```\n```\nx = 1\n```") == "x = 1"
    assert extract_code("```python\nDate: 02/01/2023\n```") == "Date: 02/01/2023"


def test_llm_batch_runs_sub_llm_calls_concurrently_with_a_cap():
    def sub(request):
        return Delay(0.5, text(f"reply to {request['messages'][-1]['content']}"))

    root = Script(
        [code("r = llm_batch([f'q{i}' for i in range(8)])\nanswer['content'] = '|'.join(r)\nanswer['ready'] = True")]
    )
    with FakeOpenAI(root=root, sub=sub) as server:
        result, pool, _ = run(rlm(server, sub=SubLLMConfig(max_concurrency=4)))
        peak = server.max_in_flight
    server.check()
    assert result.answer == "|".join(f"reply to q{i}" for i in range(8))
    assert peak == 4  # overlapped, and never more than the cap
    assert result.cells[0].seconds < 1.9  # 8 calls of 0.5 s, 4 at a time: ~1 s, not 4 s


def test_sub_llm_timeout_and_provider_500_become_strings():
    def sub(request):
        prompt = request["messages"][-1]["content"]
        return {"slow": Delay(3, text("late")), "broken": Error(500, "boom"), "fine": text("ok")}[prompt]

    root = Script(
        [
            code(
                (
                    "r = llm_batch(['slow', 'broken', 'fine'])\nanswer['content'] = json.dumps(r)\n"
                    "answer['ready'] = True"
                ).replace("json.dumps", "__import__('json').dumps")
            )
        ]
    )
    with FakeOpenAI(root=root, sub=sub) as server:
        result, pool, _ = run(rlm(server, sub=SubLLMConfig(timeout_s=1)))
    slow, broken, fine = json.loads(result.answer)
    assert slow == "Error: sub-LLM call timed out after 1 s"
    assert broken.startswith("Error: sub-LLM call failed") and "boom" in broken
    assert fine == "ok" and pool.stats.errors == 2


def test_sub_llm_boxed_reply_is_extracted():
    root = Script([code("answer['content'] = llm_batch(['q'])[0]\nanswer['ready'] = True")])
    with FakeOpenAI(root=root, sub=Script([text(r"Reasoning... so \boxed{\frac{1}{2}}")])) as server:
        result, _, _ = run(rlm(server))
    server.check()
    assert result.answer == r"\frac{1}{2}"


def test_sub_llm_tools_loop_then_answer_without_tools():
    seen = []

    async def lookup(key: str) -> str:
        seen.append(key)
        if key == "missing":
            raise ToolError("no such key")
        return f"value of {key}"

    tool = Tool("lookup", "Look a key up.", {"type": "object", "properties": {"key": {"type": "string"}}}, lookup)
    sub = Script([tool_call("lookup", {"key": "a"}), tool_call("lookup", {"key": "missing"}), text("final")])
    root = Script([code("answer['content'] = llm_batch(['find'])[0]\nanswer['ready'] = True")])
    with FakeOpenAI(root=root, sub=sub) as server:
        result, pool, _ = run(rlm(server, sub=SubLLMConfig(max_tool_turns=2), tools=[tool]))
    server.check()
    # Two tool turns were offered; the third request must be answered without tools.
    assert seen == ["a", "missing"]
    assert [bool(r.get("tools")) for r in sub.requests] == [True, True, False]
    assert sub.requests[1]["messages"][-1]["content"] == "value of a"
    assert sub.requests[2]["messages"][-1]["content"] == "Error: no such key"
    assert pool.stats.tool_calls == 2 and pool.stats.tool_errors == 1
    assert result.answer == "final"
    assert pool.stats.records[0].turns == 3


def test_token_counts_add_up():
    root = Script([code("r = llm_batch(['a', 'b'])"), code(FINISH)])
    with FakeOpenAI(root=root, sub=Script([text("x"), text("y")]), prompt_tokens=50, completion_tokens=7) as server:
        result, pool, _ = run(rlm(server))
    server.check()
    assert (result.root_prompt_tokens, result.root_completion_tokens) == (100, 14)
    assert (pool.stats.prompt_tokens, pool.stats.completion_tokens) == (100, 14)
    assert pool.stats.batches == 1 and pool.stats.batch_sizes == [2]


def test_chat_loop_runs_tools_then_completes():
    async def add(a: int, b: int) -> str:
        return str(a + b)

    tool = Tool(
        "add", "Add.", {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}, add
    )
    root = Script([tool_call("add", {"a": 2, "b": 3}), text("It is 5.")])

    async def scenario(server):
        client = ChatClient(server.base_url, "k", "m", max_retries=0)
        return await run_chat_loop(client, [{"role": "user", "content": "2+3?"}], [tool], Budgets())

    with FakeOpenAI(root=root) as server:
        result = run(scenario(server))
    server.check()
    assert result.stop_reason == "completed" and result.answer == "It is 5."
    call_id = result.messages[1]["tool_calls"][0]["id"]
    assert result.messages[2] == {"role": "tool", "tool_call_id": call_id, "content": "5"}


def test_tool_calls_written_as_json_text_are_run():
    reply = (
        '```json\n{"name": "python", "arguments": '
        "{\"code\": \"answer['content'] = '7'\\nanswer['ready'] = True\"}}\n```"
    )
    with FakeOpenAI(root=Script([text(reply)])) as server:
        result, _, _ = run(rlm(server))
    server.check()
    assert result.answer == "7" and result.stop_reason == "answer_ready"
    assert result.messages[-1] == {"role": "user", "content": "REPL output:\n(no output)"}


def test_a_json_text_call_with_python_escapes_and_bare_code_is_run():
    # What Qwen2.5-Coder-0.5B writes: Python's \' inside a JSON string, the code as a bare string.
    code_text = "answer[\\'content\\'] = \\'7\\'\\nanswer[\\'ready\\'] = True"
    reply = '```json\n{\n    "name": "python",\n    "arguments": "' + code_text + '"\n}\n```'
    with FakeOpenAI(root=Script([text(reply)])) as server:
        result, _, _ = run(rlm(server))
    server.check()
    assert result.answer == "7" and result.stop_reason == "answer_ready"


def test_a_one_text_argument_tool_called_with_the_bare_value_runs_it():
    root = Script([tool_call("python", "print(6 * 7)"), tool_call("python", '"print(6 * 8)"'), code(FINISH)])
    with FakeOpenAI(root=root) as server:
        result, _, _ = run(rlm(server))
    server.check()
    assert [m["content"] for m in result.messages if m["role"] == "tool"][:2] == ["42\n", "48\n"]


def test_a_json_text_call_that_does_not_parse_is_told_why_not_that_it_had_no_code():
    # What the 1.5B wrote on Oolong: unescaped quotes inside the JSON string of the code.
    broken = '```json\n{"name": "python", "arguments": {"code": "chunks = ["\\n".join(r) for r in rows]"}}\n```'
    root = Script([text(broken), code(FINISH)])
    with FakeOpenAI(root=root) as server:
        result, _, _ = run(rlm(server))
    server.check()
    told = root.requests[1]["messages"][-1]["content"]
    assert told.startswith("Your reply is a tool call written as JSON text, but it is not valid JSON (")
    assert "line 1 column" in told and "```python" in told and told != PROSE_REMINDER
    assert result.answer == "done" and len(result.cells) == 1  # the broken call ran nothing


def test_only_json_that_opens_like_a_tool_call_counts_as_a_broken_one():
    assert broken_tool_call('{"name": "python", "arguments": {"code": "x = "1""}}') is not None
    assert broken_tool_call('[{"name": "python", "arguments": {"code": "x = "1""}}]') is not None
    assert broken_tool_call('{"name": "python", "arguments": {"code": "x = 1"}}') is None  # it parses
    assert broken_tool_call('{"total": 3, "note": "a "quoted" word"}') is None  # JSON, not a call
    assert broken_tool_call("The answer is {x}.") is None and broken_tool_call(None) is None
