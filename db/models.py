"""Plain records that repositories return: the rest of the code never sees SQL rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class Unit:
    code: str
    name: str
    kind: str
    parent_code: str | None
    path: str
    depth: int
    households: int | None = None
    eligible_citizens: int | None = None
    working_age: int | None = None
    vneid_registered_baseline: int | None = None
    vneid_activated_baseline: int | None = None
    cqngai_baseline: int | None = None
    public_contact: str | None = None
    type_label: str | None = None
    admin_code: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    successor_code: str | None = None

    @property
    def active(self) -> bool:
        """Not retired by a reorganisation (or by its commune, for a village)."""
        return self.valid_to is None

    @property
    def lineage(self) -> list[str]:
        """Codes from the root down to this unit."""
        return [code for code in self.path.split("/") if code]

    def contains(self, other: Unit) -> bool:
        """True when `other` is this unit or lies below it."""
        return other.path.startswith(self.path)


@dataclass(frozen=True, slots=True)
class Person:
    id: int
    role: str
    unit_code: str | None
    position: str | None
    display_name: str | None
    preferred_channel: str | None = None
    unit_path: str | None = None

    @property
    def lineage(self) -> list[str]:
        """Codes from the root down to the person's unit (empty when unknown)."""
        return [code for code in (self.unit_path or "").split("/") if code]


@dataclass(frozen=True, slots=True)
class Invite:
    code: str
    role: str
    unit_code: str
    created_by: int | None
    max_uses: int
    uses: int
    expires_at: datetime
    revoked_at: datetime | None = None
    created_at: datetime | None = None

    def usable(self, now: datetime) -> bool:
        """Not revoked, not expired, places left."""
        return self.revoked_at is None and self.expires_at > now and self.uses < self.max_uses


@dataclass(frozen=True, slots=True)
class Household:
    id: int
    village_code: str
    head_name: str
    address: str
    size: int | None
    visits: int = 0
    address_key: str = ""


@dataclass(frozen=True, slots=True)
class Visit:
    id: int
    household_id: int
    member_id: int
    village_code: str
    visit_date: date
    skills: frozenset[str]
    counts: dict[str, int]  # core/figures.py COUNTS, by code ("dk2": 2, ...)
    proficient: bool
    note: str | None
    created_at: datetime
    deleted_at: datetime | None = None
    head_name: str = ""
    address: str = ""


@dataclass(frozen=True, slots=True)
class Conversation:
    channel: str
    chat_id: str
    flow: str | None
    state: str | None
    data: dict[str, object] = field(default_factory=dict)
    version: int = 0
    updated_at: datetime | None = None
