"""An LLM judge that answers yes or no: does a response match the ground-truth answer?

Used where a benchmark's answers are free text that no rule can compare (DeepDive; Oolong's
judge mode). The judge is its own model behind its own OpenAI-compatible endpoint, called
directly rather than through the rollout's interception: its tokens are not the policy's.

    judge = YesNoJudge(JudgeConfig(model="gpt-4.1-mini"))
    verdict = await judge.judge(question="Which island ...?", answer="Lagosta island",
                                response="The island is Lagosta.")
    verdict.correct  # True

A judge that cannot give a verdict (key missing, endpoint down after retries, a reply that is
neither yes nor no) raises JudgeError. A grader never turns its own failure into a zero
reward: under verifiers the error is recorded on the rollout, which is then left unscored.
"""

import os
import re
from dataclasses import dataclass
from typing import Any

import verifiers.v1 as vf
from pydantic import BaseModel, ConfigDict, Field, field_validator

from rlm_env.client import ChatClient
from rlm_env.errors import ProviderError, ScoringError

PLACEHOLDERS = ("question", "answer", "response")
DEFAULT_PROMPT = (
    "You are checking whether a response to a question gives the correct answer.\n\n"
    "Question:\n{question}\n\n"
    "Correct answer:\n{answer}\n\n"
    "Response:\n{response}\n\n"
    "Does the response give the same answer as the correct answer? Differences in spelling, wording, "
    "formatting or extra detail do not matter if the answer itself is the same. A response that gives a "
    "different answer, no answer, or several candidate answers without settling on the correct one is "
    "wrong. Reply with one word: yes or no."
)
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)
_WORD = re.compile(r"[a-z]+")


class JudgeError(ScoringError):
    """The judge gave no verdict: a scoring error on the rollout (verifiers' TaskError), never a zero."""


class JudgeConfig(BaseModel):
    """Which model judges, where it is served, and how hard to retry."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    model: str = "gpt-4.1-mini"
    """Judge model name at `base_url`."""
    base_url: str = "https://api.openai.com/v1"
    """OpenAI-compatible endpoint of the judge (ends in /v1)."""
    api_key_var: str | None = "OPENAI_API_KEY"
    """Environment variable holding the judge's API key; None for endpoints that need none."""
    timeout_s: float = Field(default=60.0, gt=0)
    """Seconds one judge request may take."""
    max_retries: int = Field(default=3, ge=0)
    """Retries (with backoff) of a judge request that fails with a timeout, 429 or 5xx."""
    sampling: dict[str, Any] = {}
    """Extra request fields sent with every judge call, e.g. {"temperature": 0}."""
    prompt: str = DEFAULT_PROMPT
    """Judge prompt with the placeholders {question}, {answer} and {response}."""

    @field_validator("prompt")
    @classmethod
    def _has_placeholders(cls, prompt: str) -> str:
        missing = [f"{{{name}}}" for name in PLACEHOLDERS if f"{{{name}}}" not in prompt]
        if missing:
            raise ValueError(f"the judge prompt lacks {', '.join(missing)}: add them where the texts belong")
        return prompt


@dataclass(frozen=True)
class Verdict:
    correct: bool
    prompt: str
    """The user message the judge was sent."""
    reply: str
    """The judge's raw reply."""
    prompt_tokens: int
    completion_tokens: int


def parse_yes_no(reply: str) -> bool | None:
    """True for yes, False for no, None when the reply says neither.

    Reasoning in <think> tags is dropped; then the first word decides, else the last
    ("Yes." / "No, the response names ..." / "... so the answer is: no").
    """
    words = _WORD.findall(_THINK.sub("", reply).lower())
    for word in words[:1] + words[-1:]:
        if word in ("yes", "no"):
            return word == "yes"
    return None


class YesNoJudge:
    def __init__(self, config: JudgeConfig) -> None:
        self.config = config

    def render(self, question: str, answer: str, response: str) -> str:
        # One pass over the template: a literal "{answer}" inside the question stays as written.
        fields = {"question": question, "answer": answer, "response": response}
        return re.sub(r"\{(question|answer|response)\}", lambda m: fields[m.group(1)], self.config.prompt)

    def client(self) -> ChatClient:
        c = self.config
        api_key = "EMPTY"  # the OpenAI client insists on a key even for endpoints that take none
        if c.api_key_var is not None:
            api_key = os.environ.get(c.api_key_var, "")
            if not api_key:
                raise JudgeError(f"the judge's API key variable {c.api_key_var} is not set: export it, or set "
                                 "judge.api_key_var to the variable that holds the key")
        return ChatClient(c.base_url, api_key, c.model, sampling=c.sampling, timeout_s=c.timeout_s,
                          max_retries=c.max_retries)

    async def judge(self, question: str, answer: str, response: str) -> Verdict:
        prompt = self.render(question, answer, response)
        client = self.client()
        try:
            reply = await client.complete([{"role": "user", "content": prompt}])
        except ProviderError as error:
            raise JudgeError(f"judge {self.config.model} at {self.config.base_url} failed: {error}") from error
        finally:
            await client.close()
        text = reply.message.get("content") or ""
        correct = parse_yes_no(text)
        if correct is None:
            raise JudgeError(f"judge reply is neither yes nor no: {text[:300]!r}")
        return Verdict(correct, prompt, text, reply.prompt_tokens, reply.completion_tokens)


async def judged(config: JudgeConfig, question: str, gold: str, response: str, trace: vf.Trace,
                 reward_name: str = "correct") -> float:
    """1.0 if the judge says the response matches the gold; the exchange is recorded on the trace.

    An empty response scores 0 without asking. A judge that gives no verdict raises JudgeError,
    which verifiers records on the rollout (left unscored, never a silent 0).
    """
    if not response.strip():
        return 0.0
    judge = YesNoJudge(config)
    verdict = await judge.judge(question, gold, response)
    usage = vf.Usage(prompt_tokens=verdict.prompt_tokens, completion_tokens=verdict.completion_tokens)
    trace.record_judge_call(name=reward_name, request={"model": config.model, "messages": [
        {"role": "user", "content": verdict.prompt}]}, response=vf.JudgeResponse(text=verdict.reply, usage=usage))
    return float(verdict.correct)
