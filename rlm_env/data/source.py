"""The data source of a dataset-backed taskset: where its rows come from and which ones it takes.

`DataSourceConfig` is the base of such a taskset's config (oolong, math-python, deepdive): the
source, revision, local-file, count, shuffle and seed fields are written here once, with their
docs. `select_rows` is the one row selection: the order `datasets.Dataset.shuffle(seed=...)`
gives (`reference_order`, as the reference environments pick their tasks), then the first N.
"""

from collections.abc import Sequence
from typing import Literal, TypeVar

import verifiers.v1 as vf
from pydantic import ConfigDict, Field

from rlm_env.data.loading import PresetDefaults, reference_order

Row = TypeVar("Row")


def select_rows(rows: Sequence[Row], *, shuffle: bool, seed: int, num_examples: int | None) -> list[Row]:
    """`rows` in `datasets.Dataset.shuffle(seed=seed)` order when `shuffle`, then the first
    `num_examples` of them (all when None)."""
    if shuffle:
        rows = [rows[i] for i in reference_order(len(rows), seed)]
    return list(rows[:num_examples] if num_examples else rows)


class DataSourceConfig(PresetDefaults, vf.TasksetConfig):
    """Base of the config of a taskset whose tasks come from a dataset (or a local generator)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    source: Literal["hub", "offline"] = "hub"
    """`hub`: the benchmark's dataset on the Hugging Face Hub (or a local copy via `data_files`);
    `offline`: tasks built locally from bundled data, with no download (the environment's README
    says how)."""
    revision: str | None = None
    """Hub revision (commit hash or branch) to load; None = the environment's default: its pinned
    commit where it pins one, the default branch otherwise."""
    data_files: list[str] | None = None
    """Local parquet/JSON files with the hub dataset's columns, used instead of the hub."""
    num_examples: int | None = Field(default=50, ge=1)
    """How many tasks; None = all that pass the filters (an offline generator needs a number)."""
    shuffle: bool = True
    """Put the rows that pass the filters in the order `datasets.Dataset.shuffle(seed)` gives them,
    then take `num_examples`."""
    seed: int = 0
    """Seed for shuffling and for the offline generator."""

    def select(self, rows: Sequence[Row]) -> list[Row]:
        """The rows this config takes: `select_rows` with its shuffle, seed and num_examples."""
        return select_rows(rows, shuffle=self.shuffle, seed=self.seed, num_examples=self.num_examples)
