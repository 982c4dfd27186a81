import collections
import csv
import io
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

ENV_DIR = Path(__file__).resolve().parents[1] / "environments" / "verbatim_copy_rlm"
try:
    from verbatim_copy_rlm import generator as g
except ImportError:  # the environment package is not installed: import it from the tree
    sys.path.insert(0, str(ENV_DIR))
    from verbatim_copy_rlm import generator as g

LENGTHS = [50, 51, 52, 53, 57, 64, 99, 137, 200, 251, 400, 599, 1000]


def check_valid(content_type: str, text: str) -> None:
    if content_type == "json":
        json.loads(text)
    elif content_type == "csv":
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == ["id", "name", "city", "qty", "price", "note"]
        assert len(rows) >= 2 and {len(r) for r in rows} == {6}
    assert text.isascii()


@pytest.mark.parametrize("content_type", g.CONTENT_TYPES)
def test_exact_length_and_validity(content_type):
    for n in LENGTHS:
        for seed in range(40):
            text = g.generate_text(content_type, n, random.Random(seed))
            assert len(text) == n, (content_type, n, seed)
            check_valid(content_type, text)


@pytest.mark.parametrize("content_type", g.CONTENT_TYPES)
def test_every_length_near_minimum(content_type):
    for n in range(g.MIN_LENGTH, 300):
        text = g.generate_text(content_type, n, random.Random(n))
        assert len(text) == n
        check_valid(content_type, text)


def test_content_looks_like_its_type():
    rng = random.Random(0)
    words = g.gen_words(rng, 400)
    assert all(c.isalpha() or c in " .," for c in words)
    doc = json.loads(g.gen_json(rng, 600))
    assert doc["records"] and {"id", "name", "score", "active", "tags", "history"} <= set(doc["records"][0])
    assert len(list(csv.reader(io.StringIO(g.gen_csv(rng, 600))))) > 3
    assert len(g.gen_codes(rng, 600).splitlines()) > 10


@pytest.mark.parametrize("content_type", g.CONTENT_TYPES + ("all",))
@pytest.mark.parametrize("mean", [5, 20, 80])
def test_fragmentation(content_type, mean):
    for seed in range(5):
        slices = g.fragment_slices(content_type, 400, mean, random.Random(seed))
        sizes = [b - a for _, a, b in slices]
        assert sum(sizes) == 400
        assert all(mean / 2 <= s <= 1.5 * mean for s in sizes[:-1])
        assert len({src for src, _, _ in slices}) == len(slices) > 1  # one fresh source each
        text = g.fragment(content_type, 400, mean, random.Random(seed))
        assert text == "".join(src[a:b] for src, a, b in slices)
        if content_type != "all":
            assert text != g.generate_text(content_type, 400, random.Random(seed))


def test_fragmented_samples():
    plain = g.generate_samples("json", 10, 250, 1000, None, seed=3)
    frag = g.generate_samples("json", 10, 250, 1000, 30, seed=3)
    for p, f in zip(plain, frag):
        assert f.fragmented and not p.fragmented
        assert f.length == len(f.text) == p.length  # same drawn length, different text
        assert f.text != p.text


def test_mixed_fragments_draw_from_several_types():
    slices = g.fragment_slices("mixed", 1000, 20, random.Random(0))
    assert len(slices) > 20
    # sources are 200+ chars: a json source starts with "{", a csv source with its header
    starts = collections.Counter(src[:3] for src, _, _ in slices)
    assert starts["id,"] > 0 and any(k.startswith("{") for k in starts)


@pytest.mark.parametrize("mean", [None, 25])
@pytest.mark.parametrize("content_type", g.CONTENT_TYPES + ("all",))
def test_samples_determinism_and_lengths(content_type, mean):
    a = g.generate_samples(content_type, 12, 200, 600, mean, seed=7)
    assert a == g.generate_samples(content_type, 12, 200, 600, mean, seed=7)
    b = g.generate_samples(content_type, 12, 200, 600, mean, seed=8)
    assert [s.text for s in a] != [s.text for s in b]
    assert len({s.id for s in a}) == 12
    for s in a:
        assert 200 <= s.length <= 600 and len(s.text) == s.length
        assert s.fragmented == (mean is not None)
        if mean is None:
            check_valid(s.content_type, s.text)
    assert len({s.length for s in a}) > 1


def test_determinism_across_processes():
    code = (
        "from verbatim_copy_rlm.generator import generate_samples as G;"
        "print(repr([s.text for s in G('all', 10, 50, 300, 15, 1) + G('all', 10, 50, 300, None, 1)]))"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONPATH": str(ENV_DIR), "PYTHONHASHSEED": str(h)},
        ).stdout
        for h in (1, 2)
    }
    assert len(outs) == 1 and len(outs.pop()) > 1000


def test_all_mix_is_fixed():
    samples = g.generate_samples("all", 23, 100, 200, None, seed=0)
    counts = collections.Counter(s.content_type for s in samples)
    assert set(counts) == set(g.CONTENT_TYPES)
    assert max(counts.values()) - min(counts.values()) <= 1
    for seed in (1, 2):  # the order varies with the seed, the mix does not
        other = collections.Counter(s.content_type for s in g.generate_samples("all", 23, 100, 200, None, seed))
        assert other == counts


@pytest.mark.parametrize("content_type", g.CONTENT_TYPES)
def test_below_minimum_raises(content_type):
    with pytest.raises(ValueError, match="minimum of 50"):
        g.generate_text(content_type, 49, random.Random(0))
    with pytest.raises(ValueError, match="minimum of 50"):
        g.generate_samples(content_type, 3, 10, 100, None, seed=0)
    with pytest.raises(ValueError, match="minimum of 50"):
        g.fragment(content_type, 20, 5, random.Random(0))


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="unknown content type"):
        g.generate_samples("prose", 3, 100, 200, None, 0)
    with pytest.raises(ValueError, match="max_length"):
        g.generate_samples("words", 3, 300, 200, None, 0)
    with pytest.raises(ValueError, match="mean_fragment_length"):
        g.fragment("words", 100, 1, random.Random(0))


def test_sample_is_frozen():
    s = g.generate_samples("codes", 1, 100, 100, None, 0)[0]
    with pytest.raises(AttributeError):
        s.text = "x"
