"""Officers manage their own area from chat, never outside it nor above their rank:
/thanhvien, /huyma, /xoatv (and the same from the shell: people, invite, account)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from bot.app import App
from db.repos import audit, invites, people
from db.schema import audit_log
from handlers.services import invites as invite_service
from tests.auxil.chat import Chat, Clock, join
from tests.auxil.cli import run_cli, run_json
from tests.handlers.test_registration import make_invite

VILLAGE, OTHER_VILLAGE, COMMUNE = "duc-chanh-thon-1", "duc-chanh-thon-2", "duc-chanh"


async def team(app: App, clock: Clock) -> dict[str, Chat]:
    leader = await join(app, "leader", VILLAGE, "lead", clock=clock)
    await leader.press("Tổ trưởng")
    member = await join(app, "member", VILLAGE, "mem", clock=clock)
    await member.press("Giáo viên")
    other = await join(app, "leader", OTHER_VILLAGE, "lead-2", clock=clock)
    await other.press("Tổ trưởng")
    officer = await join(app, "commune_officer", COMMUNE, "officer", clock=clock)
    return {"leader": leader, "member": member, "other": other, "officer": officer}


async def person_id(app: App, chat: Chat) -> int:
    async with app.db.read() as conn:
        person = await people.by_account(conn, chat.channel, chat.user)
    assert person is not None
    return person.id


# --- /thanhvien ------------------------------------------------------------------------------
async def test_a_leader_lists_their_village_and_not_the_commune(app: App) -> None:
    chats = await team(app, Clock())
    leader = chats["leader"]
    await leader.send("/thanhvien")
    assert f"#{await person_id(app, chats['member'])}" in leader.text
    assert f"#{await person_id(app, chats['other'])}" not in leader.text
    await leader.send(f"/thanhvien {COMMUNE}")
    assert "trong địa bàn mình phụ trách" in leader.text


async def test_a_commune_officer_lists_one_village_of_the_commune(app: App) -> None:
    chats = await team(app, Clock())
    officer = chats["officer"]
    await officer.send(f"/thanhvien {OTHER_VILLAGE}")
    assert f"#{await person_id(app, chats['other'])}" in officer.text
    assert f"#{await person_id(app, chats['member'])}" not in officer.text


# --- /huyma ----------------------------------------------------------------------------------
async def test_a_leader_revokes_an_invite_of_their_village_and_it_cannot_be_used(
    app: App,
) -> None:
    clock = Clock()
    chats = await team(app, clock)
    mine = await make_invite(app, clock, role="member")
    theirs = await make_invite(app, clock, role="member", unit=OTHER_VILLAGE)
    leader = chats["leader"]
    await leader.send("/huyma")
    offered = [c.label for r in leader.screen for c in r.flat_choices()]
    assert any(mine in label for label in offered)
    assert not any(theirs in label for label in offered)
    await leader.press(mine)
    assert f"Đã thu hồi mã {mine}" in leader.text
    newcomer = Chat(app, "newcomer", clock=clock)
    await newcomer.send(f"/dangky {mine}")
    assert "đã bị thu hồi" in newcomer.text
    await leader.send(f"/huyma {theirs}")
    assert "trong địa bàn mình phụ trách" in leader.text
    async with app.db.read() as conn:
        still = await invites.get(conn, theirs)
    assert still is not None and still.revoked_at is None


# --- /xoatv ----------------------------------------------------------------------------------
async def test_a_leader_removes_a_member_after_confirming(app: App) -> None:
    chats = await team(app, Clock())
    leader, member = chats["leader"], chats["member"]
    target = await person_id(app, member)
    await leader.send(f"/xoatv {target}")
    assert "Xoá" in leader.text and "khỏi Tổ" in leader.text
    await leader.press("Giữ lại")
    await member.send("/cuatoi")
    assert "Kết quả của" in member.text
    await leader.send(f"/xoatv {target}")
    await leader.press("Xoá khỏi Tổ")
    assert "Đã xoá" in leader.text
    await member.send("/baocao")
    assert "/dangky" in member.text
    async with app.db.read() as conn:
        rows = await audit.for_entity(conn, "person", target)
    assert [(r["action"], r["person_id"], r["before"]["role"]) for r in rows] == [
        ("remove", await person_id(app, leader), "member")
    ]


async def test_a_member_removed_mid_report_finds_the_report_ended(app: App) -> None:
    chats = await team(app, Clock())
    leader, member = chats["leader"], chats["member"]
    await member.send("/baocao")
    buttons = [c.label for reply in member.screen for c in reply.flat_choices()]
    assert buttons
    await leader.send(f"/xoatv {await person_id(app, member)}")
    await leader.press("Xoá khỏi Tổ")
    await member.press(buttons[0])
    assert "Nút này đã cũ" in member.text
    assert "trục trặc" not in member.text


@pytest.mark.parametrize(
    ("actor", "target", "said"),
    [
        ("leader", "other", "trong địa bàn mình phụ trách"),  # another village
        ("member", "leader", "không dành cho vai trò"),  # members cannot
        ("leader", "officer", "trong địa bàn mình phụ trách"),  # above, and outside
        ("officer", "officer", "vai trò thấp hơn mình"),  # oneself
    ],
)
async def test_nobody_removes_outside_their_area_or_rank(
    app: App, actor: str, target: str, said: str
) -> None:
    chats = await team(app, Clock())
    victim = await person_id(app, chats[target])
    await chats[actor].send(f"/xoatv {victim}")
    assert said in chats[actor].text
    async with app.db.read() as conn:
        person = await people.get(conn, victim)
    assert person is not None and person.role != "resident"


async def test_an_officer_cannot_remove_an_equal(app: App) -> None:
    clock = Clock()
    chats = await team(app, clock)
    second = await join(app, "commune_officer", COMMUNE, "officer-2", clock=clock)
    await chats["officer"].send(f"/xoatv {await person_id(app, second)}")
    assert "vai trò thấp hơn mình" in chats["officer"].text


# --- the same from the shell -----------------------------------------------------------------
async def test_cli_invite_list_and_revoke_are_audited(
    app: App, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = Clock(datetime.now(UTC))  # the shell lists what is usable now
    code = await make_invite(app, clock, role="member", uses=3)
    listed = await run_json(app, capsys, "invite", "list", "--unit", COMMUNE)
    assert [(i["code"], i["status"], i["max_uses"]) for i in listed] == [(code, "active", 3)]
    assert "revoked" in await run_cli(app, capsys, "invite", "revoke", code.lower())
    assert await run_json(app, capsys, "invite", "list") == []
    (revoked,) = await run_json(app, capsys, "invite", "list", "--all")
    assert revoked["status"] == "revoked"
    rows = [r for r in await audit_rows(app) if r["entity"] == "invite"]
    assert [(r["action"], r["before"]["code"], r["person_id"]) for r in rows] == [
        ("revoke", code, None)
    ]
    chat = Chat(app, "late", clock=clock)
    await chat.send(f"/dangky {code}")
    assert "đã bị thu hồi" in chat.text


async def audit_rows(app: App) -> list[dict[str, Any]]:
    async with app.db.read() as conn:
        return [dict(r._mapping) for r in await conn.execute(sa.select(audit_log).order_by("id"))]


async def test_cli_people_list_masks_phones(app: App, capsys: pytest.CaptureFixture[str]) -> None:
    clock = Clock()
    async with app.db.transaction() as conn:
        invite = await invite_service.create(
            conn,
            inviter=None,
            role="member",
            unit_code=VILLAGE,
            uses=1,
            expires_in=timedelta(days=1),
            now=clock.now,
        )
    chat = Chat(app, "phone-name", clock=clock, name="Hoà 0905 123 456")
    await chat.send(f"/dangky {invite.code}")
    (listed,) = await run_json(app, capsys, "people", "list", "--unit", VILLAGE)
    assert listed["name"] == "Hoà ***" and listed["accounts"] == ["local:phone-name"]
    assert "0905" not in await run_cli(app, capsys, "people", "list")
    assert await run_json(app, capsys, "people", "list", "--role", "leader") == []


async def test_cli_set_role_remove_and_unlink_are_audited(
    app: App, capsys: pytest.CaptureFixture[str]
) -> None:
    chats = await team(app, Clock())
    member = await person_id(app, chats["member"])
    out = await run_cli(
        app, capsys, "people", "set-role", str(member), "--role", "leader", "--unit", VILLAGE
    )
    assert "member" in out and "leader" in out
    await run_cli(app, capsys, "people", "remove", "local:lead-2")
    await run_cli(app, capsys, "account", "unlink", "local:officer")
    async with app.db.read() as conn:
        promoted = await people.get(conn, member)
        removed = await people.by_account(conn, "local", "lead-2")
        unlinked = await people.by_account(conn, "local", "officer")
    assert promoted is not None and promoted.role == "leader"
    assert removed is None and unlinked is None
    actions = [(r["action"], r["entity"], r["person_id"]) for r in await audit_rows(app)]
    assert actions == [
        ("set_role", "person", None),
        ("remove", "person", None),
        ("unlink", "person", None),
    ]
    text = str(await audit_rows(app))
    assert "officer" not in text.replace("commune_officer", "")  # no chat id in the audit
