"""rlm_env.scoring.judge: a yes/no judge on verifiers' vf.Judge against the scripted OpenAI server; strict
verdicts; every failure is a JudgeError (never a 0), and a reply that came back is on the trace."""

import asyncio

import pytest
from pydantic import ValidationError

from fake_openai import Error, FakeOpenAI, Script, text
from rlm_env.scoring.judge import JudgeConfig, JudgeError, YesNoJudge, judge_view, judged, parse_yes_no


class RecordingTrace:
    """The one trace method vf.Judge calls: keeps what it records."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def record_judge_call(self, *, name, request, response) -> None:
        self.calls.append({"name": name, "request": request, "text": response.text, "usage": response.usage})


def judge_with(server: FakeOpenAI, monkeypatch, **config) -> YesNoJudge:
    monkeypatch.setenv("FAKE_JUDGE_KEY", "sk-judge")
    return YesNoJudge(
        JudgeConfig(
            **{
                "model": "judge-model",
                "base_url": server.base_url,
                "api_key_var": "FAKE_JUDGE_KEY",
                "max_retries": 0,
                **config,
            }
        )
    )


def verdict(judge: YesNoJudge, response: str = "Lagosta (Lastovo)", trace=None):
    return asyncio.run(judge.judge("Which island gained representation?", "Lagosta island", response, trace=trace))


@pytest.mark.parametrize(
    "reply, correct",
    [
        ("yes", True),
        ("Yes.", True),
        ("no", False),
        ("No, the response names a different island.", False),
        ("<think>it says yes? no...</think>\nyes", True),
    ],
)
def test_yes_and_no_verdicts_through_vf_judge(monkeypatch, reply, correct):
    script = Script([text(reply)])
    trace = RecordingTrace()
    with FakeOpenAI(root=script) as server:
        result = verdict(judge_with(server, monkeypatch, sampling={"temperature": 0}), trace=trace)
    server.check()
    assert result.correct is correct and result.reply == reply
    request = script.requests[0]
    assert request["model"] == "judge-model" and request["temperature"] == 0 and "tools" not in request
    assert request["_headers"]["Authorization"] == "Bearer sk-judge"
    [message] = request["messages"]
    assert message["role"] == "user" and message["content"] == result.prompt
    assert "Which island gained representation?" in result.prompt and "Lagosta island" in result.prompt
    assert result.prompt_tokens == 100 and result.completion_tokens == 10
    [call] = trace.calls  # recorded by verifiers' judge machinery, under the reward's name
    assert call["name"] == "correct" and call["text"] == reply and call["usage"].prompt_tokens == 100
    assert call["request"]["messages"] == [{"role": "user", "content": result.prompt}]


@pytest.mark.parametrize(
    "reply",
    ["I cannot tell.", "", "maybe", "yes and no", "Yes. Well, no.", "<think>yes</think>", "<think>the answer is yes"],
)
def test_a_reply_with_neither_or_both_is_a_judge_error_and_still_recorded(monkeypatch, reply):
    trace = RecordingTrace()
    with FakeOpenAI(root=Script([text(reply)])) as server:
        with pytest.raises(JudgeError, match="neither a clear yes nor a clear no"):
            verdict(judge_with(server, monkeypatch), trace=trace)
    server.check()
    assert [call["text"] for call in trace.calls] == [reply]  # the billed exchange is kept


def test_a_failing_endpoint_is_retried_then_raises(monkeypatch):
    script = Script([Error(500), Error(503)])
    trace = RecordingTrace()
    with FakeOpenAI(root=script) as server:
        with pytest.raises(JudgeError, match="judge judge-model at .* failed after 2 attempt"):
            verdict(judge_with(server, monkeypatch, max_retries=1), trace=trace)
    server.check()
    assert len(script.requests) == 2 and trace.calls == []  # no reply, nothing to record


def test_a_rate_limit_then_success(monkeypatch):
    script = Script([Error(429), text("yes")])
    with FakeOpenAI(root=script) as server:
        assert verdict(judge_with(server, monkeypatch, max_retries=2)).correct
    server.check()
    assert len(script.requests) == 2


def test_a_bad_request_is_not_retried(monkeypatch):
    script = Script([Error(400)])
    with FakeOpenAI(root=script) as server, pytest.raises(JudgeError, match="BadRequestError"):
        verdict(judge_with(server, monkeypatch, max_retries=3))
    server.check()
    assert len(script.requests) == 1


def test_a_missing_key_raises_and_names_the_variable(monkeypatch):
    monkeypatch.delenv("NO_SUCH_JUDGE_KEY", raising=False)
    judge = YesNoJudge(JudgeConfig(api_key_var="NO_SUCH_JUDGE_KEY", base_url="http://127.0.0.1:9/v1"))
    with pytest.raises(JudgeError, match="NO_SUCH_JUDGE_KEY is not set"):
        verdict(judge)


def test_endpoints_without_a_key(monkeypatch):
    script = Script([text("no")])
    with FakeOpenAI(root=script) as server:
        judge = YesNoJudge(JudgeConfig(base_url=server.base_url, api_key_var=None, max_retries=0))
        assert verdict(judge).correct is False
    server.check()
    assert script.requests[0]["_headers"]["Authorization"] == "Bearer EMPTY"


def test_prompt_rendering_and_validation():
    judge = YesNoJudge(JudgeConfig(prompt="Q={question} A={answer} R={response} {other}"))
    assert judge.render("what is {answer}?", "42", "{response}") == "Q=what is {answer}? A=42 R={response} {other}"
    with pytest.raises(ValidationError, match=r"lacks \{response\}: add them"):
        JudgeConfig(prompt="Q={question} A={answer}")


@pytest.mark.parametrize(
    "reply, expected",
    [
        ("YES", True),
        ("no.", False),
        ("Answer: yes", True),
        ("The response matches, so yes", True),
        ("No", False),
        ("reasoning about yes</think>\nno", False),
        ("yes and no", None),
        ("no, yes", None),
        ("unsure", None),
        ("nobody knows", None),
        ("yesterday", None),
        ("", None),
        ("<think>yes</think>", None),
        ("<think>yes", None),
    ],
)
def test_parse_yes_no_is_strict(reply, expected):
    assert parse_yes_no(reply) is expected


@pytest.mark.parametrize(
    "response, view",
    [
        ("  Lagosta island \n", "Lagosta island"),
        ("<think>maybe Vis?</think>\n\nLagosta", "Lagosta"),
        ("I searched a lot. The answer: \\boxed{Lagosta island}.", "Lagosta island"),
        ("<think>\\boxed{Vis}</think> \\boxed{ Lagosta }", "Lagosta"),
        ("<think>never finished \\boxed{Vis}", ""),
    ],
)
def test_the_judge_sees_the_final_answer_only(response, view):
    assert judge_view(response) == view


def test_judged_sends_the_view_and_skips_empty_answers(monkeypatch):
    script = Script([text("yes")])
    trace = RecordingTrace()
    with FakeOpenAI(root=script) as server:
        monkeypatch.setenv("FAKE_JUDGE_KEY", "sk-judge")
        config = JudgeConfig(
            model="judge-model",
            base_url=server.base_url,
            api_key_var="FAKE_JUDGE_KEY",
            max_retries=0,
            prompt="Q={question}|A={answer}|R={response}",
        )
        assert (
            asyncio.run(
                judged(
                    config,
                    "Which?",
                    "Lagosta",
                    "<think>x</think> \\boxed{Lagosta}\n",
                    trace,
                    reward_name="oolong_score",
                )
            )
            == 1.0
        )
        assert asyncio.run(judged(config, "Which?", "Lagosta", "<think>no answer</think>  ", trace)) == 0.0
    server.check()
    assert [r["messages"][0]["content"] for r in script.requests] == ["Q=Which?|A=Lagosta|R=Lagosta"]
    assert [call["name"] for call in trace.calls] == ["oolong_score"]
