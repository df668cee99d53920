"""Vietnamese text folding shared by name matching, command parsing and guide search."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def strip_diacritics(text: str) -> str:
    """Remove Vietnamese tone and vowel marks; đ/Đ become d/D."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


def fold(text: str) -> str:
    """Lower-case, diacritic-free, single-spaced form used to compare what people type."""
    return _SPACES.sub(" ", strip_diacritics(text).lower()).strip()


def tidy(text: str) -> str:
    """NFC-normalise and collapse white space, keeping diacritics (for storing names)."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def has_control_chars(text: str) -> bool:
    """True when text holds control characters other than tab and newline."""
    return bool(_CONTROL.search(text))
