"""Answer helpers shared by the environments: the final answer of a rollout, unwrapping and normalising."""

import re
import string
import unicodedata


def unwrap_boxed(text: str) -> str:
    r"""`text` without its `\boxed{...}` wrapper: everything between the first `\boxed{` and the last
    `}` after it; `text` itself when it holds no box.

    Unlike `extract_boxed` this does not match braces, so a wrapped copy of a text with unbalanced
    braces (JSON cut mid-record) comes back whole.

    >>> unwrap_boxed("no box here\n")
    'no box here\n'
    >>> unwrap_boxed("\\boxed{[{\"id\": 1},\n  {\"na}")
    '[{"id": 1},\n  {"na'
    """
    start = text.find("\\boxed{")
    end = text.rfind("}")
    if start < 0 or end < start + len("\\boxed{"):
        return text
    return text[start + len("\\boxed{") : end]


def normalize_answer(text: str) -> str:
    """Lower-case, strip accents, punctuation, articles and extra spaces (SQuAD-style)."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = "".join(" " if c in string.punctuation else c for c in text)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def final_answer(trace) -> str:
    """The rollout's final answer, unstripped: the harness's `root_reply` when set (verifiers'
    `last_reply` strips whitespace, which would fail an exact copy ending in a line break)."""
    if trace.root_reply is not None:
        return trace.root_reply
    return trace.last_reply or ""
