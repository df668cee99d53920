"""/lienket: one member on Telegram and Zalo, and the channel their notices go to.

```mermaid
stateDiagram-v2
    [*] --> code: /lienket (registered) → a 15-minute code
    [*] --> linked: /lienket CODE, dangky CODE or /start CODE on the other account
    code --> channel: both channels linked
    linked --> channel: both channels linked
    channel --> [*]: a channel chosen
```
"""

from __future__ import annotations

from core.errors import NotRegistered, StaleChoice
from db.models import Person
from handlers.context import Context
from handlers.dispatcher import Flow
from handlers.services import linking

FLOW = "link"


async def start(ctx: Context, args: str) -> None:
    """/lienket: a code for the other account; /lienket CODE: link this account with it."""
    code = args.strip().split()[0] if args.strip() else ""
    if code:
        await redeem(ctx, code)
        return
    if ctx.person is None:
        raise NotRegistered()
    invite = await linking.issue(ctx.conn, ctx.person, ctx.now)
    username = ctx.services.telegram_username
    ctx.say(
        "link.code",
        code=invite.code,
        minutes=int(linking.TTL.total_seconds() // 60),
        telegram_link=f"https://t.me/{username}?start={invite.code}" if username else "",
    )
    await _offer_channels(ctx, ctx.person)


async def redeem(ctx: Context, code: str) -> None:
    """Link this chat account to the person who made the code (also from /dangky)."""
    person = await linking.redeem(
        ctx.conn,
        code=code,
        channel=ctx.event.channel,
        external_id=ctx.event.user_id,
        chat_id=ctx.event.chat_id,
        current=ctx.person,
        now=ctx.now,
    )
    ctx.person = person
    ctx.say(
        "link.linked",
        name=person.display_name or "",
        role=ctx.label(f"role.{person.role}"),
        channel=ctx.label(f"channel.{ctx.event.channel}"),
    )
    await _offer_channels(ctx, person)


async def _offer_channels(ctx: Context, person: Person) -> None:
    channels = await linking.channels_of(ctx.conn, person.id)
    if len(channels) < 2:
        return
    ctx.goto(FLOW, "channel")
    current = person.preferred_channel or channels[0]
    options = [ctx.choice(c, ctx.label(f"channel.{c}")) for c in channels]
    ctx.say("link.ask_channel", [options], current=ctx.label(f"channel.{current}"))


async def on_channel(ctx: Context, value: str) -> None:
    if ctx.person is None:
        raise StaleChoice()
    await linking.choose_channel(ctx.conn, ctx.person, value)
    ctx.end()
    ctx.say("link.channel_saved", channel=ctx.label(f"channel.{value}"))


flow = Flow(FLOW, on_choice={"channel": on_channel})
