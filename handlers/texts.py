"""User-facing texts: jinja2 templates kept as data in content/messages/*.yaml."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jinja2
import yaml


def _flatten(prefix: str, value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            yield from _flatten(f"{prefix}.{key}" if prefix else str(key), inner)
    else:
        yield prefix, str(value)


class Texts:
    """Renders a message by key. Undefined variables are errors; user strings are escaped."""

    def __init__(self, catalog: Mapping[str, str]) -> None:
        self.env = jinja2.Environment(
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self.env.filters["num"] = _format_number
        self.env.filters["pct"] = _format_percent
        self.env.filters["vndate"] = _format_date
        self._source = dict(catalog)
        # A text without template syntax (most labels) is kept as its final string: a reply
        # renders about ten labels, and each jinja2 render builds a context.
        self._compiled: dict[str, jinja2.Template | str] = {}

    @classmethod
    def load(cls, path: Path) -> Texts:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return cls(dict(_flatten("", data)))

    def keys(self) -> list[str]:
        return list(self._source)

    def has(self, key: str) -> bool:
        return key in self._source

    def render(self, key: str, **params: Any) -> str:
        template = self._compiled.get(key)
        if template is None:
            source = self._source[key]
            template = source.strip() if "{" not in source else self.env.from_string(source)
            self._compiled[key] = template
        return template if isinstance(template, str) else template.render(**params).strip()


def _format_number(value: int | float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}".replace(",", ".")


def _format_percent(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.1f}".replace(".", ",") + "%"


def _format_date(value: Any) -> str:
    return value.strftime("%d/%m/%Y")
