"""Where math-python rows come from: INTELLECT-3-RL on the hub (or a local copy), or reasoning-gym.

Both return plain dicts with `id`, `question`, `answer`, `source` and `avg_reward` (None when
the source has no difficulty column).
"""

import itertools
import math
import warnings
from collections.abc import Callable

from rlm_env.data import load_rows

HUB_PATH, HUB_CONFIG = "PrimeIntellect/INTELLECT-3-RL", "math"
OFFLINE_HINT = (
    'Or run offline: --env-args \'{"source": "offline"}\' generates math problems with '
    "gold answers locally (reasoning-gym)."
)
# reasoning-gym generators whose gold is one number or fraction that math_verify checks reliably
OFFLINE_DATASETS = ("gsm_symbolic", "simple_equations", "fraction_simplification", "lcm", "gcd")


def hub_rows(
    split: str,
    revision: str | None,
    data_files: list[str] | None,
    difficulty_column: str,
    avg_reward_bounds: tuple[float | None, float | None],
    select: Callable[[list[int]], list[int]],
) -> list[dict]:
    """Rows of INTELLECT-3-RL `math` within the difficulty bounds, then those `select` (the config's
    row selection: shuffle, then the first N) picks from their indices."""
    min_avg_reward, max_avg_reward = avg_reward_bounds
    rows = load_rows(
        HUB_PATH, name=HUB_CONFIG, split=split, revision=revision, data_files=data_files, offline_hint=OFFLINE_HINT
    )
    if missing := {"question", "answer"} - set(rows.column_names):
        raise ValueError(f"the math rows lack column(s) {sorted(missing)} (columns: {rows.column_names})")
    bounded = min_avg_reward is not None or max_avg_reward is not None
    if bounded and difficulty_column not in rows.column_names:
        raise ValueError(
            f"difficulty_column {difficulty_column!r} is not in the data: set it to one of "
            f"{rows.column_names} or drop min_avg_reward/max_avg_reward"
        )
    keep = list(range(len(rows)))
    if bounded:
        low, high = min_avg_reward or 0.0, 1.0 if max_avg_reward is None else max_avg_reward
        keep = [
            i
            for i, value in enumerate(rows[difficulty_column])
            if value is not None and not math.isnan(value) and low <= value <= high
        ]
    keep = select(keep)  # Dataset.shuffle(seed)'s order, as the published math-python env used
    has_difficulty = difficulty_column in rows.column_names
    return [
        {
            "id": f"intellect3-math-{split}-{index}",
            "question": row["question"],
            "answer": row["answer"],
            "source": "intellect3-math",
            "avg_reward": row[difficulty_column] if has_difficulty else None,
        }
        for index, row in zip(keep, rows.select(keep))
    ]


def offline_rows(dataset_names: list[str], count: int, seed: int) -> list[dict]:
    """`count` problems from reasoning-gym's generators, an even round-robin mix of `dataset_names`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)  # a dependency (cellpylib) compiles with `is "..."`
        import reasoning_gym
    per_dataset = math.ceil(count / len(dataset_names))
    groups = [
        [
            {
                "id": f"{name}-{seed}-{i}",
                "question": item["question"],
                "answer": str(item["answer"]),
                "source": f"reasoning-gym/{name}",
                "avg_reward": None,
            }
            for i, item in enumerate(reasoning_gym.create_dataset(name, size=per_dataset, seed=seed + k))
        ]
        for k, name in enumerate(dataset_names)
    ]
    mixed = [row for group in itertools.zip_longest(*groups) for row in group if row is not None]
    return mixed[:count]
