"""One rule for "the chat to reach this person on" (handlers/services/reach.py `choose`): the
oldest linked account on the preferred channel, else the oldest linked account. A plan
notice's audience, an announcement's members and a single notice all end up on that chat."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.app import App
from core import roles
from db.models import Person
from db.repos import people
from handlers.services import announcements, places, reach

VILLAGE = "duc-chanh-thon-1"
AT = datetime(2024, 10, 3, 2, 0, tzinfo=UTC)
PAIRS = (("member", "village"),)


async def _person(
    app: App, name: str, accounts: list[tuple[str, str]], preferred: str | None
) -> int:
    """A member with these (channel, chat id) accounts, linked one minute apart in order."""
    async with app.db.transaction() as conn:
        (channel, chat_id), *more = accounts
        person = await people.create(
            conn,
            role=roles.MEMBER,
            unit_code=VILLAGE,
            display_name=name,
            channel=channel,
            external_id=f"u-{chat_id}",
            chat_id=chat_id,
            now=AT,
        )
        for minutes, (other, other_chat) in enumerate(more, 1):
            await people.link_account(
                conn,
                channel=other,
                external_id=f"u-{other_chat}",
                chat_id=other_chat,
                person_id=person.id,
                now=AT + timedelta(minutes=minutes),
            )
        await people.update(conn, person.id, preferred_channel=preferred)
    return person.id


def test_choose_takes_the_preferred_channel_else_the_first_link() -> None:
    linked = [("telegram", "t1"), ("zalo", "z1"), ("zalo", "z2")]
    assert reach.choose("zalo", linked) == ("zalo", "z1")
    assert reach.choose("telegram", linked) == ("telegram", "t1")
    assert reach.choose(None, linked) == ("telegram", "t1")
    assert reach.choose("local", linked) == ("telegram", "t1")
    assert reach.choose("zalo", []) is None


async def test_every_way_of_finding_recipients_picks_the_same_chat(app: App) -> None:
    async with app.db.transaction() as conn:
        sender: Person = await people.create(
            conn,
            role=roles.LEADER,
            unit_code=VILLAGE,
            display_name="Trưởng thôn",
            channel="telegram",
            external_id="u-leader",
            chat_id="leader",
            now=AT,
        )
    expected = {
        await _person(app, "A", [("telegram", "a-t"), ("zalo", "a-z")], "zalo"): ("zalo", "a-z"),
        await _person(app, "B", [("telegram", "b-t"), ("zalo", "b-z")], None): ("telegram", "b-t"),
        await _person(app, "C", [("zalo", "c-z"), ("telegram", "c-t")], "telegram"): (
            "telegram",
            "c-t",
        ),
        await _person(app, "D", [("zalo", "d-z1"), ("zalo", "d-z2")], "zalo"): ("zalo", "d-z1"),
        await _person(app, "E", [("zalo", "e-z"), ("telegram", "e-t")], "local"): ("zalo", "e-z"),
    }
    async with app.db.read() as conn:
        one_by_one = {}
        for person_id in expected:
            person = await people.get(conn, person_id)
            assert person is not None
            one_by_one[person_id] = await reach.reach(conn, person)
            assert await reach.reach_id(conn, person_id) == one_by_one[person_id]
        notice = {r.person_id: (r.channel, r.chat_id) for r in await reach.audience(conn, PAIRS)}
        area = await places.get(conn, VILLAGE)
        assert area is not None
        announced = await announcements.recipients(conn, area, "members", sender)
    assert one_by_one == expected
    assert notice == expected
    assert {(r.channel, r.chat_id) for r in announced} == set(expected.values())
