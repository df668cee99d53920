"""Roles and what each may do: one table, one `can()`.

Every decision "may this role do that, and where" reads `PERMISSIONS` through `can()`,
`scope()`, `holders()` or one of the small helpers below; no module outside core/ compares
roles. Adding a role is one row in `ROWS` (rank, unit kinds, default team position, whether a
chat invite may create it) and one row in `PERMISSIONS` (see CONTRIBUTING, "Add a role").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

RESIDENT = "resident"
MEMBER = "member"
DEPUTY = "deputy"
LEADER = "leader"
COMMUNE_OFFICER = "commune_officer"
DISTRICT_OFFICER = "district_officer"
ADMIN = "admin"

# --- actions ----------------------------------------------------------------------------------
REPORT = "report"  # record household visits (/baocao, /bc), correct and delete one's own
IN_TEAM = "in_team"  # belongs to a village team: a position, team statistics, team lists
CORRECT_OTHERS = "correct_others"  # correct and delete the reports of others in the unit
SEE_NAMES = "see_names"  # see head-of-household names (exports, the forget confirmation)
SEE_STATS = "see_stats"  # /thongke
SEE_PROGRESS = "see_progress"  # /tiendo: the deliverables of the area
EXPORT = "export"  # /xuat
DELIVER = "deliver"  # /nop: hand in a deliverable
INVITE = "invite"  # /moi (which roles: `invitable_roles`, `may_invite`)
MANAGE_PEOPLE = "manage_people"  # list people, revoke invites, remove members (people_admin)
FORGET = "forget"  # /xoaho: forget a household's data
ANNOUNCE = "announce"  # /thongbao
HEAR_AS_MEMBER = "hear_as_member"  # reached by announcements to an area's "members"
NUDGE = "nudge"  # remind the units of an area that have not delivered yet
ANSWER_HELP = "answer_help"  # hear, see (/yeucau) and take residents' help requests
PUBLISH_CONTACT = "publish_contact"  # /congkhai: the team's public contact
REVIEW_QUESTIONS = "review_questions"  # /cauhoi: residents' questions the guides did not answer
WEB = "web"  # /web: sign in to the officials' dashboard (what it shows: SEE_STATS, EXPORT, INVITE)

# --- scopes: where a permission holds, relative to the person's own unit ----------------------
OWN = "own"  # their own unit only
AREA = "area"  # their own unit and everything below it
CHILDREN = "children"  # the units directly below their own (a commune's villages)
ANYWHERE = "anywhere"  # every unit


@dataclass(frozen=True, slots=True)
class Row:
    rank: int  # higher ranks manage lower ones
    unit_kinds: tuple[str, ...]  # the unit kinds this role may be bound to
    position: str | None = None  # the team position the role implies when none was chosen
    chat_invite: bool = True  # a chat invite may create it (else only the shell)


ROWS: dict[str, Row] = {
    RESIDENT: Row(0, (), chat_invite=False),
    MEMBER: Row(1, ("village",)),
    DEPUTY: Row(2, ("village",), position="youth_deputy"),
    LEADER: Row(3, ("village",), position="team_leader"),
    COMMUNE_OFFICER: Row(4, ("commune",)),
    DISTRICT_OFFICER: Row(5, ("district", "province")),
    ADMIN: Row(6, ("province", "district", "commune", "village"), chat_invite=False),
}

_TEAM = {
    REPORT: OWN,
    IN_TEAM: OWN,
    SEE_STATS: AREA,
    ANSWER_HELP: OWN,
    HEAR_AS_MEMBER: AREA,
}
_OFFICER = {
    SEE_STATS: AREA,
    SEE_PROGRESS: AREA,
    EXPORT: AREA,
    DELIVER: AREA,
    NUDGE: AREA,
    INVITE: AREA,
    MANAGE_PEOPLE: AREA,
    FORGET: AREA,
    ANNOUNCE: AREA,
    HEAR_AS_MEMBER: AREA,
    REVIEW_QUESTIONS: AREA,
    WEB: AREA,
}

# role -> {action: scope}. A role without an action may not do it.
PERMISSIONS: dict[str, Mapping[str, str]] = {
    RESIDENT: {},
    MEMBER: _TEAM,
    DEPUTY: _TEAM,
    LEADER: {
        **_TEAM,
        CORRECT_OTHERS: OWN,
        SEE_NAMES: OWN,
        PUBLISH_CONTACT: OWN,
        EXPORT: AREA,
        DELIVER: AREA,
        NUDGE: AREA,
        INVITE: AREA,
        MANAGE_PEOPLE: AREA,
        FORGET: AREA,
        ANNOUNCE: AREA,
        WEB: AREA,
    },
    COMMUNE_OFFICER: {**_OFFICER, ANSWER_HELP: CHILDREN},
    DISTRICT_OFFICER: _OFFICER,
    ADMIN: {
        SEE_STATS: ANYWHERE,
        SEE_PROGRESS: AREA,
        EXPORT: ANYWHERE,
        DELIVER: AREA,
        NUDGE: AREA,
        INVITE: ANYWHERE,
        MANAGE_PEOPLE: ANYWHERE,
        FORGET: ANYWHERE,
        ANNOUNCE: AREA,
        REVIEW_QUESTIONS: ANYWHERE,
        WEB: ANYWHERE,
    },
}

ROLES = tuple(ROWS)
RANK = {role: row.rank for role, row in ROWS.items()}
UNIT_KINDS = {role: row.unit_kinds for role, row in ROWS.items() if row.unit_kinds}
ACTIONS = tuple(dict.fromkeys(action for granted in PERMISSIONS.values() for action in granted))

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


def can(role: str | None, action: str, where: str | None = None) -> bool:
    """Whether `role` may do `action` at all, or (given `where`) with exactly that scope."""
    granted = scope(role, action)
    return granted is not None and (where is None or granted == where)


def scope(role: str | None, action: str) -> str | None:
    """Where `role` may do `action` (OWN, AREA, CHILDREN, ANYWHERE), or None."""
    if action not in ACTIONS:
        raise KeyError(f"unknown action {action!r}")
    return PERMISSIONS.get(role or RESIDENT, {}).get(action)


def holders(action: str, where: str | None = None) -> tuple[str, ...]:
    """The roles that may do `action` (only those with scope `where`, when given)."""
    if action not in ACTIONS:
        raise KeyError(f"unknown action {action!r}")
    return tuple(
        role
        for role, granted in PERMISSIONS.items()
        if action in granted and (where is None or granted[action] == where)
    )


def is_role(role: str | None) -> bool:
    return role in ROWS


def is_resident(role: str | None) -> bool:
    """Someone who has not joined with an invite (a resident, or nobody known yet)."""
    return (role or RESIDENT) == RESIDENT


def registered(role: str | None) -> bool:
    """A known role other than a resident's (someone who joined with an invite)."""
    return role in ROWS and role != RESIDENT


REGISTERED_ROLES = tuple(r for r in ROLES if registered(r))
TEAM_ROLES = holders(IN_TEAM)
OFFICER_ROLES = holders(INVITE)


def outranks(actor: str, target: str) -> bool:
    """Strictly above (manage a person: remove them)."""
    return RANK[actor] > RANK[target]


def outranks_or_equals(actor: str, target: str) -> bool:
    """Above or level (invite to or revoke an invite for a role)."""
    return RANK[actor] >= RANK[target]


def may_invite(inviter: str, role: str) -> bool:
    """Whether `inviter` may create an invite for `role` (chat or shell alike)."""
    return can(inviter, INVITE) and registered(role) and outranks_or_equals(inviter, role)


def invitable_roles(inviter: str) -> list[str]:
    """The roles a chat invite from `inviter` may offer, in rank order."""
    return [r for r in ROLES if ROWS[r].chat_invite and may_invite(inviter, r)]


def may_invite_in_chat(inviter: str, role: str) -> bool:
    """Whether a chat invite from `inviter` may offer `role` (never an admin: the shell does)."""
    return role in invitable_roles(inviter)


def keeps_role(current: str, offered: str) -> bool:
    """An admin is never demoted by redeeming an invite for another role."""
    return current == ADMIN and offered != ADMIN


def default_position(role: str) -> str | None:
    """The team position a role implies (leader: team_leader; deputy: youth_deputy)."""
    row = ROWS.get(role)
    return row.position if row else None


def fits_unit(role: str, kind: str) -> bool:
    """Whether `role` may be bound to a unit of `kind`."""
    return kind in UNIT_KINDS.get(role, ())
