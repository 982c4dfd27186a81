"""Where Oolong rows and their (big) contexts come from: the hub, a local copy, or the generator.

Contexts never ride in TaskData (they are recorded in every rollout): a task holds a
reference to one of the loaders below, which the harness calls at launch. Each loader caches,
so all rollouts over one context window share one copy in memory (hub rows are memory-mapped
Arrow, so even a 12 GB split costs little).
"""

import functools

import datasets

from oolong_rlm.generator import generate_oolong_tasks
from rlm_env import Ref
from rlm_env.data import UNCATEGORIZED, load_rows, load_wiki_corpus

HUB = {
    "synth": ("oolongbench/oolong-synth", None),
    "synth_with_labels": ("oolongbench/oolong-synth", None),
    "real": ("oolongbench/oolong-real", "dnd"),
}
# The commits loaded when no revision is given: each repository's head as publicly recorded on
# 2026-01-24 (last change 2025-11-05). The hub was out of reach where this was written, so the
# pin was not re-checked here; `revision = "main"` follows the branch instead.
PINNED_REVISIONS = {
    "oolongbench/oolong-synth": "49898a421f4b14f2c9cae084d2d270f930ff4c90",
    "oolongbench/oolong-real": "6bc9ef04866fcf005c9749b70649be69dd37fffb",
}
CONTEXT_COLUMN = {
    "synth": "context_window_text",
    "synth_with_labels": "context_window_text_with_labels",
    "real": "context_window_text",
}
OFFLINE_HINT = 'Or run offline: --env-args \'{"source": "offline"}\' generates Oolong-style tasks locally.'


@functools.lru_cache(maxsize=4)
def hub_rows(subset: str, split: str, revision: str | None, data_files: tuple[str, ...] | None) -> datasets.Dataset:
    path, name = HUB[subset]
    return load_rows(
        path,
        name=name,
        split=split,
        revision=revision or PINNED_REVISIONS[path],
        data_files=list(data_files) if data_files else None,
        offline_hint=OFFLINE_HINT,
    )


def hub_context(subset: str, split: str, revision: str | None, data_files: list[str] | None, row: int) -> str:
    """The context of row `row` (the harness calls this at launch)."""
    rows = hub_rows(subset, split, revision, tuple(data_files) if data_files else None)
    return rows[row][CONTEXT_COLUMN[subset]]


@functools.lru_cache(maxsize=2)
def offline_rows(context_chars: int, num_tasks: int, seed: int, questions_per_window: int) -> tuple[dict, ...]:
    """Oolong-synth-style rows generated from the offline Wikipedia corpus (topics as labels)."""
    items = [(article.text, article.topic) for article in load_wiki_corpus() if article.topic != UNCATEGORIZED]
    return tuple(
        generate_oolong_tasks(items, context_chars, num_tasks, seed, questions_per_window=questions_per_window)
    )


def offline_context(
    context_chars: int, num_tasks: int, seed: int, questions_per_window: int, row: int, labelled: bool
) -> str:
    record = offline_rows(context_chars, num_tasks, seed, questions_per_window)[row]
    return record["context_window_text_with_labels" if labelled else "context_window_text"]


def offline_task_rows(c) -> list[dict]:
    """Generated rows for taskset config `c` (an OolongConfig), each with its length and a context Ref."""
    args = dict(
        context_chars=c.offline_context_chars,
        num_tasks=c.num_examples or 50,
        seed=c.seed,
        questions_per_window=c.offline_questions_per_window,
    )
    labelled = c.subset == "synth_with_labels"
    return [
        {
            **{k: v for k, v in row.items() if not k.startswith("context_window_text")},
            "context_chars": len(row[CONTEXT_COLUMN[c.subset]]),
            "ref": Ref(fn="oolong_rlm.data:offline_context", args={**args, "row": i, "labelled": labelled}),
        }
        for i, row in enumerate(offline_rows(**args))
    ]


def hub_task_rows(c) -> list[dict]:
    """Hub (or local-file) rows for taskset config `c`, contexts left out: each has its length and a Ref."""
    table = hub_rows(c.subset, c.split, c.revision, tuple(c.data_files) if c.data_files else None)
    small = table.remove_columns([n for n in table.column_names if n.startswith("context_window_text")])
    lengths = [len(text) for text in table[CONTEXT_COLUMN[c.subset]]] if c.subset == "real" else None
    rows = []
    for i, row in enumerate(small):
        chars = lengths[i] if lengths else int(row.get("context_len", 0))
        args = {"subset": c.subset, "split": c.split, "revision": c.revision, "data_files": c.data_files, "row": i}
        rows.append({**row, "context_chars": chars, "ref": Ref(fn="oolong_rlm.data:hub_context", args=args)})
    return rows


def passes_filters(c, row: dict) -> bool:
    """Whether `row` passes the filters of taskset config `c` (source datasets, context length, answer types)."""
    answer_type = row.get("answer_type", "dnd")
    return (
        (c.datasets is None or row.get("dataset") in c.datasets)
        and (c.min_context_chars is None or row["context_chars"] >= c.min_context_chars)
        and (c.max_context_chars is None or row["context_chars"] <= c.max_context_chars)
        and (c.answer_types is None or answer_type in c.answer_types)
        and not (c.drop_numeric and answer_type == "ANSWER_TYPE.NUMERIC")
    )
