"""Only offered choices count: forged or garbled button data shows nothing and changes nothing.

Each finding of the review is replayed through the real dispatcher on both databases: a client
that makes up its own button data (``v<N>:h<ID>`` during /baocao, a role never offered in /moi,
``a:take:<ID>`` of another village) gets the stale-choice answer. A fuzz test then walks every
flow state it can reach and every action, and sends garbled data two ways: as a forgery (must
be stale) and as if the bot had offered it (the handler's own checks must answer kindly).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa

from bot.app import App
from core import roles
from core.timeouts import OFFER_DAYS
from db.models import Conversation
from db.repos import conversations, offers
from db.schema import help_requests as help_requests_table
from db.schema import invites as invites_table
from handlers.routes import commands_for
from handlers.services import invites
from tests.auxil.chat import Chat, Clock, join, person_of

VILLAGE = "duc-chanh-thon-1"
OTHER_VILLAGE = "duc-chanh-thon-2"
STALE = "Nút này đã cũ"
INTERNAL = "bot vừa gặp trục trặc"
SECRET_NAME = "Phạm Văn Kín"
SECRET_ADDRESS = "99 đường Riêng Tư"


def everything_seen(chat: Chat) -> str:
    """Every text and button label now on the chat's screen."""
    labels = [c.label for reply in chat.screen for c in reply.flat_choices()]
    return "\n".join([chat.text, *labels])


def state_of(conversation: Conversation) -> tuple[object, ...]:
    return (conversation.flow, conversation.state, conversation.data, conversation.version)


def offered_in(snapshot: Conversation) -> list[list[str]]:
    """The options the conversation last offered, as stored: [data, label] pairs."""
    offered = snapshot.data.get("_offered", [])
    assert isinstance(offered, list), offered
    return offered


async def conversation(app: App, chat: Chat) -> Conversation:
    async with app.db.read() as conn:
        return await conversations.load(conn, chat.channel, chat.user)


async def restore(app: App, chat: Chat, snapshot: Conversation) -> None:
    """Put the chat's conversation back where it was (as another worker would find it)."""
    async with app.db.transaction() as conn:
        current = await conversations.load(conn, chat.channel, chat.user)
        await conversations.save(
            conn, snapshot, expected_version=current.version, now=chat.clock.now
        )


def no_errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


async def other_village_household(app: App, clock: Clock) -> int:
    """A household of another village, reported there (ids are sequential, easy to guess)."""
    there = await join(app, "member", OTHER_VILLAGE, "m-there", clock=clock)
    await there.send(f"/bc {SECRET_NAME}; {SECRET_ADDRESS}; dvc")
    async with app.db.read() as conn:
        found = await conn.execute(
            sa.text("SELECT id FROM households WHERE head_name = :n"), {"n": SECRET_NAME}
        )
        return int(found.scalar_one())


# --- the findings -------------------------------------------------------------------------------
async def test_a_forged_household_button_shows_nothing_of_another_village(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    theirs = await other_village_household(app, clock)
    me = await join(app, "member", VILLAGE, "m-here", clock=clock)
    await me.send("/bc Nguyễn Văn An; xóm 1; dvc")
    await me.send("/baocao")
    await me.send("Nguyễn Văn An")
    own = me.find("Nguyễn Văn An").data
    version = own.split(":")[0]
    before = await conversation(app, me)
    assert before.state == "pick_household"

    for forged in (f"{version}:h{theirs}", f"{version}:h0{theirs}", f"{version}:h{theirs} "):
        await me.press_data(forged)
        assert STALE in me.text
        assert SECRET_NAME not in everything_seen(me)
        assert SECRET_ADDRESS not in everything_seen(me)
        assert await conversation(app, me) == before  # nothing moved on, nothing stored

    # The button really offered still works, and shows the member's own household.
    await me.press_data(own)
    assert "đã hướng dẫn những gì" in me.text
    no_errors_logged(caplog)


async def test_a_typed_choice_on_zalo_maps_only_to_what_was_offered(app: App) -> None:
    clock = Clock()
    theirs = await other_village_household(app, clock)
    me = await join(app, "member", VILLAGE, "z-here", clock=clock, channel="zalo")
    await me.send("/bc Nguyễn Văn An; xóm 1; dvc")
    await me.send("/baocao")
    await me.send("Nguyễn Văn An")
    before = await conversation(app, me)
    for typed in (f"h{theirs}", "7", SECRET_NAME, f"{before.version}:h{theirs}"):
        await me.send(typed)
        assert SECRET_NAME not in everything_seen(me) and SECRET_ADDRESS not in everything_seen(me)
        assert (await conversation(app, me)).state == "pick_household"


async def test_an_admin_cannot_mint_an_admin_invite_with_a_role_never_offered(app: App) -> None:
    admin = await join(app, roles.ADMIN, "mo-duc", "admin")
    await admin.send("/moi")
    offered = [c.data.split(":", 1)[1] for r in admin.screen for c in r.flat_choices()]
    assert roles.ADMIN not in offered
    version = admin.screen[-1].flat_choices()[0].data.split(":")[0]
    before = await conversation(app, admin)
    await admin.press_data(f"{version}:{roles.ADMIN}")
    assert STALE in admin.text
    assert await conversation(app, admin) == before
    person = await person_of(app, admin)
    async with app.db.read() as conn:
        made = await conn.execute(
            sa.select(sa.func.count())
            .select_from(invites_table)
            .where(invites_table.c.created_by == person.id)  # type: ignore[attr-defined]
        )
        assert made.scalar_one() == 0


async def test_a_forged_take_button_shows_no_residents_contact(app: App) -> None:
    clock = Clock()
    resident = Chat(app, "resident", clock=clock, name="Bà Sáu")
    there = await join(app, "member", OTHER_VILLAGE, "m-there", clock=clock)
    await there.send("/menu")
    await resident.send("/lienhe")
    await resident.press("Đức Chánh")
    await resident.press("Thôn 2")
    await resident.press("Hẹn người đến nhà")
    await resident.press("VNeID")
    await resident.send("0905 111 222")
    await resident.press("Đồng ý")
    async with app.db.read() as conn:
        request_id = (await conn.execute(sa.select(help_requests_table.c.id))).scalar_one()
    me = await join(app, "member", VILLAGE, "m-here", clock=clock)
    for forged in (
        f"a:take:{request_id}",
        f"a:take:{request_id + 1}",
        "a:take:99999999999999999999",
    ):
        await me.press_data(forged)
        assert STALE in me.text
        assert "0905" not in everything_seen(me) and "Bà Sáu" not in everything_seen(me)
    async with app.db.read() as conn:
        status = await conn.execute(sa.select(help_requests_table.c.status))
        assert status.scalar_one() == "open"


# Data that crashed a handler when a client sent it (the three tracebacks of the review), now
# refused by the dispatcher (never offered) and, if it ever were offered, by the handler.
CRASHERS = [
    ("report", "hx"),  # int("x")
    ("correct", "²"),  # "²".isdigit() is True, int("²") is not
    ("invite", "²"),
    ("correct", "99999999999999999999"),  # beyond a database integer
]


async def reach(app: App, flow: str, clock: Clock) -> Chat:
    """A chat waiting for a choice in `flow`."""
    if flow == "invite":
        leader = await join(app, roles.LEADER, VILLAGE, f"l-{flow}", clock=clock)
        await leader.send("/moi")
        await leader.press("Thành viên Tổ")  # one village: straight to how many people
        return leader
    me = await join(app, "member", VILLAGE, f"m-{flow}", clock=clock)
    await me.send("/bc Nguyễn Văn An; xóm 1; dvc")
    if flow == "report":
        await me.send("/baocao")
        await me.send("Nguyễn Văn An")
    else:
        await me.send("/sua")
    return me


@pytest.mark.parametrize(("flow", "value"), CRASHERS)
async def test_data_that_crashed_a_handler_gets_a_friendly_answer(
    app: App, caplog: pytest.LogCaptureFixture, flow: str, value: str
) -> None:
    clock = Clock()
    chat = await reach(app, flow, clock)
    before = await conversation(app, chat)
    forged = f"v{before.version}:{value}"
    await chat.press_data(forged)  # forged: never offered
    assert STALE in chat.text
    assert await conversation(app, chat) == before
    # As if the bot itself had offered it: the handler refuses it without a traceback.
    offered = [*offered_in(before), [forged, "?"]]
    await restore(app, chat, replace(before, data={**before.data, "_offered": offered}))
    await chat.press_data(forged)
    assert STALE in chat.text
    assert INTERNAL not in chat.text
    no_errors_logged(caplog)


# --- actions: offered in an answer or a notice, valid for OFFER_DAYS -------------------------------
async def test_an_action_offered_in_a_notice_can_be_pressed_later_then_expires(app: App) -> None:
    clock = Clock()
    me = await join(app, "member", VILLAGE, "m-here", clock=clock)
    await me.send("/bc Nguyễn Văn An; xóm 1; dvc")
    undo = me.find("Hoàn tác").data
    await me.send("/menu")  # the conversation moves on; the Undo button stays valid
    async with app.db.read() as conn:
        assert await offers.was_offered(conn, "local", me.user, undo, since=clock.now)
    clock.advance(days=OFFER_DAYS + 1)
    await me.press_data(undo)
    assert STALE in me.text


async def test_offers_are_pruned_with_the_other_working_records(app: App) -> None:
    from handlers.services import retention

    clock = Clock()
    me = await join(app, "member", VILLAGE, "m-here", clock=clock)
    await me.send("/menu")
    menu_actions = {c.data for c in me.screen[-1].flat_choices()}
    assert len(menu_actions) == 7 and all(data.startswith("a:menu:") for data in menu_actions)
    async with app.db.transaction() as conn:
        assert (await retention.prune(conn, clock.now))["offers"] == 0
        later = clock.now + timedelta(days=OFFER_DAYS + 1)
        # The seven menu actions are all this chat was ever offered: each is pruned once.
        assert (await retention.prune(conn, later))["offers"] == len(menu_actions)
        assert (await retention.prune(conn, later))["offers"] == 0


# --- fuzz -------------------------------------------------------------------------------------
GARBAGE = [
    "",
    "x",
    "h",
    "hx",
    "h0",
    "h-1",
    "0",
    "-1",
    "²",
    "١٢",
    "99999999999999999999",
    "9" * 120,
    "cancel:x",
    "t:",
    "t:nope",
    "d2024-13-45",
    "d",
    ":::",
    "mo-duc",
    "duc-chanh-thon-2",
    "admin",
    "' OR 1=1 --",
    "🙂",
    "\x00",
    "a" * 127,
]
# Text that moves each typed step on (the explorer needs it to reach later states).
SAMPLE_TEXT = {
    ("report", "name"): "Nguyễn Văn An",
    ("report", "address"): "xóm 1",
    ("report", "count"): "1",
    ("report", "note"): "Đã cài xong",
    ("help", "reach"): "0905 123 456",
    ("announce", "compose"): "Họp Tổ lúc 8 giờ sáng mai",
    ("deliver", "upload"): "Đã nộp bản giấy",
    ("villages", "paste"): "Thôn Gò Mới; 120",
}
EXPLORERS = {
    roles.RESIDENT: None,
    roles.MEMBER: VILLAGE,
    roles.LEADER: VILLAGE,
    roles.COMMUNE_OFFICER: "duc-chanh",
    roles.DISTRICT_OFFICER: "mo-duc",
}
# States no single chat reaches here: choosing a channel needs a second linked account.
UNREACHED = {("link", "channel")}
PER_STATE = 6


async def starts_with_args(app: App, role: str, clock: Clock) -> list[str]:
    """Flows that start only from a command with an argument: a role-changing invite for the
    member; removing a member and forgetting a household for the commune officer."""
    if role == roles.MEMBER:
        async with app.db.transaction() as conn:
            invite = await invites.create(
                conn,
                inviter=None,
                role=roles.LEADER,
                unit_code=OTHER_VILLAGE,
                uses=1,
                expires_in=timedelta(days=7),
                now=clock.now,
            )
        return [f"/dangky {invite.code}"]
    if role == roles.COMMUNE_OFFICER:
        # A member of its own, so that removing them leaves the explorers' chats as they were.
        victim = await join(app, roles.MEMBER, VILLAGE, "explore-victim", clock=clock)
        await victim.send("/bc Trần Thị Bé; xóm 2; dvc")
        member = await person_of(app, victim)
        async with app.db.read() as conn:
            found = await conn.execute(
                sa.text("SELECT id FROM households WHERE head_name = :n"), {"n": "Trần Thị Bé"}
            )
            household = int(found.scalar_one())
        return [
            f"/xoatv {member.id}",  # type: ignore[attr-defined]
            f"/xoaho {household}",
            "/thon nhap",
        ]
    return []


async def explore(app: App, clock: Clock) -> dict[tuple[str, str], tuple[Chat, Conversation]]:
    """Walk every flow each role can start, pressing offered options and typing sample text.

    A state is explored again when it offers other options (a toggled skill, another role's
    list), up to PER_STATE times for each role.
    """
    seen: dict[tuple[str, str], tuple[Chat, Conversation]] = {}
    for role, unit in EXPLORERS.items():
        user = f"explore-{role}"
        if unit is None:
            chat = Chat(app, user, clock=clock)
        else:
            chat = await join(app, role, unit, user, clock=clock)
        queue: deque[Conversation] = deque([await conversation(app, chat)])
        if role in roles.TEAM_ROLES:
            await chat.send("/bc Nguyễn Văn An; xóm 1; dvc")
        for text in [f"/{name}" for name in commands_for(role)] + await starts_with_args(
            app, role, clock
        ):
            await chat.send("/huy")
            await chat.send(text)
            queue.append(await conversation(app, chat))
        visited: set[tuple[object, ...]] = set()
        per_state: dict[tuple[str, str], int] = {}
        while queue:
            snapshot = queue.popleft()
            if snapshot.flow is None or snapshot.state is None:
                continue
            key = (snapshot.flow, snapshot.state)
            offered = [(d.partition(":")[2], label) for d, label in offered_in(snapshot)]
            signature = (*key, *offered)
            if signature in visited or per_state.get(key, 0) >= PER_STATE:
                continue
            visited.add(signature)
            per_state[key] = per_state.get(key, 0) + 1
            seen.setdefault(key, (chat, snapshot))
            moves = [("press", d) for d, _ in offered_in(snapshot) if d.startswith("v")]
            if key in SAMPLE_TEXT:
                moves.append(("send", SAMPLE_TEXT[key]))
            for kind, value in reversed(moves):  # "Xong", "Huỷ" and the like come last
                await restore(app, chat, snapshot)
                await (chat.press_data(value) if kind == "press" else chat.send(value))
                queue.append(await conversation(app, chat))
    return seen


async def test_garbled_choices_in_every_flow_state_and_action_get_a_friendly_answer(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    seen = await explore(app, clock)
    registered = {(f.name, s) for f in app.dispatcher.flows.values() for s in f.on_choice}
    assert registered - set(seen) <= UNREACHED, registered - set(seen)

    for (flow, state), (chat, snapshot) in sorted(seen.items()):
        if state not in app.dispatcher.flows[flow].on_choice:
            continue
        for value in GARBAGE:
            data = f"v{snapshot.version}:{value}"
            if any(data == d for d, _label in offered_in(snapshot)):
                continue  # really offered here (a unit code can be)
            # A forgery: refused before any handler runs, and nothing changes.
            await restore(app, chat, snapshot)
            replies = await chat.press_data(data)
            assert replies and STALE in replies[0].text, (flow, state, value, replies)
            assert state_of(await conversation(app, chat)) == state_of(snapshot)
            if not value.isprintable():
                continue  # never stored, not even by a bug: the dispatcher refuses it first
            # As if it had been offered: the handler's own checks answer, never a traceback.
            offered = [*offered_in(snapshot), [data, "?"]]
            await restore(app, chat, replace(snapshot, data={**snapshot.data, "_offered": offered}))
            replies = await chat.press_data(data)
            assert replies, (flow, state, value)
            assert all(INTERNAL not in r.text for r in replies), (flow, state, value, replies)

    chats = {id(chat): chat for chat, _snapshot in seen.values()}
    for prefix in app.dispatcher.actions:
        for chat in chats.values():
            for value in GARBAGE[::2]:
                data = f"a:{prefix}:{value}"
                replies = await chat.press_data(data)
                assert replies and STALE in replies[0].text, (prefix, value, replies)
                if not data.isprintable():
                    continue
                async with app.db.transaction() as conn:
                    await offers.record(conn, chat.channel, chat.user, [data], clock.now)
                replies = await chat.press_data(data)
                assert all(INTERNAL not in r.text for r in replies), (prefix, value, replies)
    no_errors_logged(caplog)


async def test_a_person_of_one_role_never_reaches_another_roles_flow_by_forging(app: App) -> None:
    resident = Chat(app, "resident")
    member = await join(app, "member", VILLAGE, "m")
    for chat in (resident, member):
        for data in ("a:menu:moi", "a:menu:xuat", "a:nudge:x:village", "a:nop:x", "a:yeucau:1"):
            await chat.press_data(data)
            assert STALE in chat.text
    assert await person_of(app, resident) is None
