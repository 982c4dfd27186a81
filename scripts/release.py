"""Build and check every distribution, then print the commands that publish them (it uploads nothing).

    uv run python scripts/release.py [--out dist]

The five packages are rlm-env (this repository's root) and the four environments. For each it
checks, before building, that the version (the `version` in its pyproject.toml, the one place
it is written) is named in its README's changelog, and that every environment's `rlm-env`
requirement admits the rlm-env being released. Then it builds a wheel and an sdist of each
with `uv build`, runs `twine check --strict` over them, and reads each wheel's metadata back
(summary, license, requires-python, classifiers, project URLs).

Publishing order: rlm-env goes to PyPI first, because the Environments Hub installs an
environment's dependencies from an index; then each environment goes to the Hub.
"""

import argparse
import email.parser
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
REQUIRED_METADATA = (
    "Name",
    "Version",
    "Summary",
    "License-Expression",
    "Requires-Python",
    "Classifier",
    "Project-URL",
    "Description-Content-Type",
)


class ReleaseError(Exception):
    """Something to fix before a release; the message says what."""


@dataclass
class Package:
    directory: Path
    name: str
    version: str
    requires: list[str]

    @classmethod
    def read(cls, directory: Path) -> "Package":
        project = tomllib.loads((directory / "pyproject.toml").read_text())["project"]
        return cls(directory, project["name"], project["version"], project.get("dependencies", []))

    @property
    def dist_stem(self) -> str:
        return f"{self.name.replace('-', '_')}-{self.version}"


def packages() -> list[Package]:
    environments = sorted(p for p in (ROOT / "environments").iterdir() if (p / "pyproject.toml").exists())
    return [Package.read(ROOT)] + [Package.read(p) for p in environments]


def check_sources(core: Package, environments: list[Package]) -> None:
    for env in environments:
        readme = (env.directory / "README.md").read_text()
        if f"- {env.version}:" not in readme:
            raise ReleaseError(
                f"{env.directory.relative_to(ROOT)}/README.md has no changelog line for "
                f"{env.version}: add '- {env.version}: <what changed>' under 'Version and changelog'"
            )
        [pin] = [Requirement(r) for r in env.requires if Requirement(r).name == core.name] or [None]
        if pin is None or not pin.specifier or core.version not in pin.specifier:
            raise ReleaseError(
                f"{env.name} requires {pin or 'no rlm-env'}, which does not admit rlm-env "
                f"{core.version}: pin a compatible range such as "
                f"'rlm-env>={core.version},<0.{int(core.version.split('.')[1]) + 1}'"
            )


def build(package: Package, out: Path) -> list[Path]:
    subprocess.run(["uv", "build", "--package", package.name, "--out-dir", str(out), "--quiet"], cwd=ROOT, check=True)
    built = sorted(out.glob(f"{package.dist_stem}*"))
    if len(built) != 2:
        raise ReleaseError(f"expected a wheel and an sdist of {package.name} {package.version}, got {built}")
    return built


def check_wheel_metadata(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = email.parser.Parser().parsestr(archive.read(name).decode("utf-8"))
    missing = [field for field in REQUIRED_METADATA if not metadata.get_all(field)]
    if missing:
        raise ReleaseError(f"{wheel.name} lacks {', '.join(missing)}: set them in its pyproject.toml")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="where the distributions go (emptied first)")
    args = parser.parse_args()
    core, *environments = packages()
    try:
        check_sources(core, environments)
        shutil.rmtree(args.out, ignore_errors=True)
        built = {package.name: build(package, args.out) for package in (core, *environments)}
        for files in built.values():
            check_wheel_metadata(next(f for f in files if f.suffix == ".whl"))
        twine = subprocess.run(
            [sys.executable, "-m", "twine", "check", "--strict", *map(str, sum(built.values(), []))],
            capture_output=True,
            text=True,
        )
        if twine.returncode != 0:
            raise ReleaseError(f"twine check failed:\n{twine.stdout}{twine.stderr}")
    except ReleaseError as error:
        print(f"release: {error}", file=sys.stderr)
        return 1
    print(f"Built and checked (twine check --strict passed) in {args.out}:")
    for files in built.values():
        for path in files:
            print(f"  {path.name}  ({path.stat().st_size:,} bytes)")
    dist = args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out
    print("\nNothing was uploaded. To publish, from the repository root:\n")
    print("# 1. rlm-env to PyPI (a token with upload rights in UV_PUBLISH_TOKEN)")
    print(f"uv publish {dist}/{core.dist_stem}-py3-none-any.whl {dist}/{core.dist_stem}.tar.gz")
    print(
        "# 2. once https://pypi.org/project/rlm-env/ lists the new version, each environment to the Hub "
        "(after `prime login`):"
    )
    for env in environments:
        print(f"prime env push -p {env.directory.relative_to(ROOT)}    # {env.name} {env.version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
