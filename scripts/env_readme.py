"""Regenerate (or check) generated README tables: each environment's arguments, and the
harness knobs in the top-level README.

    uv run python scripts/env_readme.py            # rewrite every environments/*/README.md
    uv run python scripts/env_readme.py --check    # exit 1 if any README is out of date
"""

import argparse
import sys
from pathlib import Path

import verifiers.v1 as vf

from rlm_env.run.docs import KNOBS_END, KNOBS_START, arguments_table, harness_knobs, replace_section

ROOT = Path(__file__).resolve().parents[1]


def env_ids() -> list[str]:
    return sorted(
        p.name.replace("_", "-") for p in (ROOT / "environments").iterdir() if (p / "pyproject.toml").exists()
    )


def expected_readme(env_id: str) -> tuple[Path, str, str]:
    path = ROOT / "environments" / env_id.replace("-", "_") / "README.md"
    current = path.read_text()
    return path, current, replace_section(current, arguments_table(vf.taskset_config_type(env_id)))


def expected_root_readme() -> tuple[Path, str, str]:
    path = ROOT / "README.md"
    current = path.read_text()
    return path, current, replace_section(current, harness_knobs(), KNOBS_START, KNOBS_END)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report READMEs that are out of date")
    parser.add_argument("env_ids", nargs="*", help="environment ids (default: all)")
    args = parser.parse_args()
    stale = []
    try:
        targets = [expected_readme(env_id) for env_id in args.env_ids or env_ids()]
        if not args.env_ids:
            targets.append(expected_root_readme())
    except (FileNotFoundError, ValueError, ModuleNotFoundError) as error:
        print(
            f"env_readme: error: {error} (an environment needs a README.md with the arguments markers, "
            "as scripts/new_env.py writes it)",
            file=sys.stderr,
        )
        return 2
    for path, current, expected in targets:
        if current != expected:
            stale.append(path)
            if not args.check:
                path.write_text(expected)
                print(f"updated {path.relative_to(ROOT)}")
    if args.check and stale:
        print("out of date (run scripts/env_readme.py):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
