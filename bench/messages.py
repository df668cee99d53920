"""`python -m bench messages`: bot messages per household report, per channel.

A member plays the same report through the real dispatcher on each channel: four things
guided ("1 3 7 8": public services, payments, VNeID level-2 registration, VNeID activation)
and the two counts those ask (2 and 1), then proficiency and Save. The bot's replies are
counted the way each channel sends them: on Telegram an edited message (a ticked button) is
no new message; on the Zalo Bot a reply is as many texts as it is split into
(bot/render.py ``as_texts``); on a Zalo OA as many consultation messages
(bot/channels/zalo_oa.py ``messages_for``); on the local chat one per reply. Every message the
bot sends on Zalo is one message of the plan's quota.

Rows: ``guided, typed together`` (the name with its address, the four numbers in one message,
the two counts in one message: text channels), ``guided, one at a time`` (a new user who
ticks each item and answers each question on its own; on Telegram, buttons), ``quick form``
(``/bc …``, one message).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.app import App
from bot.channels.zalo_oa import messages_for
from bot.config import Settings
from bot.render import ZALO, as_texts
from core.events import Incoming, Reply
from handlers.services import invites

VILLAGE = "duc-chanh-thon-1"
SKILLS = ("dvc", "payment", "vneid_register", "vneid_activate")

Count = Callable[[Reply], int]
COUNTERS: dict[str, Count] = {
    "telegram": lambda reply: 0 if reply.edit else 1,
    "zalo": lambda reply: len([t for t in as_texts(reply, ZALO) if t.strip()]),
    "zalo_oa": lambda reply: len(messages_for(reply)),
    "local": lambda reply: 1,
}
TEXT_ONLY = {"zalo", "zalo_oa", "local"}


class Member:
    """One member's chat on one channel, counting the bot's messages."""

    def __init__(self, app: App, channel: str, user: str) -> None:
        self.app, self.channel, self.user = app, channel, user
        self.last: list[Reply] = []
        self.sent = 0
        self._n = 0

    async def says(self, text: str | None = None, *, choice: str | None = None) -> list[Reply]:
        self._n += 1
        event = Incoming(
            self.channel,
            self.user,
            self.user,
            f"bench-{self._n}",
            datetime.now(UTC),
            text=text,
            choice=choice,
            display_name="Chị Lan",
        )
        self.last = await self.app.dispatcher.handle(event)
        self.sent += sum(COUNTERS[self.channel](reply) for reply in self.last)
        return self.last

    def option(self, ending: str) -> str:
        """The data of the option offered last whose value ends with ``ending``."""
        for reply in reversed(self.last):
            for choice in reply.flat_choices():
                if choice.data.endswith(ending):
                    return choice.data
        raise AssertionError(f"{ending!r} not offered: {[r.text for r in self.last]}")

    def number(self, ending: str) -> str:
        """What a text-channel user types to pick that option: its position."""
        for reply in reversed(self.last):
            choices = reply.flat_choices()
            for position, choice in enumerate(choices, start=1):
                if choice.data.endswith(ending):
                    return str(position)
        raise AssertionError(f"{ending!r} not offered")

    async def pick(self, ending: str) -> None:
        if self.channel in TEXT_ONLY:
            await self.says(self.number(ending))
        else:
            await self.says(choice=self.option(ending))


async def _join(app: App, member: Member) -> None:
    async with app.db.transaction() as conn:
        invite = await invites.create(
            conn,
            inviter=None,
            role="member",
            unit_code=VILLAGE,
            uses=1,
            expires_in=timedelta(days=7),
            now=datetime.now(UTC),
        )
    await member.says(f"/dangky {invite.code}")
    await member.pick(":other")


async def guided_together(member: Member, n: int) -> int:
    member.sent = 0
    await member.says("/baocao")
    await member.says(f"Lê Văn Tám {n}, xóm {n}")
    await member.says(" ".join(member.number(f":t:{skill}") for skill in SKILLS))
    await member.says("2 1")
    await member.pick(":yes")
    await member.pick(":save")
    assert "Đã lưu" in member.last[0].text, member.last[0].text
    return member.sent


async def guided_one_at_a_time(member: Member, n: int) -> int:
    member.sent = 0
    await member.says("/baocao")
    await member.says(f"Trần Thị Hai {n}")
    await member.says(f"xóm {n}")
    for skill in SKILLS:
        await member.pick(f":t:{skill}")
    await member.pick(":done")
    if member.channel in TEXT_ONLY:
        await member.says("2")
        await member.says("1")
    else:
        await member.says(choice=member.option(":2"))
        await member.says(choice=member.option(":1"))
    await member.pick(":yes")
    await member.pick(":save")
    assert "Đã lưu" in member.last[0].text, member.last[0].text
    return member.sent


async def quick_form(member: Member, n: int) -> int:
    member.sent = 0
    await member.says(f"/bc Phạm Văn Ba {n}; xóm {n}; dvc,tt; dk2=2 kh=1 thanhthao=1")
    assert "Đã lưu" in member.last[0].text, member.last[0].text
    return member.sent


async def measure(database_url: str) -> dict[str, dict[str, int]]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=database_url, fair_use_messages=0, fair_use_metered_messages=0
    )
    app = await App.open(settings)
    try:
        await app.load_sample_units_if_empty()
        found: dict[str, dict[str, int]] = {}
        for number, channel in enumerate(COUNTERS, start=1):
            member = Member(app, channel, f"bench-member-{number}")
            await _join(app, member)
            row = {"one at a time": await guided_one_at_a_time(member, number)}
            if channel in TEXT_ONLY:
                row["typed together"] = await guided_together(member, number)
            row["quick form"] = await quick_form(member, number)
            found[channel] = row
        return found
    finally:
        await app.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench messages", description=__doc__)
    parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        found = asyncio.run(measure(url))
    print("bot messages per household report (4 things guided, 2 counts)")
    print(
        f"{'channel':<10} {'guided, typed together':>24} {'guided, one at a time':>23} {'quick form':>11}"
    )
    for channel, row in found.items():
        together = row.get("typed together")
        print(
            f"{channel:<10} {'-' if together is None else together:>24} "
            f"{row['one at a time']:>23} {row['quick form']:>11}"
        )
    return 0
