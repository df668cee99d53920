"""The permissions table (core/roles.py) is the one place that decides who may do what."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from core import roles
from handlers.routes import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
OUTSIDE_CORE = ("bot", "handlers", "db")

# The action constants of core.roles, by value ("report" -> "REPORT").
ACTION_NAMES = {
    value: name
    for name, value in vars(roles).items()
    if name.isupper() and isinstance(value, str) and value in roles.ACTIONS
}


def _sources() -> dict[Path, str]:
    return {
        path: path.read_text(encoding="utf-8")
        for top in OUTSIDE_CORE
        for path in sorted((ROOT / top).rglob("*.py"))
    }


def test_every_action_in_the_table_is_checked_somewhere() -> None:
    assert set(ACTION_NAMES) == set(roles.ACTIONS)
    text = "\n".join(_sources().values())
    unused = [name for name in ACTION_NAMES.values() if f"roles.{name}" not in text]
    assert unused == []


def test_commands_take_their_roles_from_the_table() -> None:
    for command in COMMANDS:
        if command.roles is None:
            continue
        granted = [a for a in roles.ACTIONS if set(command.roles) == set(roles.holders(a))]
        owners = [
            a
            for a in roles.ACTIONS
            for where in (roles.OWN, roles.AREA, roles.CHILDREN, roles.ANYWHERE)
            if set(command.roles) == set(roles.holders(a, where))
        ]
        assert granted or owners, command.name


# A role compared with a role, or a rank or role group read directly. SQL filters on the
# `role` column by a given value (`people.c.role == role`) are queries, not decisions.
ROLE_COMPARISON = re.compile(
    r"(?<!\.c\.)\brole\s*(==|!=)"
    r"|\brole\s+(not\s+)?in\b(?!\s+self\.roles)"
    r"|(==|!=)\s*roles\.[A-Z_]+\b|roles\.[A-Z_]+\s*(==|!=)"
    r"|\broles\.(RANK|TEAM_ROLES|OFFICER_ROLES)\b|\bOFFICER_ROLES\[|\bTEAM_ROLES\b"
    r"|(==|!=)\s*[\"'](resident|member|deputy|leader|commune_officer|district_officer|admin)[\"']"
)


def test_no_module_outside_core_compares_roles() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path, text in _sources().items()
        for number, line in enumerate(text.splitlines(), 1)
        if ROLE_COMPARISON.search(line)
    ]
    assert found == []


def test_the_comparison_check_catches_the_usual_spellings() -> None:
    for line in (
        "if person.role == roles.LEADER:",
        "if ctx.role in roles.TEAM_ROLES:",
        'if ctx.role == "resident":',
        "Command('x', f, roles.OFFICER_ROLES[1:])",
        "if roles.RANK[a.role] <= roles.RANK[b.role]:",
        "if role not in (roles.LEADER,):",
    ):
        assert ROLE_COMPARISON.search(line), line
    for line in (
        "query.where(people.c.role == role)",
        "return self.roles is None or role in self.roles",
    ):
        assert not ROLE_COMPARISON.search(line), line


def test_what_each_role_may_do() -> None:
    team = (roles.MEMBER, roles.DEPUTY, roles.LEADER)
    assert roles.holders(roles.REPORT) == team
    assert roles.holders(roles.CORRECT_OTHERS) == (roles.LEADER,)
    assert roles.holders(roles.SEE_NAMES) == (roles.LEADER,)
    assert roles.holders(roles.PUBLISH_CONTACT) == (roles.LEADER,)
    officers = (roles.LEADER, roles.COMMUNE_OFFICER, roles.DISTRICT_OFFICER, roles.ADMIN)
    for action in (
        roles.INVITE,
        roles.EXPORT,
        roles.MANAGE_PEOPLE,
        roles.FORGET,
        roles.ANNOUNCE,
        roles.WEB,
    ):
        assert roles.holders(action) == officers, action
    assert roles.holders(roles.SEE_PROGRESS) == officers[1:]
    assert roles.holders(roles.HEAR_AS_MEMBER) == (*team, *officers[1:3])
    assert roles.holders(roles.ANSWER_HELP, roles.OWN) == team
    assert roles.holders(roles.ANSWER_HELP, roles.CHILDREN) == (roles.COMMUNE_OFFICER,)
    assert roles.scope(roles.ADMIN, roles.MANAGE_PEOPLE) == roles.ANYWHERE
    assert roles.scope(roles.DISTRICT_OFFICER, roles.MANAGE_PEOPLE) == roles.AREA
    assert not roles.can(roles.RESIDENT, roles.REPORT)
    assert not roles.can(None, roles.SEE_STATS)
    with pytest.raises(KeyError):
        roles.can(roles.ADMIN, "fly")


def test_who_may_invite_whom() -> None:
    assert roles.invitable_roles(roles.MEMBER) == []
    assert roles.invitable_roles(roles.LEADER) == [roles.MEMBER, roles.DEPUTY, roles.LEADER]
    assert roles.invitable_roles(roles.COMMUNE_OFFICER) == [
        roles.MEMBER,
        roles.DEPUTY,
        roles.LEADER,
        roles.COMMUNE_OFFICER,
    ]
    # An admin is made in the shell only; the shell's admin may still invite one.
    assert roles.ADMIN not in roles.invitable_roles(roles.ADMIN)
    assert roles.may_invite(roles.ADMIN, roles.ADMIN)
    assert not roles.may_invite(roles.LEADER, roles.COMMUNE_OFFICER)
    assert not roles.may_invite(roles.ADMIN, roles.RESIDENT)


def test_every_role_has_a_row_in_both_tables() -> None:
    assert set(roles.ROWS) == set(roles.PERMISSIONS)
    for role, row in roles.ROWS.items():
        assert roles.registered(role) == bool(row.unit_kinds), role


def _role_literals(source: str) -> list[str]:
    """String constants of `source` that are a role's name (a copy of the table's roles)."""
    return [
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and node.value in roles.ROLES
    ]


def test_storage_takes_the_roles_from_core() -> None:
    """db/ spells no role by name (db/schema.py's column default excepted): queries such as
    the digest's team counts take their roles from core.roles, so a new role reaches them."""
    found = {
        str(path.relative_to(ROOT)): literals
        for path in sorted((ROOT / "db").rglob("*.py"))
        if "migrations" not in path.parts and path.name != "schema.py"
        if (literals := _role_literals(path.read_text(encoding="utf-8")))
    }
    assert found == {}
    assert _role_literals('people.c.role.in_(("member", "deputy", "leader"))') == [
        "member",
        "deputy",
        "leader",
    ]
