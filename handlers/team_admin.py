"""Officers managing their own area from chat: who is on the bot, revoking an invite,
taking a member off the team, erasing a household's personal data (each confirmed, audited).

```mermaid
stateDiagram-v2
    [*] --> revoke: /huyma (a list of usable invites)
    [*] --> [*]: /huyma CODE (revoked at once), /thanhvien [UNIT]
    [*] --> remove: /xoatv ID
    [*] --> forget: /xoaho ID
    revoke --> [*]: an invite chosen: revoked
    remove --> [*]: confirmed: removed / kept
    forget --> [*]: confirmed: erased / kept
```
The rules (area, rank) are in handlers/services/people_admin.py; erasing in
handlers/services/privacy.py.
"""

from __future__ import annotations

from core import roles
from core.errors import StaleChoice
from core.events import Choice
from handlers.context import Context
from handlers.dispatcher import Flow
from handlers.menu import menu_choices
from handlers.services import people_admin, places, privacy

FLOW = "team_admin"
MAX_LISTED = 40
MAX_INVITES = 20


def _number(text: str) -> int | None:
    word = text.strip().lstrip("#")
    return int(word) if word.isascii() and word.isdigit() and len(word) < 10 else None


def _keep_or(ctx: Context, value: str, label: str) -> list[list[Choice]]:
    return [[ctx.choice(value, label), ctx.choice("keep", ctx.label("keep"))]]


async def list_people(ctx: Context, args: str = "") -> None:
    """/thanhvien [UNIT]: the people on the bot in my area (or one unit of it)."""
    assert ctx.person is not None
    code = args.split()[0] if args.split() else None
    found = await people_admin.listing(ctx.conn, ctx.person, unit_code=code, role=None)
    unit = await places.get(ctx.conn, code or ctx.person.unit_code)
    name = unit.name if unit else ""
    if not found:
        ctx.say("team_admin.people_none", unit=name)
        return
    lines = [ctx.text("team_admin.people_title", unit=name, n=len(found))]
    for person in found[:MAX_LISTED]:
        lines.append(
            ctx.text(
                "team_admin.people_line",
                id=person.id,
                name=person.name,
                role=ctx.label(f"role.{person.role}"),
                position=ctx.label(f"position.{person.position}") if person.position else "",
                unit=person.unit_name if unit is None or person.unit_code != unit.code else "",
            )
        )
    if len(found) > MAX_LISTED:
        lines.append(ctx.text("team_admin.people_more", n=len(found) - MAX_LISTED))
    lines.append(ctx.text("team_admin.people_hint"))
    ctx.say_text("\n".join(lines))


async def revoke_invite(ctx: Context, args: str = "") -> None:
    """/huyma [CODE]: revoke an invite of my area; without a code, choose one."""
    assert ctx.person is not None
    code = args.split()[0] if args.split() else ""
    if code:
        await _revoke(ctx, code)
        return
    found = await people_admin.invites_in(
        ctx.conn, ctx.person, unit_code=None, now=ctx.now, usable_only=True
    )
    if not found:
        ctx.say("team_admin.invites_none")
        return
    names = {
        u.code: u.name
        for u in await places.subtree(ctx.conn, await people_admin.own_area(ctx.conn, ctx.person))
    }
    ctx.goto(FLOW, "revoke")
    options = [
        [
            ctx.choice(
                invite.code,
                ctx.text(
                    "team_admin.invite_line",
                    code=invite.code,
                    role=ctx.label(f"role.{invite.role}"),
                    unit=names.get(invite.unit_code, invite.unit_code),
                    left=invite.max_uses - invite.uses,
                ),
            )
        ]
        for invite in found[:MAX_INVITES]
    ]
    options.append([ctx.choice("cancel", ctx.label("cancel"))])
    ctx.say("team_admin.invites_pick", options)


async def on_revoke(ctx: Context, value: str) -> None:
    ctx.end()
    if value == "cancel":
        ctx.say("flow.cancelled", menu_choices(ctx))
        return
    await _revoke(ctx, value)


async def _revoke(ctx: Context, code: str) -> None:
    assert ctx.person is not None
    invite = await people_admin.revoke(ctx.conn, ctx.person, code, ctx.now)
    unit = await places.get(ctx.conn, invite.unit_code)
    ctx.say(
        "team_admin.revoked",
        code=invite.code,
        role=ctx.label(f"role.{invite.role}"),
        unit=unit.name if unit else invite.unit_code,
    )


async def remove_member(ctx: Context, args: str = "") -> None:
    """/xoatv ID: take a person of my area, below my rank, off the team (confirmed)."""
    assert ctx.person is not None
    number = _number(args)
    if number is None:
        ctx.say("team_admin.remove_how")
        return
    target = await people_admin.find(ctx.conn, str(number))
    await people_admin.check_area(ctx.conn, ctx.person, target.unit_code)
    people_admin.check_outranks(ctx.person, target)
    unit = await places.get(ctx.conn, target.unit_code)
    ctx.goto(FLOW, "remove", person=target.id)
    ctx.say(
        "team_admin.remove_confirm",
        _keep_or(ctx, "remove", ctx.text("team_admin.remove_button")),
        name=target.display_name or f"#{target.id}",
        role=ctx.label(f"role.{target.role}"),
        unit=unit.name if unit else "",
    )


async def on_remove(ctx: Context, value: str) -> None:
    assert ctx.person is not None
    person_id = int(ctx.data.get("person", 0))
    ctx.end()
    if value != "remove":
        ctx.say("flow.cancelled", menu_choices(ctx))
        return
    target = await people_admin.find(ctx.conn, str(person_id))
    await people_admin.remove(ctx.conn, ctx.person, target, ctx.now)
    ctx.say("team_admin.removed", name=target.display_name or f"#{target.id}")


async def forget_household(ctx: Context, args: str = "") -> None:
    """/xoaho ID: erase a household's name, address and notes (confirmed; counts stay)."""
    assert ctx.person is not None
    number = _number(args)
    if number is None:
        ctx.say("privacy.forget_how")
        return
    household = await privacy.household_in_area(ctx.conn, ctx.person, number)
    village = await places.get(ctx.conn, household.village_code)
    ctx.goto(FLOW, "forget", household=household.id)
    # Only the village's own team sees the name; others confirm by number.
    sees_name = ctx.person.unit_code == household.village_code and roles.can(
        ctx.role, roles.SEE_NAMES
    )
    ctx.say(
        "privacy.forget_confirm",
        _keep_or(ctx, "forget", ctx.text("privacy.forget_button")),
        id=household.id,
        name=household.head_name if sees_name and not privacy.is_erased(household) else "",
        village=village.name if village else household.village_code,
    )


async def on_forget(ctx: Context, value: str) -> None:
    assert ctx.person is not None
    household_id = int(ctx.data.get("household", 0))
    ctx.end()
    if value != "forget":
        ctx.say("flow.cancelled", menu_choices(ctx))
        return
    if not household_id:
        raise StaleChoice()
    await privacy.forget_household(ctx.conn, ctx.person, household_id, ctx.now)
    ctx.say("privacy.forgotten", id=household_id)


flow = Flow(FLOW, on_choice={"revoke": on_revoke, "remove": on_remove, "forget": on_forget})
