"""The protocol knobs for small models (rlm_env.core.loop.ProtocolConfig), each on and off, through
the loop and the harness against the scripted server."""

import asyncio

from conftest import run
from fake_openai import FakeOpenAI, Script, code, text
from rlm_env.core.loop import DEFAULT_STOP_SEQUENCES, Budgets, ProtocolConfig
from rlm_env.core.parsing import answer_in_text
from rlm_env.core.prompts import (
    CODE_BLOCK_REMINDER,
    DATA_REMINDER,
    PROSE_REMINDER,
    REPEAT_NOTE,
    STATED_ANSWER_REMINDER,
    WORKED_EXAMPLE,
)
from test_harness_e2e import run_episodes
from test_loop import rlm

# What the 1.5B model writes: right code, then an invented output block and a boxed answer in prose.
FINISH = "answer['content'] = 'done'\nanswer['ready'] = True"
INVENTED = "```python\nx = 6 * 7\nprint(x)\n```\n```output\n41\n```\nSo the answer is \\boxed{41}."
SET_ANSWER = "```python\nanswer['content'] = str(x)\nanswer['ready'] = True\n```"


def test_stop_sequences_end_the_reply_before_an_invented_output():
    with FakeOpenAI(root=Script([text(INVENTED), text(SET_ANSWER)])) as server:
        result, _, _ = run(rlm(server))
    server.check()
    assert server.requests[0]["stop"] == DEFAULT_STOP_SEQUENCES
    assert result.messages[2]["content"] == "```python\nx = 6 * 7\nprint(x)\n```\n"  # nothing invented kept
    assert result.messages[3] == {"role": "user", "content": "REPL output:\n42\n"}
    assert result.answer == "42" and result.stop_reason == "answer_ready"


def test_without_stop_sequences_the_invented_output_stays_in_the_conversation():
    with FakeOpenAI(root=Script([text(INVENTED), text(SET_ANSWER)])) as server:
        result, _, _ = run(rlm(server, protocol=ProtocolConfig(stop_sequences=[])))
    server.check()
    assert "stop" not in server.requests[0]
    assert result.messages[2]["content"] == INVENTED and result.answer == "42"


def test_answer_in_text_takes_the_last_replys_boxed_answer_when_none_was_set():
    replies = [text("```python\nx = 6 * 7\nprint(x)\n```"), text("The answer is \\boxed{42}.")]
    with FakeOpenAI(root=Script(list(replies))) as server:
        on, _, _ = run(rlm(server, budgets=Budgets(max_turns=2), protocol=ProtocolConfig(answer_in_text=True)))
    with FakeOpenAI(root=Script(list(replies))) as server:
        off, _, _ = run(rlm(server, budgets=Budgets(max_turns=2)))
    assert (on.answer, on.stop_reason) == ("42", "answer_in_text")
    assert (off.answer, off.stop_reason) == ("", "max_turns")


def test_a_prose_answer_gets_the_code_that_sets_it():
    replies = [
        text("The answer is \\boxed{42}."),
        text("```python\nanswer['content'] = '42'\nanswer['ready'] = True\n```"),
    ]
    root = Script(list(replies))
    with FakeOpenAI(root=root) as server:
        result, _, _ = run(rlm(server, protocol=ProtocolConfig(answer_in_text=True)))
    server.check()
    reminder = root.requests[1]["messages"][-1]["content"]
    assert reminder == STATED_ANSWER_REMINDER.format(content="42") and "answer[\"content\"] = '42'" in reminder
    assert (result.answer, result.stop_reason) == ("42", "answer_ready")
    root = Script(list(replies))
    with FakeOpenAI(root=root) as server:
        run(rlm(server))
    assert root.requests[1]["messages"][-1]["content"] == PROSE_REMINDER  # knob off: the generic reminder


def test_answer_in_text_never_replaces_an_answer_set_in_code():
    replies = [code("answer['content'] = 'draft'"), text("Final: \\boxed{42}")]
    with FakeOpenAI(root=Script(replies)) as server:
        result, _, _ = run(rlm(server, budgets=Budgets(max_turns=2), protocol=ProtocolConfig(answer_in_text=True)))
    assert (result.answer, result.stop_reason) == ("draft", "max_turns")


def test_answer_in_text_reads_an_answer_dict_written_in_prose():
    assert answer_in_text('Done. I set answer = {"content": "7", "ready": True} and \\boxed{8}') == "7"
    assert answer_in_text("answer = {'content': x}; so \\boxed{\\frac{1}{2}}") == "\\frac{1}{2}"  # not a literal
    assert answer_in_text("answer = {'content': 3") is None and answer_in_text("no answer here") is None
    assert answer_in_text(None) is None


def test_answer_in_text_reads_prose_only_never_code():
    # The 1.5B's last turn on math: code whose answer literal is not one (it ran and set nothing).
    sliced = "```python\nanswer = {'content': out.split('=')[1].split(' ')[0], 'ready': True}\n```"
    assert answer_in_text(sliced) is None
    assert answer_in_text("answer = {'content': s.split('{')[1]}") is None  # bare code, braces in strings
    assert answer_in_text("```python\nprint('\\\\boxed{3}')\n```\nSo it is \\boxed{4}.") == "4"
    assert answer_in_text("```python\nx = {'content': 1}\n```\nanswer = {'content': '9'} as I said") == "9"
    assert answer_in_text("```python\nunclosed = {'content': '5'}") is None
    assert answer_in_text("<think>maybe \\boxed{1}</think>It is \\boxed{2}.") == "2"
    assert answer_in_text("<think>maybe \\boxed{1}</think>Let me check again.") is None
    assert answer_in_text('```json\n{\n  "content": "Label: 2",\n  "ready": true\n}\n```') == "Label: 2"  # 1.5B
    assert answer_in_text('{"name": "python", "arguments": {"content": "x"}}') is None  # a tool call
    assert answer_in_text("<answer>\nLabel: Society\n</answer>") == "Label: Society"  # the 1.5B on Oolong


def test_a_final_code_turn_whose_literal_never_ran_states_no_answer():
    last = "```python\nraise ValueError('not yet')\nanswer = {'content': '7', 'ready': True}\n```"
    with FakeOpenAI(root=Script([text(last)])) as server:
        result, _, _ = run(rlm(server, budgets=Budgets(max_turns=1), protocol=ProtocolConfig(answer_in_text=True)))
    assert "ValueError" in result.messages[-1]["content"]
    assert (result.answer, result.stop_reason) == ("", "max_turns")  # the literal is code, and it never ran


def run_sum_episode(harness: dict) -> tuple[dict, object]:
    root = Script([code("answer['content'] = str(sum(extra_data))\nanswer['ready'] = True")])
    with FakeOpenAI(root=root) as server:
        [episode] = asyncio.run(run_episodes(server, harness))
    server.check()
    return root.requests[0], episode.traces[0]


def test_worked_example_is_in_the_system_prompt_only_when_asked_for():
    request, trace = run_sum_episode({"protocol": {"worked_example": True}})
    assert WORKED_EXAMPLE in request["messages"][0]["content"] and trace.reward == 1.0
    request, _ = run_sum_episode({})
    assert "Example of the protocol" not in request["messages"][0]["content"]


def test_tips_as_code_show_the_skeleton_instead_of_the_prose_tips():
    request, trace = run_sum_episode({"env_tips": True, "protocol": {"tips_as_code": True}})
    user = request["messages"][1]["content"]
    assert "<env_tips>\n```python\nprint(sum(extra_data))\n```\n</env_tips>" in user and "sum()." not in user
    request, _ = run_sum_episode({"env_tips": True})
    assert "<env_tips>\nUse Python's sum().\n</env_tips>" in request["messages"][1]["content"]
    request, _ = run_sum_episode({"protocol": {"tips_as_code": True}})  # tips off: no tips at all
    assert "<env_tips>" not in request["messages"][1]["content"]


def test_the_stop_reason_is_recorded_on_the_trace():
    root = Script([text("It is \\boxed{5}")])
    with FakeOpenAI(root=root) as server:
        [episode] = asyncio.run(
            run_episodes(server, {"budgets": {"max_turns": 1}, "protocol": {"answer_in_text": True}})
        )
    trace = episode.traces[0]
    assert trace.info["rlm_env"]["stop_reason"] == "answer_in_text" and trace.metrics["stop_answer_in_text"] == 1.0
    assert root.requests[0]["stop"] == DEFAULT_STOP_SEQUENCES  # through the interception to the server


def test_repeat_note_follows_a_cell_that_repeats_the_last_one_exactly():
    replies = [code("print(undefined_name)"), code("print(undefined_name)"), code("print(1)"), code(FINISH)]
    with FakeOpenAI(root=Script(list(replies))) as server:
        on, _, _ = run(rlm(server, protocol=ProtocolConfig(repeat_note=True)))
    tool_outputs = [m["content"] for m in on.messages if m["role"] == "tool"]
    assert not tool_outputs[0].endswith(REPEAT_NOTE) and tool_outputs[1].endswith(REPEAT_NOTE)
    assert "NameError" in tool_outputs[1] and not tool_outputs[2].endswith(REPEAT_NOTE)
    with FakeOpenAI(root=Script(list(replies))) as server:
        off, _, _ = run(rlm(server))
    assert not any(m["content"].endswith(REPEAT_NOTE) for m in off.messages if m["role"] == "tool")
    assert on.answer == off.answer == "done"


def test_without_the_python_tool_the_model_is_asked_for_fenced_blocks_and_sent_no_tools():
    root = Script([text("I think it is 6."), text("```python\nprint(sum(extra_data))\n```"), code(FINISH)])
    with FakeOpenAI(root=root) as server:
        [episode] = asyncio.run(run_episodes(server, {"protocol": {"python_tool": False}}))
    server.check()
    first, second, third = root.requests
    assert "tools" not in first and "fenced ```python block per reply" in first["messages"][0]["content"]
    assert "`python` tool" not in first["messages"][0]["content"]
    reminder = second["messages"][-1]["content"]
    assert reminder.startswith(CODE_BLOCK_REMINDER) and "the REPL variable `extra_data` (" in reminder
    assert third["messages"][-1]["content"].startswith("REPL output:\n")
    assert episode.traces[0].info["rlm_env"]["stop_reason"] == "answer_ready"
    request, _ = run_sum_episode({})  # knob on (the default): the tool, and the prompt names it
    assert request["tools"][0]["function"]["name"] == "python" and "`python` tool" in request["messages"][0]["content"]


def test_the_no_code_reminder_names_extra_data_only_where_there_is_some():
    for extra_data, note in ((None, ""), ("x" * 1234, DATA_REMINDER.format(chars=1234))):
        root = Script([text("Sorry, I don't have any input."), code(FINISH)])
        with FakeOpenAI(root=root) as server:
            run(rlm(server, extra_data=extra_data, protocol=ProtocolConfig(python_tool=False)))
        server.check()
        assert root.requests[1]["messages"][-1]["content"] == CODE_BLOCK_REMINDER + note
    assert "1,234 characters" in DATA_REMINDER.format(chars=1234)


def test_an_answer_in_a_plain_fence_gets_the_reminder_not_a_syntax_error():
    # The 1.5B wrote "```\nDate: 02/01/2023\n```" for ten turns, each answered with a SyntaxError.
    root = Script([text("```\nDate: 02/01/2023\n```"), code(FINISH)])
    with FakeOpenAI(root=root) as server:
        result, _, _ = run(rlm(server, extra_data="x" * 100, protocol=ProtocolConfig(python_tool=False)))
    server.check()
    assert root.requests[1]["messages"][-1]["content"].startswith(CODE_BLOCK_REMINDER)
    assert len(result.cells) == 1 and result.answer == "done"  # only the answer cell ran
