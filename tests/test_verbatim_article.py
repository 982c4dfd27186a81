"""verbatim-copy-rlm at `preset = "article"`: the reference's task order, text shape, prompt layout,
and a reward that strips a \\boxed{} wrapper (and nothing else)."""

import asyncio
import collections
import json
import statistics
from types import SimpleNamespace

import numpy as np
import pytest
from pydantic import ValidationError

from conftest import run_env
from fake_openai import FakeOpenAI, text
from verbatim_copy_rlm.article_generator import MIX, article_samples
from verbatim_copy_rlm.generator import generate_samples
from verbatim_copy_rlm.taskset import VerbatimCopyConfig, VerbatimCopyTaskset

# The reference generator's figures at the article's settings (`all`, 500 characters, fragments of
# ~20), measured by running the reference environment's data_generation.py (Faker 40.63) over
# seeds 42..51 with 100 samples each: the mean share of 12-character windows that occur more than
# once in their text, per type and overall (the overall mean of 100 samples varied by sd 0.003).
REFERENCE_REPEATED_12 = {"all": 0.0945, "codes": 0.087, "csv": 0.094, "json": 0.128, "mixed": 0.093, "words": 0.073}
OVERALL_TOLERANCE = 0.01  # over 500 samples: ~4 sd of a 100-sample mean
PER_TYPE_TOLERANCE = 0.03  # over ~100 samples of a type (a sample's share varies by sd ~0.045)
# Reference JSON samples never parse at these settings (three records are ~680 characters, cut at 500).
REFERENCE_JSON_PARSE_SHARE = 0.0


def repeated_share(text_: str, k: int = 12) -> float:
    windows = [text_[i : i + k] for i in range(len(text_) - k + 1)]
    counts = collections.Counter(windows)
    return sum(counts[w] > 1 for w in windows) / len(windows)


def parses(text_: str) -> bool:
    try:
        json.loads(text_)
    except ValueError:
        return False
    return True


@pytest.fixture(scope="module")
def article_texts():
    return [s for seed in range(42, 47) for s in article_samples(100, "all", 500, 20, seed)]


def test_article_lengths_and_mix_follow_the_reference_weights():
    samples = article_samples(100, "all", 500, 20, 42)
    assert {len(s.text) for s in samples} == {500}
    assert collections.Counter(s.content_type for s in samples) == {
        "words": 20,
        "json": 20,
        "csv": 20,
        "codes": 25,
        "mixed": 15,
    }
    fifty = collections.Counter(s.content_type for s in article_samples(50, "all", 500, 20, 42))
    floors = {kind: int(50 * weight) for kind, weight in MIX.items()}  # 10, 10, 10, 12, 7 and one drawn
    assert sum(fifty.values()) == 50 and all(0 <= fifty[k] - floors[k] <= 1 for k in MIX)
    unset = article_samples(60, "all", None, None, 1)
    assert {s.content_type: len(s.text) for s in unset} == {
        "words": 200,
        "json": 500,
        "csv": 500,
        "codes": 300,
        "mixed": 600,
    }


def test_article_texts_repeat_like_the_reference(article_texts):
    overall = statistics.mean(repeated_share(s.text) for s in article_texts)
    assert abs(overall - REFERENCE_REPEATED_12["all"]) <= OVERALL_TOLERANCE, overall
    by_type = collections.defaultdict(list)
    for sample in article_texts:
        by_type[sample.content_type].append(repeated_share(sample.text))
    for kind, shares in by_type.items():
        assert abs(statistics.mean(shares) - REFERENCE_REPEATED_12[kind]) <= PER_TYPE_TOLERANCE, (kind, shares)
    # our own generator takes each slice from a fresh source, so its texts barely repeat: a
    # different shape, which is why the article preset has its own generator
    ours = generate_samples("all", 200, 500, 500, 20, 42)
    assert statistics.mean(repeated_share(s.text) for s in ours) < REFERENCE_REPEATED_12["all"] / 3


@pytest.mark.parametrize("length, fragment", [(500, 20), (500, None), (None, None)])
def test_article_json_mostly_does_not_parse(length, fragment):
    json_texts = [s.text for s in article_samples(200, "json", length, fragment, 7)]
    assert sum(map(parses, json_texts)) / len(json_texts) <= REFERENCE_JSON_PARSE_SHARE + 0.05
    ours = [s.text for s in generate_samples("json", 20, 500, 500, None, 7)]
    assert all(map(parses, ours))  # our default keeps JSON valid


def test_unfragmented_article_text_is_a_prefix_of_one_raw_text():
    for sample in article_samples(20, "csv", 500, None, 3):
        assert sample.text.startswith("id,item,price,qty,date\n") and not sample.fragmented
    fragmented = article_samples(20, "codes", 500, 20, 3)
    assert all(s.fragmented and len(s.text) == 500 for s in fragmented)


def test_article_preset_order_is_the_reference_shuffle():
    tasks = VerbatimCopyTaskset(VerbatimCopyConfig(preset="article", num_examples=12)).load()
    generated = article_samples(12, "all", 500, 20, 42)
    order = np.random.default_rng(42).permutation(12)  # what Dataset.shuffle(seed=42) applies
    assert [t.data.id for t in tasks] == [generated[i].id for i in order]
    assert [t.data.text for t in tasks] == [generated[i].text for i in order]
    # pinned, so a changed generator or shuffle shows here
    assert [t.data.id for t in tasks[:3]] == ["article-all-42-0", "article-all-42-7", "article-all-42-6"]
    assert tasks[0].data.text.startswith("KTD-P2MF-AJJX\n4dacb85c\nR73W-RWHH47e1")


def test_article_preset_settings_prompt_layout_and_explicit_values_win():
    config = VerbatimCopyConfig(preset="article")
    assert (
        config.num_examples,
        config.target_length,
        config.mean_fragment_length,
        config.seed,
        config.shuffle,
        config.content_type,
    ) == (50, 500, 20, 42, True, "all")
    task = VerbatimCopyTaskset(VerbatimCopyConfig(preset="article", num_examples=3)).load()[0]
    instruction, body = task.data.prompt.split("\n\n", 1)
    assert "\n" not in instruction and body == f"<text>{task.data.text}</text>"
    assert "\\boxed{}" in task.data.system_prompt
    mine = VerbatimCopyConfig(preset="article", target_length=250, content_type="json", seed=3)
    assert (mine.target_length, mine.content_type, mine.seed, mine.mean_fragment_length) == (250, "json", 3, 20)
    ours = VerbatimCopyTaskset(VerbatimCopyConfig(num_examples=2)).load()[0]
    assert ours.data.system_prompt is None and f"<text>\n{ours.data.text}\n</text>" in ours.data.prompt
    with pytest.raises(ValidationError, match="lower it or raise target_length"):
        VerbatimCopyConfig(preset="article", target_length=100, mean_fragment_length=150)


GOLD = '[\n  {\n    "id": 1,\n    "name": "Ada"\n  },\n  {\n    "id"'  # JSON cut mid-record: braces unbalanced


def score(reply: str) -> float:
    task = VerbatimCopyTaskset(VerbatimCopyConfig(preset="article", num_examples=1)).load()[0].with_data(text=GOLD)
    return asyncio.run(task.exact_match(SimpleNamespace(root_reply=reply, last_reply=reply.strip())))


@pytest.mark.parametrize(
    "reply, reward",
    [
        (GOLD, 1.0),
        ("\\boxed{" + GOLD + "}", 1.0),
        ("Here is the copy:\n\\boxed{" + GOLD + "}\n", 1.0),
        ("\\boxed{" + GOLD + " }", 0.0),  # the wrapper goes, whitespace inside it counts
        ("\\boxed{" + GOLD[:-1] + "}", 0.0),
        ("\\boxed{" + GOLD, 0.0),  # no closing brace: no wrapper to remove
        ("\\boxed{" + GOLD + "} \\boxed{x}", 0.0),  # two boxes are not one copy
        (GOLD + "\n", 0.0),
    ],
)
def test_reward_strips_a_boxed_wrapper_and_nothing_else(reply, reward):
    assert score(reply) == reward


def test_e2e_standard_mode_at_the_article_preset_boxed_copy_scores_one():
    def root(request):
        system = request["messages"][0]
        assert system["role"] == "system" and "\\boxed{}" in system["content"]
        prompt = request["messages"][-1]["content"]
        copy = prompt.split("\n\n<text>", 1)[1].removesuffix("</text>")
        return text(f"\\boxed{{{copy}}}")

    with FakeOpenAI(root=root, is_sub=lambda r: False) as server:
        results = run_env(server, "verbatim-copy-rlm", {"preset": "article", "num_examples": 2}, {"mode": "standard"})
    server.check()
    assert [trace.reward for _, trace in results] == [1.0, 1.0]
