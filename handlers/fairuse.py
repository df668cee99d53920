"""Fair use: how many messages one chat account may send in a window.

The dispatcher asks before any database work. Within the limit a message is handled; the first
one over it gets one polite "please slow down" (template ``fair_use.slow_down``); the rest are
dropped in silence until the window has room again. The count is per channel account
(channel + user id), so every channel gets the same rule. Unregistered chats on metered
channels (Zalo: every reply is a paid message) get a tighter limit; an account counts as
registered once this process has seen it act as a team member or officer.

The state lives in this process's memory (a sliding window of timestamps per account). Several
workers each keep their own: a person whose messages are spread over N workers by a load
balancer can send up to N times the limit. That is fine for its purpose (keeping one chat from
flooding the bot, the database and the monthly quota); it is not an accounting of use.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum


class Verdict(Enum):
    ALLOW = "allow"
    SLOW_DOWN = "slow_down"  # over the limit: say so, once
    DROP = "drop"  # still over it: say nothing


@dataclass(frozen=True, slots=True)
class Limits:
    """Messages per window, per channel account; 0 turns a limit off."""

    messages: int = 20
    window: float = 60.0
    metered_messages: int = 8  # unregistered chats on metered channels
    metered_channels: frozenset[str] = field(default_factory=lambda: frozenset({"zalo"}))


@dataclass(slots=True)
class _Account:
    times: deque[float]
    warned: bool = False


class FairUse:
    """A sliding-window limit per channel account, kept in memory (bounded)."""

    def __init__(
        self,
        limits: Limits,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_accounts: int = 100_000,
    ) -> None:
        self.limits = limits
        self.clock = clock
        self.max_accounts = max_accounts
        self._accounts: OrderedDict[tuple[str, str], _Account] = OrderedDict()
        self._registered: OrderedDict[tuple[str, str], None] = OrderedDict()

    def limit_for(self, channel: str, user_id: str) -> int:
        limits = self.limits
        metered = channel in limits.metered_channels and limits.metered_messages > 0
        if metered and (channel, user_id) not in self._registered:
            if limits.messages > 0:
                return min(limits.messages, limits.metered_messages)
            return limits.metered_messages
        return limits.messages

    def check(self, channel: str, user_id: str) -> Verdict:
        """Count one incoming message; say whether to handle it."""
        limit = self.limit_for(channel, user_id)
        if limit <= 0:
            return Verdict.ALLOW
        key = (channel, user_id)
        now = self.clock()
        account = self._accounts.get(key)
        if account is None:
            self._trim(now)
            account = self._accounts[key] = _Account(deque())
        else:
            self._accounts.move_to_end(key)
        times = account.times
        while times and now - times[0] >= self.limits.window:
            times.popleft()
        if len(times) < limit:
            times.append(now)
            account.warned = False
            return Verdict.ALLOW
        if account.warned:
            return Verdict.DROP
        account.warned = True
        return Verdict.SLOW_DOWN

    def wait_seconds(self, channel: str, user_id: str) -> int:
        """Roughly how long until this account may send again (for the slow-down message)."""
        account = self._accounts.get((channel, user_id))
        if account is None or not account.times:
            return 0
        left = self.limits.window - (self.clock() - account.times[0])
        return max(1, round(left))

    def registered(self, channel: str, user_id: str) -> None:
        """This account belongs to a team member or officer: the ordinary limit applies."""
        key = (channel, user_id)
        self._registered[key] = None
        self._registered.move_to_end(key)
        while len(self._registered) > self.max_accounts:
            self._registered.popitem(last=False)

    def _trim(self, now: float) -> None:
        """Forget accounts quiet for a whole window; never keep more than max_accounts."""
        while self._accounts:
            key, oldest = next(iter(self._accounts.items()))
            quiet = not oldest.times or now - oldest.times[-1] >= self.limits.window
            if not quiet and len(self._accounts) < self.max_accounts:
                break
            self._accounts.popitem(last=False)
