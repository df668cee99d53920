"""The plain values that cross the channel boundary: what came in, what goes out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.text import display_name


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file or photo a person sent (kept by reference; the channel can fetch it)."""

    kind: str  # "photo" | "document"
    file_id: str
    file_name: str | None = None


@dataclass(frozen=True, slots=True)
class Incoming:
    """One message or button press from a person, on any channel."""

    channel: str
    chat_id: str
    user_id: str
    update_key: str
    at: datetime
    text: str | None = None
    choice: str | None = None
    display_name: str | None = None
    attachment: Attachment | None = None
    # The unit the account written to belongs to (a commune's Zalo OA): resident features
    # start there instead of asking which commune. None: the whole deployment.
    scope: str | None = None

    def __post_init__(self) -> None:
        # The platform's account name is stored and shown to others: no bidi or zero-width
        # characters, no control characters (core/text.py).
        object.__setattr__(self, "display_name", display_name(self.display_name))


@dataclass(frozen=True, slots=True)
class Choice:
    """An option offered to the person: a button on Telegram, a numbered line elsewhere."""

    data: str
    label: str


def in_rows(choices: list[Choice], per_row: int = 2) -> list[list[Choice]]:
    """Lay options out `per_row` to a row (a keyboard on Telegram; numbering is unaffected)."""
    return [choices[i : i + per_row] for i in range(0, len(choices), per_row)]


@dataclass(frozen=True, slots=True)
class Reply:
    """One outgoing message: text (a small HTML subset) and rows of choices.

    `edit` asks the channel to replace the message whose button was pressed, where it can.
    `photo` and `document` go with the text where the channel can send files; others ignore them.
    """

    text: str
    choices: tuple[tuple[Choice, ...], ...] = ()
    edit: bool = False
    photo: bytes | None = field(default=None, compare=False)
    # (file name, content): a file to send with the text (XLSX exports). Like `photo`, it is
    # not stored in to_json: a redelivered update gets the text again, not the file.
    document: tuple[str, bytes] | None = field(default=None, compare=False)
    # ("photo" | "document", file id or URL): a file the channel already holds, re-sent by
    # reference (announcements). Unlike `photo`, it is stored, so the outbox can send it later.
    file_ref: tuple[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "text": self.text,
            "choices": [[[c.data, c.label] for c in row] for row in self.choices],
            "edit": self.edit,
        }
        if self.file_ref is not None:
            value["file_ref"] = list(self.file_ref)
        return value

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Reply:
        ref = value.get("file_ref")
        return cls(
            text=value["text"],
            choices=tuple(tuple(Choice(d, label) for d, label in row) for row in value["choices"]),
            edit=value.get("edit", False),
            file_ref=(str(ref[0]), str(ref[1])) if ref else None,
        )

    def flat_choices(self) -> list[Choice]:
        return [choice for row in self.choices for choice in row]
