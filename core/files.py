"""A file a person sent in chat, read by the bot: the channel-agnostic way to get its bytes.

A channel that can download what people send gives each :class:`core.events.Attachment` a
``fetch`` (see ``Fetch``): called with a byte limit, it returns the content, or raises
``FileTooBig`` past the limit and ``FileUnavailable`` when the platform gave no way to get it
(or the download failed). Handlers check the name first (``kind_of``): only the table kinds
below are ever read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from core.errors import DomainError

# Spreadsheets read in chat (village lists): small on purpose.
MAX_BYTES = 1_000_000
KINDS = ("csv", "xlsx")

Fetch = Callable[[int], Awaitable[bytes]]


class FileTooBig(DomainError):
    """The file is over the limit; nothing was read."""

    key = "errors.file_too_big"

    def __init__(self, limit: int) -> None:
        super().__init__(limit_kb=max(1, limit // 1000))


class FileUnavailable(DomainError):
    """The channel gave no way to download the file, or the download failed."""

    key = "errors.file_unavailable"


def kind_of(name: str | None) -> str | None:
    """ "csv" or "xlsx" from a file name (any case), else None."""
    if not name or "." not in name:
        return None
    ending = name.rsplit(".", 1)[1].strip().lower()
    return ending if ending in KINDS else None
