import random

import pytest

from rlm_env.scoring.text_metrics import char_accuracy, exact_match, levenshtein_similarity

METRICS = [exact_match, char_accuracy, levenshtein_similarity]
TARGETS = ["a", "hello world", '{"id": 1, "ok": true}\n', "ÄÖü ünïcode ✓", "x" * 500]


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("target", TARGETS + [""])
def test_gold_scores_one(metric, target):
    assert metric(target, target) == 1.0


def _edits(target: str, rng: random.Random):
    i = rng.randrange(1, len(target))  # not position 0, so an aligned prefix survives
    new = "#" if target[i] != "#" else "@"
    return {
        "changed": target[:i] + new + target[i + 1 :],
        "dropped": target[:i] + target[i + 1 :],
        "added": target[:i] + new + target[i:],
    }


@pytest.mark.parametrize("target", ["hello world", '{"id": 1, "ok": true}\n', "x" * 500])
@pytest.mark.parametrize("seed", range(5))
def test_one_edit_is_partial(target, seed):
    for kind, pred in _edits(target, random.Random(seed)).items():
        assert exact_match(pred, target) == 0.0, kind
        assert 0.0 < char_accuracy(pred, target) < 1.0, kind
        assert 0.0 < levenshtein_similarity(pred, target) < 1.0, kind
        assert levenshtein_similarity(pred, target) == pytest.approx(1 - 1 / max(len(pred), len(target)))


def test_exact_match_has_no_normalisation():
    for pred in ["Hello world", "hello world ", " hello world", "hello world\n", "hello  world"]:
        assert exact_match(pred, "hello world") == 0.0
    assert exact_match("e\u0301", "\u00e9") == 0.0  # same glyph, different code points
    assert exact_match(None, "") == 1.0 and exact_match(None, "a") == 0.0


def test_hand_computed_values():
    assert char_accuracy("abXd", "abcd") == 0.75
    assert char_accuracy("abcde", "abcd") == 0.8  # extra char: 4 matches / 5
    assert char_accuracy("abc", "abcd") == 0.75  # missing char: 3 matches / 4
    assert char_accuracy("bcd", "abcd") == 0.0  # dropped first char shifts everything
    assert char_accuracy("", "abc") == 0.0 and char_accuracy("abc", "") == 0.0
    assert char_accuracy("", "") == 1.0
    assert levenshtein_similarity("kitten", "sitting") == pytest.approx(1 - 3 / 7)
    assert levenshtein_similarity("bcd", "abcd") == pytest.approx(0.75)
    assert levenshtein_similarity("flaw", "lawn") == pytest.approx(0.5)
    assert levenshtein_similarity("", "") == 1.0
    assert levenshtein_similarity("", "abc") == 0.0 and levenshtein_similarity("xyz", "abc") == 0.0
    assert levenshtein_similarity(None, "ab") == 0.0


@pytest.mark.parametrize("metric", METRICS)
def test_range(metric):
    rng = random.Random(0)
    for _ in range(200):
        a = "".join(rng.choice("ab ") for _ in range(rng.randrange(8)))
        b = "".join(rng.choice("ab ") for _ in range(rng.randrange(8)))
        assert 0.0 <= metric(a, b) <= 1.0
        assert (metric(a, b) == 1.0) == (a == b)
