"""Offline Oolong-synth-style generator: format, length, determinism, and gold
answers re-derived by an independent count of the labelled context."""

import ast
import contextlib
import datetime as dt
import io
import re
import time
from collections import Counter

import pytest

from oolong_rlm.generator import QUESTION_KINDS, generate_oolong_tasks
from oolong_rlm.prompts import tips_code
from oolong_rlm.scoring import score_synth

LABELS = ["Arts", "History", "Mathematics", "Science and nature", "Sports"]
COLUMNS = {
    "id",
    "context_len",
    "dataset",
    "context_window_text",
    "context_window_text_with_labels",
    "question",
    "task_group",
    "task",
    "answer",
    "answer_type",
    "input_subset",
    "num_labels",
    "context_window_id",
}
LINE = re.compile(
    r"^Date: ([A-Z][a-z]{2} \d{2}, \d{4}) \|\| User: (\d{5}) \|\| Instance: (.+?) \|\| Label: (.+)$",
    re.MULTILINE,
)


def tiny_corpus():
    """20 items, 4 per label; multi-sentence texts, one with a newline and a '||'."""
    items = []
    for label in LABELS:
        for i in range(4):
            text = " ".join(
                f"Note {i} about {label.lower()}, sentence {j}, padded with a few words." for j in range(10)
            )
            items.append((text, label))
    items[0] = ("First line || still\nthe same item. " + items[0][0], items[0][1])
    return items


def parse_window(row):
    """Independently recount the labelled context: the lines, labels, users, dates."""
    text = row["context_window_text_with_labels"]
    n = int(re.match(r"The following lines contain (\d+) ", text).group(1))
    lines = LINE.findall(text)
    assert len(lines) == n and f"Recall: the preceding lines contain {n} " in text
    dates = [dt.datetime.strptime(d, "%b %d, %Y").date() for d, _, _, _ in lines]
    return n, lines, Counter(lab for *_, lab in lines), Counter(u for _, u, _, _ in lines), Counter(dates)


def unique_top(counter, lowest=False):
    ranked = sorted(counter.items(), key=lambda kv: kv[1], reverse=not lowest)
    assert len(ranked) == 1 or ranked[0][1] != ranked[1][1], "generator asked about a tie"
    return ranked[0][0]


def expected_and_response(row):
    """(gold re-derived from the context, a correct model response) for one row."""
    _, _, labels, users, dates = parse_window(row)
    q = row["question"]
    listed = re.search(r"one of the labels: (.+)\.$", q)
    counts = {x: labels[x] for x in listed.group(1).split(", ")} if listed else None
    if row["task"] == "TASK_TYPE.MOST_FREQ" and row["answer_type"] == "ANSWER_TYPE.LABEL":
        gold = unique_top(counts)
        return [gold], f"The most common one.\nLabel: **{gold}**"
    if row["task"] == "TASK_TYPE.LEAST_FREQ":
        gold = unique_top(counts, lowest=True)
        return [gold], f"Label: {gold}"
    if row["answer_type"] == "ANSWER_TYPE.NUMERIC":
        gold = labels[re.search(r"as label '(.+?)'\?", q).group(1)]
        return [gold], f"Answer: {gold}"
    if row["answer_type"] == "ANSWER_TYPE.COMPARISON":
        a, b = re.search(r"is label '(.+?)' more common.*as label '(.+?)'\?", q).groups()
        diff = labels[a] - labels[b]
        gold = "more common than" if diff > 0 else "less common than" if diff < 0 else "same frequency as"
        return [gold], f"Answer: {a} is {gold} {b}"
    if row["answer_type"] == "ANSWER_TYPE.USER":
        gold = int(unique_top(users))
        return [gold], f"User: [{gold}]"
    if row["answer_type"] == "ANSWER_TYPE.DATE":
        gold = unique_top(dates)
        return [gold], f"Date: {gold:%m/%d/%Y}"
    raise AssertionError(f"unexpected row kind {row['task']} {row['answer_type']}")


@pytest.mark.parametrize("size", [2_000, 5_000, 50_000, 1_000_000])
def test_gold_answers_match_independent_count(size):
    rows = generate_oolong_tasks(tiny_corpus(), size, num_tasks=30, seed=size)
    assert len(rows) == 30
    for row in rows:
        assert set(row) == COLUMNS
        gold, response = expected_and_response(row)
        assert row["answer"] == repr(gold)
        assert score_synth(response, row["answer"], row["answer_type"]) == 1.0
        assert row["input_subset"] == "False" and row["dataset"] == "wiki_topics"


@pytest.mark.parametrize("size", [2_000, 3_333, 20_000, 131_072, 1_000_000, 5_000_000])
def test_length_within_one_percent(size):
    rows = generate_oolong_tasks(tiny_corpus(), size, num_tasks=3, seed=7)
    for row in rows:
        assert abs(len(row["context_window_text"]) - size) <= 0.01 * size
        assert row["context_len"] == size


def test_five_megabytes_is_fast_and_shared():
    start = time.perf_counter()
    rows = generate_oolong_tasks(tiny_corpus(), 5_000_000, num_tasks=5, seed=1)
    assert time.perf_counter() - start < 5.0
    assert len({r["context_window_id"] for r in rows}) == 1  # 5 questions, one window
    assert all(r["context_window_text"] is rows[0]["context_window_text"] for r in rows)


def test_unlabelled_text_is_labelled_text_minus_labels():
    row = generate_oolong_tasks(tiny_corpus(), 10_000, num_tasks=1, seed=3)[0]
    stripped = re.sub(r" \|\| Label: [^\n]*", "", row["context_window_text_with_labels"])
    assert stripped == row["context_window_text"]
    assert "\n\n" not in row["context_window_text"].split("\n\n")[2]  # lines are single lines


def test_deterministic_per_seed():
    a = generate_oolong_tasks(tiny_corpus(), 8_000, num_tasks=12, seed=5)
    assert a == generate_oolong_tasks(tiny_corpus(), 8_000, num_tasks=12, seed=5)
    assert a != generate_oolong_tasks(tiny_corpus(), 8_000, num_tasks=12, seed=6)


def test_every_question_kind_appears():
    rows = generate_oolong_tasks(tiny_corpus(), 20_000, num_tasks=60, seed=11)
    kinds = {(r["task_group"], r["task"], r["answer_type"]) for r in rows}
    assert kinds == {
        ("counting", "TASK_TYPE.MOST_FREQ", "ANSWER_TYPE.LABEL"),
        ("counting", "TASK_TYPE.LEAST_FREQ", "ANSWER_TYPE.LABEL"),
        ("counting", "TASK_TYPE.NUMERIC_ONE_CLASS", "ANSWER_TYPE.NUMERIC"),
        ("counting", "TASK_TYPE.RELATIVE_FREQ", "ANSWER_TYPE.COMPARISON"),
        ("user", "TASK_TYPE.MOST_FREQ", "ANSWER_TYPE.USER"),
        ("timeline", "TASK_TYPE.MOST_FREQ", "ANSWER_TYPE.DATE"),
    }
    assert all("Give your final answer in the form" in r["question"] for r in rows)
    assert all(r["num_labels"] == 4 for r in rows)


def test_question_kinds_and_num_labels_options():
    rows = generate_oolong_tasks(
        tiny_corpus(), 6_000, num_tasks=10, seed=2, question_kinds=["label_count"], num_labels=None
    )
    assert {r["answer_type"] for r in rows} == {"ANSWER_TYPE.NUMERIC"}
    assert all(r["num_labels"] == len(LABELS) for r in rows)
    assert set(QUESTION_KINDS) >= {"most_common_label", "label_comparison"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"context_chars": 300},
        {"question_kinds": ["nonsense"]},
        {"labels": ["Arts", "Unknown"]},
        {"num_labels": 1},
    ],
)
def test_bad_arguments_raise(kwargs):
    args = {"items": tiny_corpus(), "context_chars": 5_000, "num_tasks": 2, "seed": 0} | kwargs
    with pytest.raises(ValueError):
        generate_oolong_tasks(**args)


def test_bad_labels_raise():
    with pytest.raises(ValueError):
        generate_oolong_tasks([("some text", "a:b"), ("more text", "c")], 5_000, 1, 0)


def test_the_tips_skeleton_runs_on_a_generated_context_and_counts_right():
    # The code the small-model tips hand out (protocol.tips_as_code) must work as written, with a
    # sub-LLM that labels every text right: one per line, in order.
    [row] = generate_oolong_tasks(tiny_corpus(), context_chars=6000, num_tasks=1, seed=3)
    _, lines, labels, users, dates = parse_window(row)
    label_of = {text: label for _, _, text, label in lines}

    def llm_batch(prompts):
        texts = [ast.literal_eval(prompt.split("nothing else: ", 1)[1]) for prompt in prompts]
        return ["\n".join(label_of[text] for text in chunk) for chunk in texts]

    tips = tips_code("ANSWER_TYPE.LABEL", "which of the labels is the most common?")
    code = re.search(r"```python\n(.*?)```", tips, re.DOTALL).group(1)
    assert "#" not in code and "\\" not in code  # the model sends it back inside one JSON string
    namespace = {"extra_data": row["context_window_text"], "llm_batch": llm_batch}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(code, namespace)
    assert namespace["counts"] == labels and sum(labels.values()) == len(lines)
    namespace["llm_batch"] = lambda prompts: [llm_batch([p])[0] + "\nExtra: " + ", ".join(LABELS) for p in prompts]
    with contextlib.redirect_stdout(io.StringIO()):
        exec(code, namespace)
    assert namespace["counts"] == labels  # rows past a chunk's length are not counted


@pytest.mark.parametrize("kind", ["most_common_user", "most_common_date"])
def test_the_field_skeleton_and_its_answer_line_score_full_marks(kind):
    # A user or date question gets a skeleton that counts the field itself (no llm_batch); the code
    # and the answer statements the tip names, run as written, must earn the question's full reward.
    [row] = generate_oolong_tasks(tiny_corpus(), context_chars=6000, num_tasks=1, seed=3, question_kinds=[kind])
    tips = tips_code(row["answer_type"], row["question"])
    code = re.search(r"```python\n(.*?)```", tips, re.DOTALL).group(1)
    assert "llm_batch(" not in code and "#" not in code and "\\" not in code
    after = tips.split("```")[-1]
    statements = [s for s in re.findall(r"`([^`]+)`", after) if "=" in s or s.startswith("from ")]
    namespace = {"extra_data": row["context_window_text"], "answer": {"content": "", "ready": False}}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(code, namespace)
        for statement in sorted(statements, key=lambda s: not s.startswith("from ")):
            exec(statement, namespace)
    assert namespace["answer"]["ready"] is True
    assert score_synth(namespace["answer"]["content"], row["answer"], row["answer_type"], row["question"]) == 1.0


def test_a_user_or_date_question_about_labels_gets_the_labelling_skeleton():
    # Only "which user/date is represented most often?" is answered by the field alone; a hub
    # question such as the user with the most records of one label needs the labels.
    question = "Which user has the most instances with the label 'spam'? Give your final answer as 'User: [X]'."
    for answer_type in ("ANSWER_TYPE.USER", "ANSWER_TYPE.DATE", "ANSWER_TYPE.MONTH_YEAR"):
        tips = tips_code(answer_type, question)
        assert "llm_batch(prompts)" in tips and "Label: " not in tips
    assert "llm_batch(" not in tips_code("ANSWER_TYPE.USER", "In the above data, which user is represented most often?")
