"""The structure docs/DESIGN.md promises, read from the source with `ast`.

- Environments import rlm-env only through its public modules (`rlm_env`, `rlm_env.scoring`,
  `rlm_env.data`), and only names those modules list in `__all__`.
- Inside rlm_env/ data flows one way: run -> harness -> core -> repl, and the environments'
  kit (scoring, data) may use the core but nothing below it uses the kit.
"""

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PUBLIC_MODULES = ("rlm_env", "rlm_env.scoring", "rlm_env.data")

# layer -> the layers its modules may import from (besides itself)
ALLOWED = {
    "repl": set(),
    "core": {"repl"},
    "harness": {"core", "repl"},
    "run": {"harness", "core", "repl"},
    "scoring": {"core"},
    "data": set(),
}


def rlm_env_imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module, imported names, line) for every import of rlm_env in a file, nested ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module
            and node.module.split(".")[0] == "rlm_env"
        ):
            found.append((node.module, [alias.name for alias in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names if alias.name.split(".")[0] == "rlm_env"]
    return found


def environment_files() -> list[Path]:
    return sorted(ROOT.glob("environments/*/*/**/*.py"))


def test_there_are_environments_to_check():
    assert len({path.parts[len(ROOT.parts) + 1] for path in environment_files()}) == 4


@pytest.mark.parametrize("path", environment_files(), ids=lambda p: str(p.relative_to(ROOT / "environments")))
def test_environments_import_only_the_public_kit(path):
    for module, names, line in rlm_env_imports(path):
        where = f"{path.relative_to(ROOT)}:{line}"
        assert module in PUBLIC_MODULES, f"{where} imports {module}: environments use only {', '.join(PUBLIC_MODULES)}"
        public = set(importlib.import_module(module).__all__)
        assert names, f"{where}: `import {module}`; import the names from it instead"
        hidden = sorted(set(names) - public)
        assert not hidden, f"{where} imports {hidden} from {module}, which are not in its __all__"


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_public_name_exists(module):
    loaded = importlib.import_module(module)
    assert loaded.__all__ and all(hasattr(loaded, name) for name in loaded.__all__)


def package_files() -> list[Path]:
    return sorted((ROOT / "rlm_env").rglob("*.py"))


@pytest.mark.parametrize("path", package_files(), ids=lambda p: str(p.relative_to(ROOT / "rlm_env")))
def test_data_flows_one_way_between_layers(path):
    parts = path.relative_to(ROOT / "rlm_env").parts
    if len(parts) == 1:  # rlm_env/__init__.py: the public surface, above every layer
        return
    layer = parts[0]
    assert layer in ALLOWED, f"rlm_env/{layer}/ is not a layer of docs/DESIGN.md"
    for module, names, line in rlm_env_imports(path):
        target = module.split(".")[1] if "." in module else None
        assert target is not None, f"{path.relative_to(ROOT)}:{line} imports the top-level rlm_env from inside a layer"
        assert target == layer or target in ALLOWED[layer], (
            f"{path.relative_to(ROOT)}:{line} ({layer}) imports {module}: {layer} may use only {sorted(ALLOWED[layer])}"
        )


def test_the_core_does_not_import_the_scoring_kit():
    # the math-verify process pool lives in rlm_env.scoring; the loop and sub-LLMs must not start it
    for path in (ROOT / "rlm_env" / "core").rglob("*.py"):
        assert not [m for m, _, _ in rlm_env_imports(path) if m.startswith(("rlm_env.scoring", "rlm_env.data"))], path
