"""Vietnamese text folding shared by name matching, command parsing and guide search, and the
tidying of free text before it is stored (names, addresses, contacts, notes, display names).

Stored text is NFC (Vietnamese letters composed, as keyboards and fonts expect) and carries no
invisible format characters (Unicode category Cf): bidi embeddings, overrides and isolates
(U+202A–U+202E, U+2066–U+2069), LRM/RLM (U+200E/U+200F), zero-width space and joiners
(U+200B–U+200D), word joiner (U+2060), BOM (U+FEFF), soft hyphen. They show nothing, yet they
can reverse the text displayed around them in another person's chat or spreadsheet, or make two
identical-looking names differ. Combining marks (category Mn) are letters' accents and are kept.
Control characters (NUL and the rest of Cc) are refused where a person typed them
(`has_control_chars`) and dropped from display names, which come from the platform.
"""

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


def strip_invisible(text: str) -> str:
    """Drop invisible format characters (Unicode Cf: bidi controls, zero-width characters)."""
    if text.isascii():
        return text
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def tidy(text: str) -> str:
    """Strip invisible characters, NFC-normalise and collapse white space, keeping diacritics
    (for storing names, addresses and contacts)."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", strip_invisible(text))).strip()


def tidy_lines(text: str) -> str:
    """Like `tidy` but keeping line breaks (for notes); trailing spaces of each line go."""
    lines = unicodedata.normalize("NFC", strip_invisible(text)).splitlines()
    return "\n".join(line.rstrip() for line in lines).strip()


def display_name(raw: str | None, limit: int = 100) -> str | None:
    """A chat account's name as the platform gave it, safe to store and show to others:
    no control or format characters, NFC, single-spaced, at most `limit` characters."""
    if not raw:
        return None
    visible = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in raw)
    return tidy(visible)[:limit].strip() or None


def has_control_chars(text: str) -> bool:
    """True when text holds control characters other than tab and newline."""
    return bool(_CONTROL.search(text))
