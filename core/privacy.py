"""Keeping personal data to what the job needs."""

from __future__ import annotations

import re

# Six or more digits, however grouped (spaces, dots, dashes, brackets): ID-card numbers,
# phone numbers, one-time codes.
_LONG_NUMBER = re.compile(r"\+?\(?\d(?:[\s.\-()]*\d){5,}\)?")


def mask_numbers(text: str) -> str:
    """Replace anything that looks like an ID-card or phone number with ***."""
    return _LONG_NUMBER.sub("***", text)
