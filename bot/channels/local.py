"""The local chat: the real handlers in a terminal, choices shown as numbered lines.

`python -m bot chat` runs it (``run``); ``!tep PATH`` sends a file (a .csv / .xlsx village list
in ``/thon nhap``); notices queued for the local channel are printed with a
📨 mark by its outbox sender (to the chat's output, or to stderr in `python -m bot notify send`).
"""

from __future__ import annotations

import asyncio
import itertools
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot.app import App
from bot.outbox import OutboxSender
from bot.render import LOCAL, as_texts
from core.errors import DomainError
from core.events import Attachment, Incoming, Reply
from core.files import FileTooBig, FileUnavailable
from handlers.services.accounts import local_persona

if TYPE_CHECKING:
    from bot.channels.registry import Live

SWITCH = "!vai"
FILE = "!tep"  # `!tep PATH`: send a file from this machine, as a person would attach one


def file_attachment(path: str) -> Attachment:
    """A file on this machine as an attachment, read (capped) only when a handler fetches it."""
    target = Path(path).expanduser()

    async def fetch(limit: int) -> bytes:
        try:
            size = target.stat().st_size
            if size > limit:
                raise FileTooBig(limit)
            with target.open("rb") as handle:
                content = handle.read(limit + 1)
        except OSError:
            raise FileUnavailable() from None
        if len(content) > limit:
            raise FileTooBig(limit)
        return content

    return Attachment("document", str(target), target.name, fetch=fetch)


class LocalChannel:
    """Notices for the local chat, printed to a text stream (stderr when none is given)."""

    name = "local"
    label = "local chat"
    capabilities = LOCAL

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    async def whoami(self) -> str:
        return "the local chat"

    async def send_reply(self, chat_id: str, reply: Reply) -> None:
        """Print one notice; a terminal never refuses it."""
        stream = self.stream or sys.stderr
        for text in as_texts(reply, self.capabilities):
            print(f"📨 [{chat_id}] {text}", file=stream)


async def open_channel(app: App) -> Live:
    """The local channel outside a chat session: notices go to stderr."""
    from bot.channels.registry import Live

    channel = LocalChannel()
    sender = OutboxSender(app.db, channel.name, channel.send_reply, app.services.outbox_wakeup)
    return Live(channel, sender)


async def _persona(app: App, role: str, unit: str) -> str:
    async with app.db.transaction() as conn:
        label_key = f"labels.role.{role}"
        texts = app.services.texts
        label = texts.render(label_key) if texts.has(label_key) else role
        return await local_persona(
            conn, role=role, unit_code=unit, now=datetime.now(UTC), role_label=label
        )


async def _fitting(app: App, role: str, unit: str) -> str:
    """The current unit if `role` fits it, else the first unit that does (the province for
    `!vai province_officer`)."""
    from handlers.services import places

    async with app.db.read() as conn:
        return await places.first_fitting(conn, role, unit) or unit


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
    channel = LocalChannel(stdout)
    stop = asyncio.Event()
    sender = OutboxSender(app.db, channel.name, channel.send_reply, app.services.outbox_wakeup)
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
            new_unit = parts[2] if len(parts) > 2 else await _fitting(app, new_role, unit)
            try:
                identity = await _persona(app, new_role, new_unit)
                role, unit = new_role, new_unit
                print(texts.render("local.switched", role=role, unit=unit), file=stdout)
            except DomainError as error:
                print(texts.render(error.key, reason="", label="", **error.params), file=stdout)
            continue
        attachment = None
        if line.split()[0] == FILE:
            attachment = file_attachment(line[len(FILE) :].strip())
        event = Incoming(
            channel="local",
            chat_id=identity,
            user_id=identity,
            update_key=f"{identity}:{datetime.now(UTC).timestamp()}:{next(counter)}",
            at=datetime.now(UTC),
            text=None if attachment else line,
            display_name=identity,
            attachment=attachment,
        )
        for reply in await app.dispatcher.handle(event):
            for text in as_texts(reply, LOCAL):
                print(text, file=stdout)
                print(file=stdout)
        await asyncio.sleep(0.05)  # let the outbox show notices this message produced
