"""An LLM judge that answers yes or no: does a response match the ground-truth answer?

Used where a benchmark's answers are free text that no rule can compare (DeepDive; Oolong's
judge mode). The call goes through verifiers' own judge machinery (`vf.Judge`: client
construction, the request, and the record of the exchange on the trace, with its tokens in
`trace.extra_usage`), to the judge's own OpenAI-compatible endpoint rather than the rollout's
interception: its tokens are not the policy's.

    judge = YesNoJudge(JudgeConfig(model="gpt-4.1-mini"))
    verdict = await judge.judge(question="Which island ...?", answer="Lagosta island",
                                response="The island is Lagosta.")
    verdict.correct  # True

What the judge sees as the response (`judge_view`): the final answer with any
`<think>...</think>` reasoning removed, the content of its last `\\boxed{...}` if it has one, and
no surrounding whitespace. The verdict is read strictly (`parse_yes_no`): the reply, reasoning
removed, must say "yes" or "no" and not both.

A judge that cannot give a verdict (key missing, endpoint down after retries, a reply that is
neither yes nor no, or both) raises JudgeError. A grader never turns its own failure into a
zero reward: under verifiers the error is recorded on the rollout, which is then left unscored;
a reply that was received is recorded on the trace (`trace.info["judge_calls"]`) even when it
gives no verdict.
"""

import asyncio
import os
import re
from dataclasses import dataclass
from typing import Any

import openai
import verifiers.v1 as vf
from pydantic import BaseModel, ConfigDict, Field, field_validator

from rlm_env.core.errors import ScoringError
from rlm_env.core.parsing import extract_boxed, strip_think

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
_WORD = re.compile(r"[a-z]+")
_RETRY_BACKOFF_S = 0.5  # first retry delay, doubled each time (a judge endpoint under load recovers in seconds)
_RETRIED_STATUS = (408, 409, 429)  # request timeout, lock conflict, rate limit (and every 5xx)


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
    """Retries (with backoff) of a judge request that fails with a timeout, a lost connection, 429 or 5xx."""
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

    def client_config(self, reward_name: str) -> vf.JudgeConfig:
        """verifiers' judge config for this judge; `reward_name` names the exchange on the trace."""
        timeout = {
            "connect": min(30.0, self.timeout_s),
            "read": self.timeout_s,
            "write": self.timeout_s,
            "pool": self.timeout_s,
        }
        # An empty variable name resolves to no key, which verifiers sends as "EMPTY".
        return vf.JudgeConfig(
            model=self.model,
            base_url=self.base_url,
            api_key_var=self.api_key_var or "",
            sampling=vf.SamplingConfig(**self.sampling),
            timeout=timeout,
            name=reward_name,
        )


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
    """True for yes, False for no, None when the reply says neither or both.

    Reasoning (`<think>...</think>`, or everything after an unclosed `<think>`) is dropped first.
    "Yes." and "No, the response names another island." decide; "yes and no", "maybe" and ""
    do not, so a hedging or garbled judge is an error, never a verdict.
    """
    words = set(_WORD.findall(strip_think(reply).lower()))
    said = words & {"yes", "no"}
    if len(said) != 1:
        return None
    return said == {"yes"}


def judge_view(response: str) -> str:
    r"""What the judge is shown of a response: reasoning removed, the last `\boxed{}` content if
    any, outer whitespace stripped. `"<think>hm</think> So \boxed{Lagosta} "` -> `"Lagosta"`."""
    text = strip_think(response)
    boxed = extract_boxed(text)
    return (boxed if boxed is not None else text).strip()


class YesNoJudge(vf.Judge[bool]):
    """A yes/no reference-answer judge on verifiers' `vf.Judge`, with our prompt and strict parsing."""

    def __init__(self, config: JudgeConfig, reward_name: str = "correct") -> None:
        super().__init__(config.client_config(reward_name))
        self.settings = config
        self.prompt = config.prompt

    def render(self, question: str, answer: str, response: str) -> str:
        # One pass over the template (vf.Judge.build_messages): a literal "{answer}" inside the
        # question stays as written.
        return self.build_messages(question=question, answer=answer, response=response)

    def parse(self, response: vf.JudgeResponse[bool]) -> bool:
        correct = parse_yes_no(response.text)
        if correct is None:
            raise JudgeError(f"judge reply is neither a clear yes nor a clear no: {response.text[:300]!r}")
        return correct

    async def judge(self, question: str, answer: str, response: str, trace: vf.Trace | None = None) -> Verdict:
        c = self.settings
        if c.api_key_var is not None and not os.environ.get(c.api_key_var):
            raise JudgeError(
                f"the judge's API key variable {c.api_key_var} is not set: export it, or set "
                "judge.api_key_var to the variable that holds the key"
            )
        prompt = self.render(question, answer, response)
        for attempt in range(c.max_retries + 1):
            try:
                result = await self.complete(prompt, trace=trace, parse=self.parse)
                break
            except openai.APIError as error:  # the SDK's transport and HTTP errors; JudgeError from parse passes
                if not _worth_retrying(error) or attempt == c.max_retries:
                    raise JudgeError(
                        f"judge {c.model} at {c.base_url} failed after {attempt + 1} attempt(s): "
                        f"{type(error).__name__}: {str(error)[:300]}"
                    ) from error
                await asyncio.sleep(_RETRY_BACKOFF_S * 2**attempt)
        usage = result.usage
        return Verdict(
            bool(result.parsed),
            prompt,
            result.text,
            usage.prompt_tokens if usage else 0,
            usage.completion_tokens if usage else 0,
        )


def _worth_retrying(error: openai.APIError) -> bool:
    """Timeouts, lost connections, 408, 409, 429 and 5xx pass; a bad request or a bad key does not."""
    if isinstance(error, openai.APIConnectionError):  # includes APITimeoutError
        return True
    return isinstance(error, openai.APIStatusError) and (
        error.status_code in _RETRIED_STATUS or error.status_code >= 500
    )


async def judged(
    config: JudgeConfig, question: str, gold: str, response: str, trace: vf.Trace, reward_name: str = "correct"
) -> float:
    """1.0 if the judge says the response matches the gold; the exchange is recorded on the trace.

    The judge sees `judge_view(response)`. An empty view scores 0 without asking. A judge that
    gives no verdict raises JudgeError, which verifiers records on the rollout (left unscored,
    never a silent 0).
    """
    view = judge_view(response)
    if not view:
        return 0.0
    verdict = await YesNoJudge(config, reward_name).judge(question, gold, view, trace=trace)
    return float(verdict.correct)
