"""The local chat: the real handlers in a terminal, choices shown as numbered lines."""

from __future__ import annotations

import asyncio
import itertools
import sys
from datetime import UTC, datetime
from typing import TextIO

from bot.app import App
from bot.outbox import OutboxSender
from bot.render import LOCAL, as_texts
from core.errors import DomainError
from core.events import Incoming, Reply
from handlers.services.accounts import local_persona

SWITCH = "!vai"


async def _persona(app: App, role: str, unit: str) -> str:
    async with app.db.transaction() as conn:
        label_key = f"labels.role.{role}"
        texts = app.services.texts
        label = texts.render(label_key) if texts.has(label_key) else role
        return await local_persona(
            conn, role=role, unit_code=unit, now=datetime.now(UTC), role_label=label
        )


async def run(
    app: App,
    *,
    role: str,
    unit: str,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
) -> None:
    """Read lines, hand each to the dispatcher, print the replies. `!vai ROLE [UNIT]` switches."""
    identity = await _persona(app, role, unit)

    async def show_notice(chat_id: str, reply: Reply) -> None:
        for text in as_texts(reply, LOCAL):
            print(f"📨 [{chat_id}] {text}", file=stdout)

    stop = asyncio.Event()
    sender = OutboxSender(app.db, "local", show_notice, app.services.outbox_wakeup)
    sending = asyncio.create_task(sender.run(stop, idle=0.5))
    try:
        await _loop(app, role, unit, identity, stdin, stdout)
    finally:
        stop.set()
        await sending


async def _loop(
    app: App, role: str, unit: str, identity: str, stdin: TextIO, stdout: TextIO
) -> None:
    texts = app.services.texts
    counter = itertools.count(1)
    print(texts.render("local.intro", role=role, unit=unit, switch=SWITCH), file=stdout)
    while True:
        print("> ", end="", file=stdout, flush=True)
        line = await asyncio.to_thread(stdin.readline)
        if not line:
            break
        line = line.strip()
        if not line:
            continue
        if line.split()[0] == SWITCH:
            parts = line.split()
            new_role = parts[1] if len(parts) > 1 else role
            new_unit = parts[2] if len(parts) > 2 else unit
            try:
                identity = await _persona(app, new_role, new_unit)
                role, unit = new_role, new_unit
                print(texts.render("local.switched", role=role, unit=unit), file=stdout)
            except DomainError as error:
                print(texts.render(error.key, reason="", label="", **error.params), file=stdout)
            continue
        event = Incoming(
            channel="local",
            chat_id=identity,
            user_id=identity,
            update_key=f"{identity}:{datetime.now(UTC).timestamp()}:{next(counter)}",
            at=datetime.now(UTC),
            text=line,
            display_name=identity,
        )
        for reply in await app.dispatcher.handle(event):
            for text in as_texts(reply, LOCAL):
                print(text, file=stdout)
                print(file=stdout)
        await asyncio.sleep(0.05)  # let the outbox show notices this message produced
