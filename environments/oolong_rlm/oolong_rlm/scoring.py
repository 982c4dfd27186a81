"""Oolong scoring: the official rules of the Oolong benchmark, re-implemented, made strict
where the official rules would reward a wrong answer.

Synth (oolong-synth, ``score_synth``).  The prediction is the text after the
last ':' of the response, with ``*``, ``[`` and ``]`` removed and whitespace
trimmed (a response without any ':' falls back to the whole response when it
is under 20 characters, else to its last word -- the official fallback).
The gold is a Python-literal one-element list string.

* Exact string match scores 1.0.  Like the official scorer, this is
  CASE-SENSITIVE: "Label: spam" matches "['spam']", "Label: Spam" does not.
* LABEL: when the question lists the labels ("... one of the labels: ham,
  spam."), an answer that names two or more of them scores 0 -- "Label: ham
  or spam", two "Label: ..." lines with different labels, or a colon-less
  "it is either ham or spam" whose last word happens to be right (the
  official last-colon and last-word rules would score the last two 1).
* COMPARISON: the prediction must contain exactly one of "more common" /
  "less common" / "same frequency", not negated ("not", "never", "no",
  "n't" up to one word before it), and that phrase must be contained in the
  gold ("Answer: A is **more common than** B" vs "['more common than']" ->
  1.0; "A is not more common than B" and "more common or less common" -> 0).
  Stricter than the official scorer, which maps any 20+ character prediction
  containing a phrase to that phrase (so it rewards "not more common"); more
  lenient in one harmless way: the official scorer applies containment only to
  predictions of 20+ characters, we apply it at every length, so a short
  answer in the requested form ("ham is more common") is not failed for being
  short.
* NUMERIC: ``0.75 ** abs(gold - pred)`` with ``pred = int(prediction)``
  ("Answer: 5" vs "[7]" -> 0.5625; "Answer: five" or "5 or 6" -> 0.0).
* DATE: gold ``"[datetime.date(2023, 1, 6)]"`` is parsed with a regex (never
  eval); the prediction with ``dateutil`` (MM/DD/YYYY first, so "01/06/2023",
  "2023-01-06", "Jan 6, 2023" all -> 1.0).  A prediction missing the day or
  year ("January 2023") scores 0 instead of borrowing today's date.
* MONTH_YEAR ("['October 2022']"), USER ("[76063]" or "['76063']"): exact
  string match only.

Real (oolong-real D&D, ``score_real``).  The prediction is the content of the
last ``\\boxed{...}`` (nested braces allowed, a ``\\text{...}`` wrapper
removed); without a box the whole response is used (official fallback).
Gold and prediction are parsed alike: ``int()`` first, else a comma-separated
list, else a string.  int vs int -> ``0.75 ** abs(diff)``; str vs str ->
case-insensitive exact; list vs list -> |gold & pred| / max(|gold|, |pred|)
over trimmed, lower-cased, de-duplicated items ("\\boxed{Fire Bolt, shield}" vs
"Fire Bolt, Shield, Mage Hand" -> 2/3); mismatched kinds -> 0.0.  The official
rule divides by |gold| only, so listing every name in the transcript scores 1;
dividing by the longer list makes each wrong item cost as much as a missing one.

A bad model answer scores 0.0; a malformed GOLD (or answer type) raises
MalformedGold, a ScoringError recorded on the rollout, because a grader must
never turn its own data bug into a silent zero.
"""

from __future__ import annotations

import ast
import datetime as dt
import re

import dateutil.parser

from rlm_env import ScoringError
from rlm_env.scoring import extract_boxed

COMPARISON_PHRASES = ("more common", "less common", "same frequency")
ANSWER_TYPES = ("LABEL", "NUMERIC", "COMPARISON", "DATE", "MONTH_YEAR", "USER")
_GOLD_DATE = re.compile(r"\[datetime\.date\((\d{1,4}), (\d{1,2}), (\d{1,2})\)\]")
_LABEL_LIST = re.compile(r"one of the labels:\s*(.+?)\.?\s*$", re.MULTILINE)
_COMPARISON = re.compile("|".join(COMPARISON_PHRASES))
_LABEL_STATEMENT = re.compile(r"label\s*:([^\n]*)", re.IGNORECASE)
_NEGATED = re.compile(r"(?:\b(?:not|never|no)|n't)\s+(?:\w+\s+)?$", re.IGNORECASE)


class MalformedGold(ScoringError, ValueError):
    """The task's gold answer (or answer type) cannot be scored against: a data bug, not the model's."""


def parse_synth_prediction(response: str) -> str:
    """Official answer extraction: text after the last ':', markup removed."""
    if ":" in response:
        candidate = response.rsplit(":", 1)[1]
    elif len(response) < 20:
        candidate = response
    else:
        words = response.split()
        candidate = words[-1] if words else ""
    return candidate.replace("*", "").replace("[", "").replace("]", "").strip()


def answer_region(response: str) -> str:
    """The part of a response that states the answer: after the last ':', else all of it."""
    return response.rsplit(":", 1)[1] if ":" in response else response


def question_labels(question: str) -> list[str]:
    """The label set a synth question lists ("... one of the labels: ham, spam."), or []."""
    match = _LABEL_LIST.search(question)
    return [label.strip() for label in match.group(1).split(",") if label.strip()] if match else []


def stated_labels(response: str, labels: list[str]) -> set[str]:
    """The labels a response gives as its answer: named in its answer region or on any
    "Label: ..." line (so "Label: spam ... Label: ham" states two)."""
    parts = [answer_region(response), *(m.group(1) for m in _LABEL_STATEMENT.finditer(response))]
    return set().union(*(named_labels(part, labels) for part in parts))


def named_labels(text: str, labels: list[str]) -> set[str]:
    """Which of `labels` `text` names (whole words, any case; a label inside a longer one counts once)."""
    if not labels:
        return set()
    by_length = sorted(labels, key=len, reverse=True)
    pattern = re.compile(r"(?<!\w)(" + "|".join(map(re.escape, by_length)) + r")(?!\w)", re.IGNORECASE)
    return {match.group(1).casefold() for match in pattern.finditer(text)}


def comparison_phrase(prediction: str) -> str | None:
    """The one comparison phrase a prediction states, or None when it states none, several
    different ones, or a negated one ("not more common")."""
    matches = list(_COMPARISON.finditer(prediction))
    if len({m.group() for m in matches}) != 1:
        return None
    if any(_NEGATED.search(prediction[: m.start()]) for m in matches):
        return None
    return matches[0].group()


def parse_synth_gold(gold: str) -> str | int | dt.date:
    """Parse a gold answer string; raises MalformedGold (a ValueError) when it is malformed."""
    if not isinstance(gold, str):
        raise MalformedGold(f"gold answer must be a string, got {type(gold).__name__}")
    text = gold.strip()
    if text.startswith("[datetime.date("):
        m = _GOLD_DATE.fullmatch(text)
        if m is None:
            raise MalformedGold(f"malformed DATE gold answer: {gold!r}")
        return dt.date(*(int(g) for g in m.groups()))  # ValueError on bad day/month
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError) as err:
        raise MalformedGold(f"gold answer is not a Python literal: {gold!r}") from err
    if not isinstance(value, list) or len(value) == 0:
        raise MalformedGold(f"gold answer must be a non-empty list literal: {gold!r}")
    first = value[0]
    if not isinstance(first, (str, int)):  # bool is an int: 'True' labels still work
        raise MalformedGold(f"gold answer element must be str or int: {gold!r}")
    return first


def parse_date(text: str) -> dt.date | None:
    """Parse a free-form date (US month-first); None if no full date is given.

    Parsing twice with two different defaults exposes any field the text did
    not supply, which dateutil would otherwise silently fill in.
    """
    try:
        a = dateutil.parser.parse(text, default=dt.datetime(2000, 1, 1))
        b = dateutil.parser.parse(text, default=dt.datetime(2004, 2, 2))
    except (ValueError, OverflowError):  # dateutil's ParserError is a ValueError
        return None
    return a.date() if a.date() == b.date() else None


def _parse_int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _partial_credit(diff: int) -> float:
    """0.75 ** |diff|; huge diffs would overflow float conversion, they score 0."""
    return 0.75 ** abs(diff) if abs(diff) < 10_000 else 0.0


def score_synth(response: str, gold: str, answer_type: str, question: str = "") -> float:
    """Score one oolong-synth response; answer_type like 'ANSWER_TYPE.NUMERIC'. `question` supplies
    the label set (LABEL answers naming two labels score 0)."""
    kind = answer_type.removeprefix("ANSWER_TYPE.")
    if kind not in ANSWER_TYPES:
        raise MalformedGold(f"unknown Oolong answer_type: {answer_type!r}")
    gold_value = parse_synth_gold(gold)
    pred = parse_synth_prediction(response)

    if kind == "DATE":
        if not isinstance(gold_value, dt.date):
            raise MalformedGold(f"DATE gold answer is not a date: {gold!r}")
        return float(parse_date(pred) == gold_value)
    if kind == "NUMERIC":
        if isinstance(gold_value, str) and _parse_int(gold_value) is None:
            raise MalformedGold(f"NUMERIC gold answer is not an integer: {gold!r}")
        pred_int = _parse_int(pred)
        return 0.0 if pred_int is None else _partial_credit(int(gold_value) - pred_int)
    if isinstance(gold_value, dt.date):
        raise MalformedGold(f"date gold answer for answer_type {answer_type!r}: {gold!r}")

    gold_text = str(gold_value)
    if kind == "LABEL" and len(stated_labels(response, question_labels(question))) > 1:
        return 0.0
    if pred == gold_text:
        return 1.0
    if kind == "COMPARISON":
        phrase = comparison_phrase(pred)
        return float(phrase is not None and phrase in gold_text)
    return 0.0


def parse_real_answer(text: str) -> int | str | list[str]:
    """Official D&D parse: int, else comma-separated list, else string."""
    try:
        return int(text)
    except ValueError:
        pass
    if "," in text:
        return [item.strip() for item in text.split(",") if item.strip()]
    return text.strip()


def score_real(response: str, gold: str) -> float:
    """Score one oolong-real (D&D) response against its plain-string gold."""
    if not isinstance(gold, str):
        raise MalformedGold(f"D&D gold answer must be a string, got {type(gold).__name__}")
    gold_value = parse_real_answer(gold)
    if gold_value in ("", []):
        raise MalformedGold(f"malformed D&D gold answer: {gold!r}")
    boxed = extract_boxed(response)
    text = response.strip() if boxed is None else boxed.strip()
    m = re.fullmatch(r"\\text\{(.*)\}", text, flags=re.DOTALL)
    pred = parse_real_answer(m.group(1) if m else text)

    if isinstance(gold_value, int) and isinstance(pred, int):
        return _partial_credit(gold_value - pred)
    if isinstance(gold_value, str) and isinstance(pred, str):
        return float(gold_value.lower() == pred.lower())
    if isinstance(gold_value, list) and isinstance(pred, list):
        gold_set, pred_set = {item.lower() for item in gold_value}, {item.lower() for item in pred}
        return len(gold_set & pred_set) / max(len(gold_set), len(pred_set))
    return 0.0
