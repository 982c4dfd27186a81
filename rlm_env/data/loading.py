"""The one way environments load datasets: pinned revisions, local files, clear errors.

Hub datasets are loaded with a pinned revision through `datasets.load_dataset`, which keeps
its own cache (HF_HOME) and honours HF_DATASETS_OFFLINE=1. A local copy with the same column
layout (parquet, JSON or JSON lines) loads through the same function via `data_files`.

Task selection as the reference environments make it (`reference_order`): the rows in the order
`datasets.Dataset.shuffle(seed=...)` puts them, then the first N. Presets (`preset_defaults`):
a named set of taskset settings that fills in whatever the user did not set.
"""

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import datasets
from pydantic import BaseModel, model_validator

logger = logging.getLogger(__name__)


class DatasetUnavailable(RuntimeError):
    """The dataset could not be loaded (hub unreachable, not cached, bad local file)."""


def load_rows(
    path: str,
    *,
    split: str,
    name: str | None = None,
    revision: str | None = None,
    data_files: str | list[str] | None = None,
    offline_hint: str = "",
) -> datasets.Dataset:
    """Load `split` of hub dataset `path` (config `name`, pinned `revision`), or `data_files`."""
    if data_files:
        files = [data_files] if isinstance(data_files, str) else list(data_files)
        missing = [f for f in files if not Path(f).exists()]
        if missing:
            raise DatasetUnavailable(f"local data file(s) not found: {', '.join(missing)}")
        builder = _builder_for(files[0])
        try:
            return datasets.load_dataset(builder, data_files=files, split="train")
        except (ValueError, datasets.exceptions.DatasetGenerationError) as error:
            raise DatasetUnavailable(f"could not read {files[0]} as {builder}: {error}") from error
    try:
        return datasets.load_dataset(path, name, split=split, revision=revision)
    except (ConnectionError, OSError, datasets.exceptions.DatasetNotFoundError) as error:
        hint = f" {offline_hint}" if offline_hint else ""
        if revision:
            hint = f' If the revision is wrong, set `revision` to another commit hash or "main".{hint}'
        raise DatasetUnavailable(
            f"could not load {path}{f' ({name})' if name else ''} split {split!r} at revision {revision}: "
            f"{type(error).__name__}: {str(error)[:300]}. Is the Hugging Face Hub reachable, or the dataset "
            f"in the local cache?{hint}"
        ) from error


def _builder_for(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix == ".parquet":
        return "parquet"
    if suffix in (".json", ".jsonl"):
        return "json"
    if suffix == ".csv":
        return "csv"
    raise DatasetUnavailable(f"unsupported data file type {suffix!r} ({path}): use parquet, json, jsonl or csv")


def reference_order(count: int, seed: int) -> list[int]:
    """Row indices 0..count-1 in the order `datasets.Dataset.shuffle(seed=seed)` gives them.

    The reference environments pick their tasks with `dataset.shuffle(seed=42)` and the first N
    rows; the permutation depends only on the row count and the seed, so it is taken from a
    one-column table instead of shuffling (and copying) the real one.
    """
    return list(datasets.Dataset.from_dict({"row": list(range(count))}).shuffle(seed=seed)["row"])


def preset_defaults(values: Any, defaults: Mapping[str, Any]) -> Any:
    """`values` (raw config input) with `defaults` filled in wherever no value was given.

    Nested mappings merge key by key, so `{"task": {"judge": {"base_url": ...}}}` keeps the
    preset's judge model. Explicit values always win. A nested pydantic model counts as the
    fields it was given explicitly. Input that is not a mapping is returned unchanged.
    """
    if isinstance(values, BaseModel):
        values = values.model_dump(exclude_unset=True)
    if not isinstance(values, Mapping):
        return values
    merged = dict(values)
    for key, default in defaults.items():
        if key not in merged:
            merged[key] = default
        elif isinstance(default, Mapping):
            merged[key] = preset_defaults(merged[key], default)
    return merged


class PresetDefaults(BaseModel):
    """Base for taskset configs with named presets: `preset = NAME` fills in `PRESETS[NAME]`
    wherever the user gave no value (see `preset_defaults`). Subclasses set `PRESETS` and a
    `preset` field documenting what each preset means for them."""

    PRESETS: ClassVar[dict[str, Mapping[str, Any]]] = {}

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, values: Any) -> Any:
        if isinstance(values, Mapping) and values.get("preset") in cls.PRESETS:
            return preset_defaults(values, cls.PRESETS[values["preset"]])
        return values
