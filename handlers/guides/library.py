"""Guide library: parses the Markdown guides in content/guides into immutable objects.

Errors:
    GuideFormatError -- a guide file is malformed (bad front matter, missing field, long step).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

CATEGORIES: Mapping[str, str] = MappingProxyType(
    {
        "vneid": "VNeID",
        "dvc": "Dịch vụ công",
        "payment": "Thanh toán",
        "shopping": "Mua bán online",
        "safety": "An toàn trên mạng",
        "province-app": "Ứng dụng của tỉnh",
        "learning": "Học kỹ năng số",
        "contact": "Liên hệ Tổ",
    }
)
"""Guide categories in menu order: key -> Vietnamese label."""

MAX_STEP_CHARS = 2000
"""A step (heading and text) is one chat message and must stay under this many characters."""

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)(.*)\Z", re.DOTALL)
_STEP_HEADING = re.compile(r"^## +(.+?)\s*$", re.MULTILINE)
_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class GuideFormatError(ValueError):
    """A guide file does not follow content/guides/README.md."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a guide, sent as one chat message."""

    title: str
    text: str


@dataclass(frozen=True, slots=True)
class Guide:
    """A how-to guide with its metadata and steps."""

    id: str
    title: str
    category: str
    aliases: tuple[str, ...]
    keywords: tuple[str, ...]
    sources: tuple[str, ...]
    verified: dt.date
    applies_to: str | None
    intro: str
    steps: tuple[Step, ...]

    @property
    def category_label(self) -> str:
        """Vietnamese label of the guide's category."""
        return CATEGORIES[self.category]


class GuideLibrary:
    """All guides of a folder, by id, in file-name order."""

    def __init__(self, guides: list[Guide]) -> None:
        self._guides: dict[str, Guide] = {}
        for guide in guides:
            if guide.id in self._guides:
                raise ValueError(f"duplicate guide id {guide.id!r}")
            self._guides[guide.id] = guide

    @classmethod
    def load(cls, folder: Path) -> GuideLibrary:
        """Parse every `<id>.md` in folder, skipping README.md and files starting with `_`."""
        paths = sorted(
            p for p in folder.glob("*.md") if p.name != "README.md" and not p.name.startswith("_")
        )
        return cls([parse_guide(p) for p in paths])

    def get(self, guide_id: str) -> Guide | None:
        """The guide with this id, or None."""
        return self._guides.get(guide_id)

    def all(self) -> tuple[Guide, ...]:
        """Every guide, in file-name order."""
        return tuple(self._guides.values())

    def by_category(self, category: str) -> tuple[Guide, ...]:
        """The guides of one category, in file-name order."""
        return tuple(g for g in self._guides.values() if g.category == category)

    def __len__(self) -> int:
        return len(self._guides)

    def __iter__(self) -> Iterator[Guide]:
        return iter(self._guides.values())

    def __contains__(self, guide_id: object) -> bool:
        return guide_id in self._guides


def parse_guide(path: Path) -> Guide:
    """Read one guide file; raise GuideFormatError when it breaks the format."""
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GuideFormatError(path, f"cannot read: {exc}") from exc
    match = _FRONT_MATTER.match(raw.lstrip("\ufeff"))
    if match is None:
        raise GuideFormatError(path, "no YAML front matter between '---' lines")
    try:
        meta = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        raise GuideFormatError(path, f"front matter is not valid YAML: {exc}") from exc
    if not isinstance(meta, dict):
        raise GuideFormatError(path, "front matter is not a mapping")
    intro, steps = _parse_body(path, match.group(2))
    guide_id = _text(path, meta, "id")
    if not _ID.match(guide_id):
        raise GuideFormatError(path, f"id {guide_id!r} is not lower-case words joined by '-'")
    if guide_id != path.stem:
        raise GuideFormatError(path, f"id {guide_id!r} differs from the file name")
    category = _text(path, meta, "category")
    if category not in CATEGORIES:
        raise GuideFormatError(path, f"unknown category {category!r}")
    sources = _strings(path, meta, "sources", required=True)
    for url in sources:
        if not url.startswith("https://"):
            raise GuideFormatError(path, f"source is not an https URL: {url!r}")
    applies_to = meta.get("applies_to")
    if applies_to is not None and not isinstance(applies_to, str):
        raise GuideFormatError(path, "applies_to must be text")
    return Guide(
        id=guide_id,
        title=_text(path, meta, "title"),
        category=category,
        aliases=_strings(path, meta, "aliases", required=True),
        keywords=_strings(path, meta, "keywords", required=False),
        sources=sources,
        verified=_date(path, meta),
        applies_to=applies_to.strip() if applies_to else None,
        intro=intro,
        steps=steps,
    )


def _parse_body(path: Path, body: str) -> tuple[str, tuple[Step, ...]]:
    headings = list(_STEP_HEADING.finditer(body))
    if not headings:
        raise GuideFormatError(path, "no '## ' step headings")
    intro = body[: headings[0].start()].strip()
    steps: list[Step] = []
    for i, heading in enumerate(headings):
        end = headings[i + 1].start() if i + 1 < len(headings) else len(body)
        step = Step(title=heading.group(1).strip(), text=body[heading.end() : end].strip())
        if not step.text:
            raise GuideFormatError(path, f"step {step.title!r} has no text")
        if len(step.title) + len(step.text) + 1 >= MAX_STEP_CHARS:
            raise GuideFormatError(path, f"step {step.title!r} is {MAX_STEP_CHARS}+ characters")
        steps.append(step)
    return intro, tuple(steps)


def _text(path: Path, meta: dict[str, Any], field: str) -> str:
    value = meta.get(field)
    if not isinstance(value, str) or not value.strip():
        raise GuideFormatError(path, f"'{field}' is missing or not text")
    return value.strip()


def _strings(path: Path, meta: dict[str, Any], field: str, *, required: bool) -> tuple[str, ...]:
    value = meta.get(field)
    if value is None and not required:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise GuideFormatError(path, f"'{field}' must be a non-empty list")
    items: list[str] = []
    for item in value:
        if isinstance(item, int | float) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str) or not item.strip():
            raise GuideFormatError(path, f"'{field}' holds an empty or non-text item")
        items.append(item.strip())
    return tuple(items)


def _date(path: Path, meta: dict[str, Any]) -> dt.date:
    value = meta.get("verified")
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise GuideFormatError(path, "'verified' must be a date YYYY-MM-DD")
