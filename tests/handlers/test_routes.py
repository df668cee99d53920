"""Button data is documented in one place: the table under "Button data" in CONTRIBUTING.md.

A handler that registers an action (`dispatcher.action(name, step)`) or builds a button for one
(`ctx.action("name:…")`, `Choice("a:name:…")`, `page_choices(ctx, "name", …)`) must have its
row there; a row whose action no longer exists fails too.
"""

from __future__ import annotations

import re
from pathlib import Path

from bot.app import App

ROOT = Path(__file__).resolve().parents[2]
CONTRIBUTING = ROOT / "CONTRIBUTING.md"
_ROW = re.compile(r"^\| `a:([a-z_]+)[:`]", re.MULTILINE)
_BUILT = [
    re.compile(r"\.action\(\s*f?\"([a-z_]+)[:\"]"),
    re.compile(r"Choice\(\s*f?\"a:([a-z_]+)[:\"]"),
    re.compile(r"page_choices\(\s*ctx,\s*\"([a-z_]+)\""),
]


def documented_actions() -> list[str]:
    text = CONTRIBUTING.read_text(encoding="utf-8")
    section = text.split("\n## Button data\n", 1)[1].split("\n## ", 1)[0]
    return _ROW.findall(section)


def built_actions() -> dict[str, set[str]]:
    """Action names that code puts on buttons, by file."""
    found: dict[str, set[str]] = {}
    for folder in ("handlers", "bot", "core"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            names = {name for pattern in _BUILT for name in pattern.findall(source)}
            if names:
                found[str(path.relative_to(ROOT))] = names
    return found


def test_the_table_documents_each_action_once() -> None:
    documented = documented_actions()
    assert len(documented) == len(set(documented)), documented
    assert "menu" in documented


async def test_every_registered_action_is_documented_and_every_row_is_registered(
    app: App,
) -> None:
    assert sorted(app.dispatcher.actions) == sorted(documented_actions())


def test_every_button_built_for_an_action_names_a_documented_one() -> None:
    documented = set(documented_actions())
    built = built_actions()
    assert "handlers/services/reminders.py" in built  # a notice's "Nộp ngay" is seen too
    unknown = {path: names - documented for path, names in built.items() if names - documented}
    assert unknown == {}
