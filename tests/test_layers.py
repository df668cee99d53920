"""The layers stay apart: handlers read the event, call services and say things, and never
reach into the repositories (SQL lives in db/, rules in handlers/services/); services never
import a handler module; db/ and core/ know nothing above them.

Two packages under handlers/ are libraries, not handlers: the message catalogue
(handlers/texts.py) and the guide library with its search (handlers/guides/). They import
nothing of handlers/ but themselves and nothing of db/, so services may use them."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = ROOT / "handlers"
SERVICES = HANDLERS / "services"
ABOVE_DB = ("handlers", "bot", "bench", "tests")
LIBRARIES = ("handlers.texts", "handlers.guides")


def imported(source: str) -> set[str]:
    """Every module `source` imports (``from a import b`` counts as ``a`` and ``a.b``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


def breaking(source: str, forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()) -> set[str]:
    """The imports of `source` inside `forbidden` and not inside `allowed`."""
    return {
        module
        for module in imported(source)
        if any(_under(module, f) for f in forbidden) and not any(_under(module, a) for a in allowed)
    }


def _offenders(
    paths: list[Path], forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()
) -> dict[str, set[str]]:
    found = {
        str(path.relative_to(ROOT)): breaking(path.read_text(encoding="utf-8"), forbidden, allowed)
        for path in paths
    }
    return {name: modules for name, modules in found.items() if modules}


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _handler_modules() -> list[Path]:
    return [
        p
        for p in sorted(HANDLERS.rglob("*.py"))
        if "services" not in p.relative_to(HANDLERS).parts
        and not any(_under(_module_name(p), lib) for lib in LIBRARIES)
    ]


def _library_modules() -> list[Path]:
    return [
        p
        for p in sorted(HANDLERS.rglob("*.py"))
        if any(_under(_module_name(p), lib) for lib in LIBRARIES)
    ]


def test_no_handler_imports_repositories() -> None:
    assert len(_handler_modules()) > 10
    assert _offenders(_handler_modules(), ("db.repos",)) == {}


def test_no_service_imports_a_handler_module() -> None:
    services = sorted(SERVICES.rglob("*.py"))
    assert services
    assert _offenders(services, ("handlers",), allowed=("handlers.services", *LIBRARIES)) == {}


def test_the_libraries_under_handlers_are_leaves() -> None:
    """What services may use from handlers/ imports no handler, service or repository."""
    libraries = _library_modules()
    assert {_module_name(p) for p in libraries} >= set(LIBRARIES)
    assert _offenders(libraries, ("handlers", "db", "bot"), allowed=LIBRARIES) == {}


def test_storage_and_vocabulary_import_nothing_above_them() -> None:
    assert _offenders(sorted((ROOT / "db").rglob("*.py")), ABOVE_DB) == {}
    assert _offenders(sorted((ROOT / "core").rglob("*.py")), (*ABOVE_DB, "db")) == {}


def test_the_check_sees_the_usual_spellings() -> None:
    source = (
        "from db.repos import people\nimport db.repos.units\nfrom db import repos\n"
        "from db.models import Unit\nfrom handlers import menu\n"
        "from handlers.services import reach\nfrom handlers.context import Context\n"
    )
    assert breaking(source, ("db.repos",)) == {
        "db.repos",
        "db.repos.people",
        "db.repos.units",
    }
    assert breaking(source, ("handlers",), allowed=("handlers.services",)) == {
        "handlers",
        "handlers.menu",
        "handlers.context",
        "handlers.context.Context",
    }
