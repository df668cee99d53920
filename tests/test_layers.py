"""Handlers stay thin: they read the event, call services and say things, and never reach
into the repositories themselves (SQL lives in db/, rules in handlers/services/)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = ROOT / "handlers"

# Handler modules that still import db.repos (issue 10, item 5, not finished yet).
REMAINING = {
    "handlers/deliverables.py",
    "handlers/dispatcher.py",
    "handlers/registration.py",
    "handlers/report.py",
}


def _imports_repos(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "db.repos" or node.module.startswith("db.repos."):
                return True
            if node.module == "db" and any(a.name == "repos" for a in node.names):
                return True
        if isinstance(node, ast.Import) and any(
            a.name == "db.repos" or a.name.startswith("db.repos.") for a in node.names
        ):
            return True
    return False


def _offenders() -> set[str]:
    return {
        str(path.relative_to(ROOT))
        for path in sorted(HANDLERS.rglob("*.py"))
        if "services" not in path.relative_to(HANDLERS).parts and _imports_repos(path)
    }


def test_the_cleaned_handlers_do_not_import_repositories() -> None:
    """No handler module outside the known list imports db.repos (the list only shrinks)."""
    offenders = _offenders()
    assert offenders - REMAINING == set()
    assert REMAINING - offenders == set(), "cleaned: remove it from REMAINING"


@pytest.mark.xfail(reason=f"still import db.repos: {sorted(REMAINING)}", strict=True)
def test_no_handler_imports_repositories() -> None:
    assert _offenders() == set()
