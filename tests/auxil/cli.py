"""`python -m bot …` in-process, on the test's own app: the same parser and runners as the
shell, without starting a Python per command (subprocess tests cover the real entry point)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.app import App
from bot.cli import _key, _with_extensions, build_parser


async def run_cli(app: App, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run one command; returns what it printed (a non-zero exit fails the test)."""
    parser = build_parser()
    commands = _with_extensions(parser)
    args = parser.parse_args(argv)
    capsys.readouterr()
    status = await commands[_key(args)](app, args)
    out = capsys.readouterr().out
    assert status == 0, out
    return out


async def run_json(app: App, capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    return json.loads(await run_cli(app, capsys, *argv, "--json"))
