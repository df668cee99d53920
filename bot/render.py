"""Turning channel-agnostic Replies into what each channel can show."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from core.events import Reply

_TAG = re.compile(r"</?(b|i|u|s|code|pre|a)(\s[^>]*)?>", re.IGNORECASE)
_HREF = re.compile(r'<a\s+href="([^"]*)"\s*>(.*?)</a>', re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a channel can do; rendering adapts to it."""

    buttons: bool  # choices as buttons (else a numbered list)
    edit: bool  # a sent message can be edited in place
    max_text: int  # characters per message; longer texts are split
    html: bool  # the HTML subset is shown as formatting (else it is turned into plain text)
    files: bool = False  # photos and documents can be sent
    writes_first: bool = True  # may send notices nobody asked for (reminders, digests)
    metered: bool = False  # every message sent counts against a paid or capped quota


TELEGRAM = Capabilities(buttons=True, edit=True, max_text=4096, html=True, files=True)
ZALO = Capabilities(buttons=False, edit=False, max_text=2000, html=False, metered=True)
LOCAL = Capabilities(buttons=False, edit=False, max_text=100_000, html=False)


def plain(text: str) -> str:
    """HTML subset → plain text: links written out, tags dropped, entities decoded."""
    text = _HREF.sub(lambda m: f"{m.group(2)} ({m.group(1)})", text)
    return html.unescape(_TAG.sub("", text))


def numbered(reply: Reply) -> str:
    """Choices as a numbered list, for channels without buttons."""
    choices = reply.flat_choices()
    if not choices:
        return ""
    if all(choice.label.isdigit() for choice in choices):
        # Counts: the person types the number itself.
        return " · ".join(choice.label for choice in choices)
    lines = [f"{i}. {plain(choice.label)}" for i, choice in enumerate(choices, start=1)]
    return "\n".join(lines)


def split(text: str, limit: int) -> list[str]:
    """Split at line boundaries so every piece fits the channel's limit."""
    if len(text) <= limit:
        return [text]
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:  # a single over-long line: cut at a space if possible
            cut = line.rfind(" ", 0, limit)
            cut = cut if cut > 0 else limit
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:cut])
            line = line[cut:].lstrip()
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            pieces.append(current)
            current = line
        else:
            current = candidate
    if current:
        pieces.append(current)
    return pieces


def as_texts(reply: Reply, caps: Capabilities) -> list[str]:
    """The message texts a channel without buttons sends for one reply."""
    body = reply.text if caps.html else plain(reply.text)
    options = "" if caps.buttons else numbered(reply)
    full = f"{body}\n\n{options}" if options else body
    return split(full, caps.max_text)
