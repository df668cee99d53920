"""`python -m bot plan check FILE`: every mistake in a plan file, each naming its line and what
to write instead (the format is documented field by field in README, "The plan file")."""

from __future__ import annotations

from datetime import date, time
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from core import figures, roles
from handlers.services.plan import Plan
from handlers.services.unitsfile import KINDS

# What a target may divide: the keys of `stats --json` (handlers/services/stats.py).
STATISTICS = (
    "households",
    "eligible_citizens",
    "working_age",
    "reports",
    "households_visited",
    "households_dvc_payment",
    "proficient_households",
    *(count.statistic for count in figures.COUNTS),
)
DELIVERABLES = ("roster", "document", "summary")
TOP = ("id", "title", "issuer", "root_unit", "timezone", "campaign", "targets", "deadlines")
REMINDER_KEYS = (
    "days_before",
    "on_the_day",
    "overdue_every_days",
    "overdue_for_days",
    "at",
    "campaign_morning_brief",
    "campaign_evening_digest",
    "morning_brief_audience",
    "evening_digest_audience",
    "quiet_hours",
)


class _Checker:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def error(self, node: Node | None, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 1
        self.errors.append(f"line {line}: {message}")

    def mapping(self, node: Node | None, where: str) -> dict[str, tuple[Node, Node]]:
        if not isinstance(node, MappingNode):
            self.error(node, f"{where} must be a mapping of `key: value` lines")
            return {}
        return {str(k.value): (k, v) for k, v in node.value if isinstance(k, ScalarNode)}

    def required(
        self, found: dict[str, tuple[Node, Node]], key: str, parent: Node, where: str
    ) -> Node | None:
        if key not in found:
            self.error(parent, f"{where} needs `{key}:`")
            return None
        return found[key][1]

    def value(self, node: Node | None) -> Any:
        if node is None:
            return None
        return yaml.safe_load(yaml.serialize(node))

    def text(self, node: Node | None, where: str) -> None:
        value = self.value(node)
        if node is not None and (not isinstance(value, str) or not value.strip()):
            self.error(node, f'{where} must be text, e.g. {where}: "…"')

    def day(self, node: Node | None, where: str) -> date | None:
        value = self.value(node)
        if node is None:
            return None
        if not isinstance(value, date):
            self.error(node, f"{where} must be a date written YYYY-MM-DD (e.g. 2026-03-01)")
            return None
        return value

    def clock(self, node: Node | None, where: str) -> None:
        value = self.value(node)
        if node is None or value is None or value is False:
            return
        try:
            if isinstance(value, int):
                raise ValueError
            time.fromisoformat(str(value))
        except ValueError:
            self.error(node, f'{where} must be a time in quotes, e.g. {where}: "07:30"')

    def audience(self, node: Node | None, where: str) -> None:
        if not isinstance(node, SequenceNode) or not node.value:
            self.error(node, f"{where} must list {{role: …, level: …}} items")
            return
        for item in node.value:
            found = self.mapping(item, f"an item of {where}")
            role = self.value(found.get("role", (None, None))[1])
            level = self.value(found.get("level", (None, None))[1])
            known = isinstance(role, str) and roles.registered(role)
            if not known:
                self.error(item, f"role must be one of {', '.join(roles.REGISTERED_ROLES)}")
            if level not in KINDS:
                self.error(item, f"level must be one of {', '.join(KINDS)}")
            elif known and not roles.fits_unit(str(role), level):
                self.error(item, f"a {role} is never bound to a {level}: choose another level")


def check(text: str) -> list[str]:
    """The mistakes of a plan file, each "line N: what to fix"; empty when it is valid."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        return [f"line {line}: not valid YAML ({getattr(error, 'problem', error)})"]
    c = _Checker()
    top = c.mapping(root, "the plan")
    if root is None:
        return ["line 1: the file is empty"]
    for key, (key_node, _value) in top.items():
        if key not in (*TOP, "reminders"):
            c.error(key_node, f"unknown field `{key}` (fields: {', '.join((*TOP, 'reminders'))})")
    for key in ("id", "title", "root_unit"):
        c.text(c.required(top, key, root, "the plan"), key)
    _campaign(c, top, root)
    _targets(c, top, root)
    _deadlines(c, top)
    _reminders(c, top)
    if not c.errors:
        try:
            Plan.load_text(text)
        except (KeyError, TypeError, ValueError) as error:
            c.error(root, f"the plan cannot be read: {error}")
    return c.errors


def _campaign(c: _Checker, top: dict[str, tuple[Node, Node]], root: Node) -> None:
    node = c.required(top, "campaign", root, "the plan")
    if node is None:
        return
    found = c.mapping(node, "campaign")
    start = c.day(c.required(found, "start", node, "campaign"), "start")
    end_node = c.required(found, "end", node, "campaign")
    end = c.day(end_node, "end")
    if start and end and end < start:
        c.error(end_node, "end is before start")
    late = found.get("late_report_days")
    if late is not None:
        value = c.value(late[1])
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            c.error(late[1], "late_report_days must be a whole number of days (e.g. 7)")


def _targets(c: _Checker, top: dict[str, tuple[Node, Node]], root: Node) -> None:
    node = c.required(top, "targets", root, "the plan")
    if node is None:
        return
    if not isinstance(node, SequenceNode) or not node.value:
        c.error(node, "targets must be a list of `- key: …` items")
        return
    keys: set[str] = set()
    for item in node.value:
        found = c.mapping(item, "a target")
        if not found:
            continue
        for field in ("key", "label"):
            c.text(c.required(found, field, item, "a target"), field)
        key = c.value(found.get("key", (None, None))[1])
        if key in keys:
            c.error(item, f"target key {key!r} is used twice")
        keys.add(str(key))
        goal_node = c.required(found, "goal", item, "a target")
        goal = c.value(goal_node)
        if goal_node is not None and not _fraction(goal):
            c.error(goal_node, "goal is a fraction between 0 and 1 (80% is 0.80)")
        if "stretch_goal" in found:
            stretch = c.value(found["stretch_goal"][1])
            if not _fraction(stretch) or (_fraction(goal) and stretch < goal):
                c.error(found["stretch_goal"][1], "stretch_goal is a fraction at least the goal")
        for field in ("numerator", "denominator"):
            part = c.required(found, field, item, "a target")
            if part is not None and c.value(part) not in STATISTICS:
                c.error(part, f"{field} must be one of {', '.join(STATISTICS)}")
        for field in found:
            if field not in ("key", "label", "goal", "stretch_goal", "numerator", "denominator"):
                c.error(found[field][0], f"unknown target field `{field}`")


def _fraction(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 1


def _deadlines(c: _Checker, top: dict[str, tuple[Node, Node]]) -> None:
    if "deadlines" not in top:
        return
    node = top["deadlines"][1]
    if not isinstance(node, SequenceNode):
        c.error(node, "deadlines must be a list of `- key: …` items")
        return
    keys: set[str] = set()
    for item in node.value:
        found = c.mapping(item, "a deadline")
        if not found:
            continue
        for field in ("key", "title"):
            c.text(c.required(found, field, item, "a deadline"), field)
        key = c.value(found.get("key", (None, None))[1])
        if key in keys:
            c.error(item, f"deadline key {key!r} is used twice")
        keys.add(str(key))
        c.day(c.required(found, "date", item, "a deadline"), "date")
        kind = c.required(found, "deliverable", item, "a deadline")
        if kind is not None and c.value(kind) not in DELIVERABLES:
            c.error(kind, f"deliverable must be one of {', '.join(DELIVERABLES)}")
        c.audience(c.required(found, "audience", item, "a deadline"), "audience")


def _reminders(c: _Checker, top: dict[str, tuple[Node, Node]]) -> None:
    if "reminders" not in top:
        return
    found = c.mapping(top["reminders"][1], "reminders")
    for key, (key_node, value_node) in found.items():
        if key not in REMINDER_KEYS:
            c.error(key_node, f"unknown reminders field `{key}`")
        elif key == "days_before":
            value = c.value(value_node)
            if not isinstance(value, list) or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in value
            ):
                c.error(value_node, "days_before is a list of whole days, e.g. [5, 2, 1]")
        elif key in ("at", "campaign_morning_brief", "campaign_evening_digest"):
            c.clock(value_node, key)
        elif key == "quiet_hours":
            hours = c.mapping(value_node, "quiet_hours")
            for part in ("start", "end"):
                c.clock(c.required(hours, part, value_node, "quiet_hours"), part)
        elif key.endswith("_audience"):
            c.audience(value_node, key)
