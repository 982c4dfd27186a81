"""Where Oolong rows and their (big) contexts come from: the hub, a local copy, or the generator.

Contexts never ride in TaskData (they are recorded in every rollout): a task holds a
reference to one of the loaders below, which the harness calls at launch. Each loader caches,
so all rollouts over one context window share one copy in memory (hub rows are memory-mapped
Arrow, so even a 12 GB split costs little).
"""

import functools

import datasets

from oolong_rlm.generator import generate_oolong_tasks
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
