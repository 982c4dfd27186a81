"""DeepDive rows from the hub (or a local copy), split 90/10 into train and eval with a fixed seed."""

import functools
import hashlib

import datasets

from rlm_env.data import DatasetUnavailable, load_rows

DATASET, SPLIT = "zai-org/DeepDive", "qa_rl"
COLUMNS = ("question", "answer")
OFFLINE_HINT = 'Or run offline: --env-args \'{"source": "offline"}\' asks questions over a bundled Wikipedia index.'


@functools.lru_cache(maxsize=4)
def hub_split(
    split: str, eval_fraction: float, split_seed: int, revision: str | None, data_files: tuple[str, ...] | None
) -> datasets.Dataset:
    """The `split` part of qa_rl, as `Dataset.train_test_split(test_size=eval_fraction, seed=split_seed)`
    cuts it (the same call as the original DeepDive environment, so the same seed gives the same rows)."""
    rows = load_rows(
        DATASET,
        split=SPLIT,
        revision=revision,
        data_files=list(data_files) if data_files else None,
        offline_hint=OFFLINE_HINT,
    )
    missing = [column for column in COLUMNS if column not in rows.column_names]
    if missing:
        raise DatasetUnavailable(
            f"{DATASET} rows lack the column(s) {', '.join(missing)} (have: "
            f"{', '.join(rows.column_names)}); local data_files need `question` and `answer`"
        )
    parts = rows.train_test_split(test_size=eval_fraction, seed=split_seed)
    return parts["train" if split == "train" else "test"]


def question_id(question: str) -> str:
    """A durable id for rows without an `id` column (local copies): a hash of the question."""
    return "q-" + hashlib.sha256(question.rstrip().encode()).hexdigest()[:12]


def hub_rows(
    split: str, eval_fraction: float, split_seed: int, revision: str | None, data_files: list[str] | None
) -> list[dict]:
    """Rows as dicts with an id, the question and the answer (trailing whitespace removed), in the split's order."""
    table = hub_split(split, eval_fraction, split_seed, revision, tuple(data_files) if data_files else None)
    return [
        {
            "id": str(row["id"]) if row.get("id") is not None else question_id(row["question"]),
            "question": row["question"].rstrip(),
            "answer": str(row["answer"]).rstrip(),
        }
        for row in table
    ]
