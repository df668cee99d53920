"""Command group registered by bot/cli.py (see EXTENSIONS there)."""

from __future__ import annotations

import argparse
from typing import Any


def add_commands(sub: Any) -> dict[tuple[str, ...], Any]:
    """Add this group's subcommands to `sub`; return {(command, subcommand): runner}."""
    del sub
    return {}


__all__ = ["add_commands", "argparse"]
