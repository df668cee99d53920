"""Domain errors. Raised inside services; turned into a templated Vietnamese reply at the edge.

Each error names the message key (`content/messages/vi.yaml`, under `errors.`) that explains it.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base: something the person can fix or should know; never a bug."""

    key = "errors.generic"

    def __init__(self, **params: Any) -> None:
        super().__init__(self.key, params)
        self.params = params


class UnknownUnit(DomainError):
    """The unit code is not in the units file."""

    key = "errors.unknown_unit"


class InviteNotFound(DomainError):
    """No invite has this code."""

    key = "errors.invite_not_found"


class InviteExpired(DomainError):
    """The invite's time is over or all its places are used."""

    key = "errors.invite_expired"


class NotAllowed(DomainError):
    """The person's role or area does not allow this action."""

    key = "errors.not_allowed"


class NotRegistered(DomainError):
    """The action needs a team account; the person has not joined with an invite."""

    key = "errors.not_registered"


class InvalidField(DomainError):
    """A value the person typed is not acceptable; `params` say which and why."""

    key = "errors.invalid_field"


class ReportNotFound(DomainError):
    """The report does not exist, was deleted, or belongs to someone else."""

    key = "errors.report_not_found"


class EditWindowClosed(DomainError):
    """Reports can only be changed within 48 hours."""

    key = "errors.edit_window_closed"


class StaleChoice(DomainError):
    """A button from an earlier step (or pressed twice): nothing changes, the screen stays valid."""

    key = "flow.stale"


class UnitRetired(DomainError):
    """The unit was retired by a reorganisation; `successor` names the unit that took over."""

    key = "errors.unit_retired"


class UnitsFileError(Exception):
    """A units CSV line is wrong (used by the CLI; not a chat error)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message
