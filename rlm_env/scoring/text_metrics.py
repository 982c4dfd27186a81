"""String-similarity metrics used as rewards (e.g. for the verbatim-copy task).

All three take ``(prediction, target)`` and return a float in [0, 1]; they compare
the strings exactly as given (no stripping, case folding or Unicode normalisation).
``None`` as a prediction counts as the empty string.
"""

from __future__ import annotations

from rapidfuzz.distance import Levenshtein


def exact_match(prediction: str | None, target: str) -> float:
    """1.0 if ``prediction == target`` (exact string equality), else 0.0."""
    return 1.0 if (prediction or "") == target else 0.0


def char_accuracy(prediction: str | None, target: str) -> float:
    """Position-wise character accuracy, penalising missing and extra characters.

    ``sum(p[i] == t[i] for i < min(len(p), len(t))) / max(len(p), len(t))``, and 1.0
    when both strings are empty.  It is 1.0 only when the strings are equal; since it
    compares aligned positions, one dropped or inserted character early on shifts
    everything after it (``levenshtein_similarity`` is the alignment-tolerant metric).
    Example: ``char_accuracy("abXd", "abcd") == 0.75``, ``char_accuracy("abcde", "abcd") == 0.8``.
    """
    prediction = prediction or ""
    longest = max(len(prediction), len(target))
    if longest == 0:
        return 1.0
    return sum(p == t for p, t in zip(prediction, target)) / longest


def levenshtein_similarity(prediction: str | None, target: str) -> float:
    """``1 - levenshtein_distance / max(len(p), len(t))``; 1.0 for two empty strings.

    The distance counts unit-cost insertions, deletions and substitutions (via
    ``rapidfuzz``).  Example: ``levenshtein_similarity("kitten", "sitting") == 1 - 3/7``.
    """
    prediction = prediction or ""
    longest = max(len(prediction), len(target))
    if longest == 0:
        return 1.0
    return 1.0 - Levenshtein.distance(prediction, target) / longest
