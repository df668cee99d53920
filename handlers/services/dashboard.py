"""What the officials' dashboard shows, scoped exactly like /thongke and /xuat.

Every page resolves its unit with `places.in_area(..., roles.SEE_STATS)`, the check behind
/thongke and /xuat; the figures come from `digest.build` (the /thongke digest), the API from
`stats.for_unit` (the `stats --json` contract) and the file from `exports.export_xlsx` with
`exports.may_see_names` (the /xuat workbook). A unit out of scope raises NotAllowed, an unknown
one UnknownUnit; the web answers both with the same 403 page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from core import roles
from core.errors import NotAllowed, StaleChoice
from core.privacy import mask_numbers
from db.models import Invite, Person, Unit
from db.repos import dashboard as repo
from db.repos import invites as invite_repo
from handlers.services import digest, exports, invites, places, stats
from handlers.services.digest import Digest
from handlers.services.registry import Services

TREND_DAYS = 14
QUIET_DAYS = (1, 3, 7, 14)
QUIET_DEFAULT = 3
# Members without a report are named for a village or a commune (as in the digest); above
# that they are counted.
NAMED_SCOPES = ("village", "commune")
QUIET_NAMES_LIMIT = 100
REQUESTS_LIMIT = 50


def _share(child: dict[str, Any]) -> float:
    value = child.get("share_visited")
    return -1.0 if value is None else float(value)


def _target(key: str) -> Any:
    def value(child: dict[str, Any]) -> float:
        found = child["targets"].get(key, {}).get("value")
        return -1.0 if found is None else float(found)

    return value


# Sortable columns of the child table: the key in the link, and how a row sorts.
SORTS: dict[str, Any] = {
    "name": lambda c: str(c["name"]).casefold(),
    "visited": _share,
    "today": lambda c: int(c["today"].get("households_visited", 0)),
    "active": lambda c: (c["reported"] + c["villages_active"], c["members"] + c["villages"]),
}


def sorts(services: Services) -> dict[str, Any]:
    """The child table's sort keys: the fixed ones and one per target of the plan."""
    return {**SORTS, **{t.key: _target(t.key) for t in services.plan.targets}}


@dataclass
class Area:
    digest: Digest
    crumbs: list[Unit]
    children: list[dict[str, Any]]
    sort: str
    descending: bool
    trend: list[tuple[date, dict[str, int]]]
    quiet_days: int
    quiet_total: int
    quiet_named: bool
    quiet: list[dict[str, str]] = field(default_factory=list)
    requests_total: int = 0
    requests: list[repo.OpenRequest] = field(default_factory=list)
    may_export: bool = False
    may_invite: bool = False


async def unit_in_scope(conn: AsyncConnection, person: Person, code: str | None) -> Unit:
    """The person's own unit, or `code` inside their scope: the check of /thongke and /xuat."""
    return await places.in_area(conn, person, code, roles.SEE_STATS, denied="stats_area")


async def _crumbs(conn: AsyncConnection, person: Person, unit: Unit) -> list[Unit]:
    """The units from the top of the person's scope down to `unit`, for the page's path."""
    own = await places.get(conn, person.unit_code)
    found = []
    for code in unit.lineage:
        step = await places.get(conn, code)
        if step is not None and (own is None or own.contains(step) or step.code == unit.code):
            found.append(step)
    return found


async def area(
    conn: AsyncConnection,
    services: Services,
    person: Person,
    code: str | None,
    today: date,
    *,
    sort: str = "name",
    descending: bool = False,
    quiet_days: int = QUIET_DEFAULT,
) -> Area:
    unit = await unit_in_scope(conn, person, code)
    found = await digest.build(conn, services.plan, unit, today, is_today=True)
    keys = sorts(services)
    sort = sort if sort in keys else "name"
    children = sorted(found.children, key=keys[sort], reverse=descending)
    first = today - timedelta(days=TREND_DAYS - 1)
    days = await repo.daily_range(conn, unit.code, first, today)
    trend = [
        (day, days.get(day, {})) for day in (first + timedelta(days=n) for n in range(TREND_DAYS))
    ]
    quiet_days = quiet_days if quiet_days in QUIET_DAYS else QUIET_DEFAULT
    named = unit.kind in NAMED_SCOPES
    total, quiet = await repo.quiet_members(
        conn, unit.path, today - timedelta(days=quiet_days - 1), QUIET_NAMES_LIMIT if named else 0
    )
    requests_total, requests = await repo.open_requests(conn, unit.path, REQUESTS_LIMIT)
    return Area(
        digest=found,
        crumbs=await _crumbs(conn, person, unit),
        children=children,
        sort=sort,
        descending=descending,
        trend=trend,
        quiet_days=quiet_days,
        quiet_total=total,
        quiet_named=named,
        quiet=[
            {
                "name": mask_numbers(m.display_name or "").strip() or f"#{m.person_id}",
                "village": m.village_name,
            }
            for m in quiet
        ],
        requests_total=requests_total,
        requests=requests,
        may_export=roles.can(person.role, roles.EXPORT),
        may_invite=bool(roles.invitable_roles(person.role)),
    )


async def stats_json(conn: AsyncConnection, services: Services, person: Person, code: str) -> str:
    """Exactly what `python -m bot stats --unit CODE --json` prints, for a unit in scope."""
    unit = await unit_in_scope(conn, person, code)
    return stats.as_json(await stats.for_unit(conn, services.plan, unit.code))


async def export(
    conn: AsyncConnection, services: Services, person: Person, code: str | None, today: date
) -> tuple[str, bytes]:
    """The /xuat workbook of a unit in scope: (file name, content)."""
    if not roles.can(person.role, roles.EXPORT):
        raise NotAllowed(action="export")
    unit = await unit_in_scope(conn, person, code)
    names = exports.may_see_names(person, unit)
    content = await exports.export_xlsx(
        conn, services.texts, services.plan, unit, names=names, day=today
    )
    return exports.file_name(unit, today), content


# --- invites ------------------------------------------------------------------------------------
async def invite_options(conn: AsyncConnection, person: Person) -> list[tuple[str, list[Unit]]]:
    """What the person may offer, as /moi does: each role with the units it can be bound to."""
    if not roles.can(person.role, roles.INVITE):
        raise NotAllowed(action="invite")
    found = []
    for offered in roles.invitable_roles(person.role):
        candidates = await invites.units_for(conn, person, offered)
        if candidates:
            found.append((offered, candidates))
    return found


async def create_invite(
    conn: AsyncConnection, person: Person, role: str, unit_code: str, uses: int, now: datetime
) -> Invite:
    """An invite with /moi's rules: a role /moi offers, a unit of the area, a number it offers."""
    if not roles.can(person.role, roles.INVITE) or not roles.may_invite_in_chat(person.role, role):
        raise NotAllowed(action="invite")
    if unit_code not in {u.code for u in await invites.units_for(conn, person, role)}:
        raise NotAllowed(action="invite_area")
    if uses not in invites.OFFERED_USES:
        raise StaleChoice()
    return await invites.create(
        conn,
        inviter=person,
        role=role,
        unit_code=unit_code,
        uses=uses,
        expires_in=invites.OFFERED_EXPIRY,
        now=now,
    )


async def own_invite(conn: AsyncConnection, person: Person, code: str) -> tuple[Invite, Unit]:
    """An invite this person made (NotAllowed for anyone else's, or an unknown code)."""
    invite = await invite_repo.get(conn, invites.normalise_code(code))
    if invite is None or invite.created_by != person.id:
        raise NotAllowed(action="invite")
    unit = await places.get(conn, invite.unit_code)
    if unit is None:
        raise NotAllowed(action="invite")
    return invite, unit
