"""bench/ stands on its own: no benchmark imports anything from tests/."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"


def imported_modules(path: Path) -> list[str]:
    """Every module a file imports, at any depth (also inside functions)."""
    modules = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.append(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module":
            modules += [
                a.value
                for a in node.args
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            ]
    return modules


def test_no_benchmark_imports_from_tests() -> None:
    sources = sorted(BENCH.rglob("*.py"))
    assert BENCH / "report.py" in sources
    wrong = [
        f"{path.relative_to(ROOT)}: {module}"
        for path in sources
        for module in imported_modules(path)
        if module == "tests" or module.startswith("tests.")
    ]
    assert wrong == []


def test_the_check_sees_an_import_from_tests(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\nfrom tests.auxil.chat import Chat\n"
        "def f():\n    import tests.auxil.cli\n    importlib.import_module('tests.x')\n",
        encoding="utf-8",
    )
    assert imported_modules(sample) == ["os", "tests.auxil.chat", "tests.auxil.cli", "tests.x"]
