"""The layout of tests/ (DESIGN.md: "tests/: pytest; shared helpers in a support module, never imported from
another test module"): no module under tests/ imports a test module (`tests.<...>.test_*`), nor the conftest of
another folder. Shared helpers live in tests/support/, one folder's own in tests/<folder>/support.py.

The import lines are read with `ast` (top-level and inside functions, absolute and relative).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

def _package(path: Path, root: Path) -> list[str]:
    """The dotted package a file under root belongs to: tests/flows/test_x.py -> ["tests", "flows"]."""
    return list(path.relative_to(root).parent.parts)


def _imported(path: Path, root: Path) -> set[str]:
    """Every dotted name the file's import statements name: modules, and `from m import n` as `m.n` (n may be a
    module: `from tests.flows import test_x`)."""
    package = _package(path, root)
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: `from . import x` in tests/flows is tests.flows.x
                parts = package[: len(package) - node.level + 1] + (node.module.split(".") if node.module else [])
                base = ".".join(parts)
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _breach(name: str, importer: list[str]) -> str | None:
    """The test module or foreign conftest a dotted name reaches, if any."""
    parts = name.split(".")
    if parts[0] != "tests":
        return None
    for i, part in enumerate(parts[1:], start=1):
        if part.startswith("test_"):
            return ".".join(parts[: i + 1])
        if part == "conftest":
            return None if parts[:i] == importer else ".".join(parts[: i + 1])
    return None


def cross_imports(root: Path) -> set[tuple[str, str]]:
    """(file, module) for each module under root/tests that imports a test module or another folder's conftest."""
    found = set()
    for path in sorted((root / "tests").rglob("*.py")):
        importer = _package(path, root)
        for name in _imported(path, root):
            module = _breach(name, importer)
            if module and module != ".".join([*importer, path.stem]):
                found.add((path.relative_to(root).as_posix(), module))
    return found


def test_no_module_imports_a_test_module_or_another_folders_conftest():
    breaches = cross_imports(ROOT)
    assert not breaches, "move the helpers these import to tests/support/ (or tests/<folder>/support.py): " + (
        "; ".join(f"{path} imports {module}" for path, module in sorted(breaches)))


CASES = [
    ("tests/flows/test_b.py", "from tests.flows.test_a import club\n", "tests.flows.test_a"),
    ("tests/flows/test_b.py", "from tests.flows import test_a as webhooks\n", "tests.flows.test_a"),
    ("tests/flows/test_b.py", "import tests.flows.test_a\n", "tests.flows.test_a"),
    ("tests/flows/test_b.py", "from .test_a import club\n", "tests.flows.test_a"),
    ("tests/tasks/test_c.py", "def test_x():\n    from tests.flows.test_a import club\n", "tests.flows.test_a"),
    ("tests/tasks/helpers.py", "from ..flows.test_a import club\n", "tests.flows.test_a"),
    ("tests/engine/conftest.py", "from tests.store.conftest import store_url\n", "tests.store.conftest"),
    ("tests/flows/test_b.py", "from tests.conftest import PREFECT_STARTUP_TIMEOUT\n", "tests.conftest"),
    ("tests/flows/test_b.py", "from tests.store import conftest\n", "tests.store.conftest"),
    ("tests/flows/test_b.py", "from tests.flows.conftest import Link\n", None),
    ("tests/flows/test_b.py", "from . import conftest\n", None),
    ("tests/flows/test_b.py", "from tests.support.clubs import webhook_club\n", None),
    ("tests/flows/test_b.py", "from tests.support import clubs\n", None),
    ("tests/cli/test_d.py", "from tests.cli.support import assert_short\n", None),
    ("tests/flows/test_b.py", "from flows.test_helpers import x\nimport test_utils\n", None),
]


@pytest.mark.parametrize(("path", "source", "breach"), CASES)
def test_the_scan_finds_each_way_of_importing_a_test_module_or_a_foreign_conftest(tmp_path, path, source, breach):
    for folder in ("tests", "tests/flows", "tests/tasks", "tests/store", "tests/engine", "tests/cli"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "tests/flows/test_a.py").write_text("def club():\n    return 1\n")
    (tmp_path / path).write_text(source)
    assert cross_imports(tmp_path) == ({(path, breach)} if breach else set())
