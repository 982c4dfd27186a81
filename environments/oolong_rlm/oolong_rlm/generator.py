"""Offline generator of Oolong-synth-style aggregation tasks at any length.

Real oolong-synth rows are ~12 GB on the HF Hub; this builds rows of the same
shape from any labelled corpus (e.g. Wikipedia leads with their topic, see
``rlm_env.data.wiki_corpus``), so ``scoring.score_synth`` grades them unchanged.

A context window is: a preamble naming N and the label set, N lines
``Date: Mon DD, YYYY || User: NNNNN || Instance: <one or two sentences>``
(the ``_with_labels`` variant appends `` || Label: <label>``), and a closing
"Recall: the preceding lines contain N ..." block.  Labels are drawn from
skewed random proportions, users and dates from small Zipf-weighted pools,
so "most common" questions usually have a clear answer; questions whose
answer would be a tie (or a near-tie, under 2% of N apart, the Oolong rule)
are not asked.  Several questions share one window (``context_window_id``).

``len(context_window_text)`` hits the requested size within ~15 characters:
lines are added while they fit, and the last line's text is cut to fill the
gap (so the corpus needs texts of a few hundred characters; with one-line
toy texts the gap can reach ~100 characters).  5 MB take about 0.5 s.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import re
from collections import Counter
from collections.abc import Sequence

QUESTION_KINDS = (
    "most_common_label",
    "least_common_label",
    "label_count",
    "label_comparison",
    "most_common_user",
    "most_common_date",
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_MAX_SNIPPET = 300  # characters of article text per line
_MIN_LAST_TEXT = 40  # the fill-up last line still carries a readable excerpt
_LABEL_FORM = "Give your final answer in the form 'Label: answer' where answer is one of the labels: {}."


def _flat(text: str) -> str:
    """One line of text: no newlines, and no '||' that would break the line format."""
    return " ".join(text.replace("||", "|").split())


def _cut(text: str, limit: int) -> str:
    """At most `limit` chars; back off to a word boundary if that loses <= 15 chars."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    if not text[limit].isspace():
        head = cut.rsplit(" ", 1)[0]
        cut = head if len(head) >= limit - 15 else cut
    return cut.rstrip()


def _snippet(flat: str) -> str:
    """The first sentence, plus the second when the first is short."""
    sentences = _SENTENCE_END.split(flat, maxsplit=2)
    text = sentences[0]
    if len(text) < 80 and len(sentences) > 1:
        text += " " + sentences[1]
    return _cut(text, _MAX_SNIPPET)


def _frame(n: int, labels: Sequence[str]) -> tuple[str, str]:
    """(preamble, closing) for a window of n lines; same wording as oolong-synth."""
    what = (
        f"text excerpts, one per line. Each excerpt can be classified into one of "
        f"{len(labels)} categories: " + ", ".join(f"'{x}'" for x in labels) + "."
    )
    stats = (
        f"You will be asked to answer questions about the aggregate label statistics across "
        f"all {n} examples in this dataset. Do not try to guess, estimate, or approximate "
        f"the result. Calculate the exact answer given these datapoints."
    )
    return (
        f"The following lines contain {n} {what}\n\n{stats}\n\n",
        f"Recall: the preceding lines contain {n} {what}\n\n{stats}\n\n",
    )


def _fmt_date(d: dt.date) -> str:
    return f"{_MONTHS[d.month - 1]} {d.day:02d}, {d.year}"  # locale-independent


def _build_window(rng, flats, by_label, labels, target):
    """Return (text, text_with_labels, records) with records = [(date, user, label)]."""
    est_n = max(2, target // 150)
    users = rng.sample(range(10000, 100000), min(90000, max(2, est_n // 10)))
    days = rng.sample(range(3 * 365), min(3 * 365, max(2, est_n // 5)))
    dates = [dt.date(2022, 1, 1) + dt.timedelta(days=d) for d in days]

    # cumulative weights: rng.choices is then O(log k) per draw, not O(k)
    def zipf(k):
        return list(itertools.accumulate(1 / (r + 1) for r in range(k)))

    user_w, date_w = zipf(len(users)), zipf(len(dates))
    label_w = list(itertools.accumulate(rng.gammavariate(1.0, 1.0) + 0.05 for _ in labels))

    def overhead(n):
        return sum(map(len, _frame(n, labels)))

    prefix_len = len(f"Date: {_fmt_date(dates[0])} || User: {users[0]} || Instance: ")
    snippets: dict[int, str] = {}
    lines, records, used = [], [], 0  # used = sum(len(line) + 1)
    while True:
        label = rng.choices(labels, cum_weights=label_w)[0]
        idx = rng.choice(by_label[label])
        date = rng.choices(dates, cum_weights=date_w)[0]
        user = rng.choices(users, cum_weights=user_w)[0]
        if idx not in snippets:
            snippets[idx] = _snippet(flats[idx])
        line_len = prefix_len + len(snippets[idx]) + 1
        # keep room for a final line with at least _MIN_LAST_TEXT characters of text
        if used + line_len + prefix_len + _MIN_LAST_TEXT + 1 + overhead(len(lines) + 2) > target:
            break
        lines.append(f"Date: {_fmt_date(date)} || User: {user} || Instance: {snippets[idx]}")
        records.append((date, user, label))
        used += line_len
    need = target - used - overhead(len(lines) + 1) - prefix_len - 1
    if need < _MIN_LAST_TEXT:
        raise ValueError(f"context_chars={target} is too small for a window with these labels")
    # the last line fills the gap, so it needs a long enough article of its label
    tries = [idx] + [rng.choice(by_label[label]) for _ in range(19)]
    idx = next((i for i in tries if len(flats[i]) >= need), max(tries, key=lambda i: len(flats[i])))
    lines.append(f"Date: {_fmt_date(date)} || User: {user} || Instance: {_cut(flats[idx], need)}")
    records.append((date, user, label))

    pre, close = _frame(len(lines), labels)
    labelled = [f"{line} || Label: {rec[2]}" for line, rec in zip(lines, records)]
    return (pre + "\n".join(lines) + "\n" + close, pre + "\n".join(labelled) + "\n" + close, records)


def _unique_top(counts: dict, n: int, lowest: bool = False):
    """The single most (or least) frequent key, if it leads by > 2% of n, else None."""
    ranked = sorted(counts.items(), key=lambda kv: kv[1], reverse=not lowest)
    if len(ranked) == 1 or abs(ranked[0][1] - ranked[1][1]) > 0.02 * n:
        return ranked[0][0]
    return None


def _candidates(records, labels) -> dict[str, list[tuple]]:
    """Every askable question per kind: (question, gold value, task_group, task, answer_type)."""
    n = len(records)
    counts = {x: 0 for x in labels} | Counter(r[2] for r in records)
    label_list = ", ".join(labels)
    out = {kind: [] for kind in QUESTION_KINDS}
    for kind, lowest in (("most_common_label", False), ("least_common_label", True)):
        gold = _unique_top(counts, n, lowest)
        if gold is not None:
            word = "least" if lowest else "most"
            q = f"In the above data, which of the labels is the {word} common? " + _LABEL_FORM.format(label_list)
            out[kind].append((q, gold, "counting", "TASK_TYPE." + ("LEAST_FREQ" if lowest else "MOST_FREQ"), "LABEL"))
    for x in labels:
        q = (
            f"In the above data, how many data points should be classified as label '{x}'? "
            "Give your final answer in the form 'Answer: number'."
        )
        out["label_count"].append((q, counts[x], "counting", "TASK_TYPE.NUMERIC_ONE_CLASS", "NUMERIC"))
    for a, b in itertools.combinations(labels, 2):
        a_vs_b = counts[a] - counts[b]
        if a_vs_b != 0 and abs(a_vs_b) <= 0.02 * n:
            continue  # near-tie: Oolong asks only exact ties or clear differences
        gold = "more common than" if a_vs_b > 0 else "less common than" if a_vs_b < 0 else "same frequency as"
        q = (
            f"In the above data, is label '{a}' more common, less common, or the same frequency as "
            f"label '{b}'? Give your final answer in the form 'Answer: {a} is [X] {b}', where [X] is "
            "'more common than', 'less common than', or 'same frequency as'."
        )
        out["label_comparison"].append((q, gold, "counting", "TASK_TYPE.RELATIVE_FREQ", "COMPARISON"))
    if (user := _unique_top(Counter(r[1] for r in records), n)) is not None:
        q = (
            "In the above data, which user is represented most often? Give your final answer in "
            "the form 'User: [X]', where [X] is the user ID."
        )
        out["most_common_user"].append((q, user, "user", "TASK_TYPE.MOST_FREQ", "USER"))
    if (date := _unique_top(Counter(r[0] for r in records), n)) is not None:
        q = (
            "In the above data, which date is represented most often? Give your final answer in "
            "the form 'Date: [X]', where [X] is the date in the format MM/DD/YYYY."
        )
        out["most_common_date"].append((q, date, "timeline", "TASK_TYPE.MOST_FREQ", "DATE"))
    return out


def generate_oolong_tasks(
    items: Sequence[tuple[str, str]],
    context_chars: int,
    num_tasks: int,
    seed: int,
    labels: Sequence[str] | None = None,
    num_labels: int | None = 4,
    question_kinds: Sequence[str] = QUESTION_KINDS,
    questions_per_window: int = 5,
    dataset: str = "wiki_topics",
) -> list[dict]:
    """`num_tasks` oolong-synth-style rows (HF column names) from (text, label) items.

    Each window uses `num_labels` labels sampled from `labels` (default: every
    label in `items`; None = all).  `context_len` holds the requested size in
    characters (HF holds a token bucket).  Deterministic for a given seed.
    """
    if unknown := set(question_kinds) - set(QUESTION_KINDS):
        raise ValueError(f"unknown question kinds: {sorted(unknown)}")
    by_label: dict[str, list[int]] = {}
    flats = []
    for i, (text, label) in enumerate(items):
        flats.append(_flat(text))
        # ':' would break the official answer parse (text after the last ':')
        if not flats[-1] or not isinstance(label, str) or not label or any(c in label for c in ":\n|"):
            raise ValueError(f"item {i}: empty text, or label {label!r} empty or with ':', '|', newline")
        by_label.setdefault(label, []).append(i)
    labels = sorted(by_label) if labels is None else list(dict.fromkeys(labels))
    if missing := [x for x in labels if x not in by_label]:
        raise ValueError(f"labels without any item: {missing}")
    k = len(labels) if num_labels is None else num_labels
    if not 2 <= k <= len(labels):
        raise ValueError(f"num_labels={k} needs 2..{len(labels)} labels")

    rng = random.Random(seed)
    rows: list[dict] = []
    for window_id in itertools.count():
        if len(rows) >= num_tasks:
            return rows
        if window_id >= 100 + 10 * num_tasks:  # e.g. only tie-prone kinds were asked for
            raise ValueError(f"could not find {num_tasks} tie-free questions of kinds {question_kinds}")
        chosen = sorted(rng.sample(labels, k), key=labels.index)
        text, text_labelled, records = _build_window(rng, flats, by_label, chosen, context_chars)
        pools = {kind: c for kind, c in _candidates(records, chosen).items() if kind in question_kinds}
        kinds = [kind for kind in question_kinds if pools[kind]]
        rng.shuffle(kinds)
        picked = 0
        for kind in itertools.cycle(kinds):  # round-robin, so kinds stay mixed
            if picked == questions_per_window or len(rows) == num_tasks or not any(pools.values()):
                break
            if not pools[kind]:
                continue
            q, gold, group, task, answer_type = pools[kind].pop(rng.randrange(len(pools[kind])))
            rows.append(
                {
                    "id": len(rows),
                    "context_len": context_chars,
                    "dataset": dataset,
                    "context_window_text": text,
                    "context_window_text_with_labels": text_labelled,
                    "question": q,
                    "task_group": group,
                    "task": task,
                    "answer": repr([gold]),
                    "answer_type": "ANSWER_TYPE." + answer_type,
                    "input_subset": "False",
                    "num_labels": k,
                    "context_window_id": window_id,
                }
            )
            picked += 1
    raise AssertionError("unreachable")
