"""Reading what a choice or a command argument names: anything odd is a stale choice.

Choices are checked by the dispatcher (only offered ones count); these helpers are the second
line: a handler that loads a record by id from a choice still refuses a value it could not
have offered, without a traceback.
"""

from __future__ import annotations

from core.errors import StaleChoice

MAX_ID = 2**31 - 1  # ids are 32-bit on PostgreSQL; a larger number is never a record


def record_id(raw: str) -> int:
    """A record id written in a choice (``"123"``); StaleChoice for anything else."""
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        raise StaleChoice()
    value = int(text)
    if not 1 <= value <= MAX_ID:
        raise StaleChoice()
    return value


def small_number(raw: str, *, digits: int = 4) -> int:
    """A short whole number (a page, a step); StaleChoice for anything else."""
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > digits:
        raise StaleChoice()
    return int(text)
