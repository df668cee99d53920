"""Roles, their rank, the kind of unit each belongs to, and team positions."""

from __future__ import annotations

RESIDENT = "resident"
MEMBER = "member"
DEPUTY = "deputy"
LEADER = "leader"
COMMUNE_OFFICER = "commune_officer"
DISTRICT_OFFICER = "district_officer"
ADMIN = "admin"

RANK = {
    RESIDENT: 0,
    MEMBER: 1,
    DEPUTY: 2,
    LEADER: 3,
    COMMUNE_OFFICER: 4,
    DISTRICT_OFFICER: 5,
    ADMIN: 6,
}
ROLES = tuple(RANK)

# The unit kinds a role may be bound to.
UNIT_KINDS = {
    MEMBER: ("village",),
    DEPUTY: ("village",),
    LEADER: ("village",),
    COMMUNE_OFFICER: ("commune",),
    DISTRICT_OFFICER: ("district", "province"),
    ADMIN: ("province", "district", "commune", "village"),
}

TEAM_ROLES = (MEMBER, DEPUTY, LEADER)
OFFICER_ROLES = (LEADER, COMMUNE_OFFICER, DISTRICT_OFFICER, ADMIN)

# Positions in a village team (plan §IV.1.2), in the order they are offered.
POSITIONS = (
    "team_leader",
    "youth_deputy",
    "police",
    "teacher",
    "womens_union",
    "farmers_union",
    "telecom",
    "other",
)


def can_report(role: str) -> bool:
    """Village team members, deputies and leaders report household visits."""
    return role in TEAM_ROLES


def can_invite(role: str) -> bool:
    return role in OFFICER_ROLES


def outranks_or_equals(inviter: str, role: str) -> bool:
    return RANK[inviter] >= RANK[role]
