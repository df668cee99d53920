"""The channels the bot knows, in one table: `run`, `notify send` and their outbox senders are
built from it, and nothing else names a channel.

A row says when the channel is configured (a predicate on the settings), how `run` starts it
(it polls, and/or takes a webhook at ``/webhook/<name>`` when its webhook URL is set; a channel
that does neither, like the local chat, is not started by `run`), how its webhook secret is
read, and which function opens it from the settings. That function lives in the channel's own
module (imported only when the channel is configured) and returns a :class:`Live`: the opened
channel, its outbox sender (with any quirk of the channel, such as Zalo's usage meter) and what
to close at the end.

Adding a channel: one module under bot/channels/ implementing bot/channels/base.py, one row here.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.channels.base import URL_SAFE, VISIBLE_ASCII, Channel, SecretRule

if TYPE_CHECKING:
    from bot.app import App
    from bot.config import Settings
    from bot.outbox import OutboxSender

Closer = Callable[[], Awaitable[None]]
Opener = Callable[["App"], Awaitable["Live"]]


@dataclass
class Live:
    """An opened channel with its outbox sender."""

    channel: Channel
    sender: OutboxSender
    closers: list[Closer] = field(default_factory=list)

    async def close(self) -> None:
        for close in reversed(self.closers):
            await close()


@dataclass(frozen=True, slots=True)
class Webhook:
    """Where a channel's webhook settings are: its URL, its secret (None: derived from the
    token) and the token, and the characters its platform accepts in a secret."""

    url: Callable[[Settings], str | None]
    secret: Callable[[Settings], str | None]
    token: Callable[[Settings], str]
    rule: SecretRule = VISIBLE_ASCII
    # Further accounts of the channel, as (key, token): each takes its webhook at
    # /webhook/<name>/<key> with a secret derived from its own token (several Zalo bots).
    accounts: Callable[[Settings], list[tuple[str, str]]] | None = None
    # A secret the platform issues (Zalo OA's secret key) is taken as it is: its length and
    # characters are the platform's business, and the bot never hands it over.
    issued: bool = False


@dataclass(frozen=True, slots=True)
class ChannelType:
    """One row of the table."""

    name: str
    configured: Callable[[Settings], bool]
    open: Opener
    polls: bool = False  # `run` polls it unless its webhook URL is set
    webhook: Webhook | None = None  # `run` takes its updates at /webhook/<name> when set

    def served_by_webhook(self, settings: Settings) -> bool:
        return self.webhook is not None and bool(self.webhook.url(settings))

    def served(self, settings: Settings) -> bool:
        """Whether `run` starts it (polling or webhook) with these settings."""
        return self.configured(settings) and (self.polls or self.served_by_webhook(settings))


def opener(module: str) -> Opener:
    """``open_channel`` of ``module``, imported when first called (a channel that is not
    configured costs no import)."""

    async def open_channel(app: App) -> Live:
        found: Opener = importlib.import_module(module).open_channel
        return await found(app)

    return open_channel


def _more_zalo_bots(settings: Settings) -> list[tuple[str, str]]:
    """ZALO_BOT_ACCOUNTS as (bot id, token), checked (ValueError naming the entry)."""
    from bot.channels.zalo import bots_from

    return [(bot.bot_id, bot.token) for bot in bots_from(settings) if not bot.primary]


CHANNELS: tuple[ChannelType, ...] = (
    ChannelType(
        "telegram",
        configured=lambda s: bool(s.telegram_token),
        open=opener("bot.channels.telegram"),
        polls=True,
        webhook=Webhook(
            url=lambda s: s.telegram_webhook_url,
            secret=lambda s: s.telegram_webhook_secret,
            token=lambda s: s.telegram_token or "",
            rule=URL_SAFE,
        ),
    ),
    ChannelType(
        "zalo",
        # ZALO_BOT_ACCOUNTS alone configures it too, so that bots_from refuses it by name.
        configured=lambda s: bool(s.zalo_bot_token or s.zalo_bot_accounts),
        open=opener("bot.channels.zalo"),
        polls=True,
        webhook=Webhook(
            url=lambda s: s.zalo_webhook_url,
            secret=lambda s: s.zalo_webhook_secret,
            token=lambda s: s.zalo_bot_token or "",
            accounts=_more_zalo_bots,
        ),
    ),
    ChannelType(
        "zalo_oa",
        configured=lambda s: bool(s.zalo_oa_app_id and s.zalo_oa_app_secret and s.zalo_oa_id),
        open=opener("bot.channels.zalo_oa"),
        webhook=Webhook(
            url=lambda s: s.zalo_oa_webhook_url,
            secret=lambda s: s.zalo_oa_secret_key,
            token=lambda s: s.zalo_oa_app_secret or "",
            issued=True,
        ),
    ),
    # Always there: `python -m bot chat` runs it; `notify send` prints its notices to stderr.
    ChannelType("local", configured=lambda s: True, open=opener("bot.channels.local")),
)


def configured(settings: Settings) -> list[ChannelType]:
    """The channels these settings configure, in table order."""
    return [row for row in CHANNELS if row.configured(settings)]


def served(settings: Settings) -> list[ChannelType]:
    """The channels `python -m bot run` starts with these settings."""
    return [row for row in CHANNELS if row.served(settings)]


def webhook_secrets(settings: Settings) -> dict[str, str]:
    """The webhook secret of every configured channel that can take a webhook, checked
    (raises bot.webhook.WebhookSecretError, never quoting the secret), keyed by its path under
    /webhook/: the channel's name, and ``<name>/<key>`` for each further account (ValueError
    for a malformed account list).

    A bad secret is refused even when that channel polls: it would be used as soon as its
    webhook URL is set.
    """
    from bot.webhook import WebhookSecretError, webhook_secret

    secrets = {}
    for row in configured(settings):
        if row.webhook is None:
            continue
        secret = row.webhook.secret(settings)
        if row.webhook.issued:
            if not secret:
                raise WebhookSecretError(
                    f"{row.name.upper()}_SECRET_KEY is not set: copy it from the Zalo console."
                )
            secrets[row.name] = secret
            continue
        secrets[row.name] = webhook_secret(
            row.name, secret, row.webhook.token(settings), rule=row.webhook.rule
        )
        for key, token in row.webhook.accounts(settings) if row.webhook.accounts else ():
            account = f"{row.name}/{key}"
            secrets[account] = webhook_secret(account, None, token, rule=row.webhook.rule)
    return secrets


@dataclass
class Opened:
    """Channels opened together, closed together."""

    live: dict[str, Live] = field(default_factory=dict)

    @property
    def senders(self) -> dict[str, OutboxSender]:
        return {name: live.sender for name, live in self.live.items()}

    async def close(self) -> None:
        for live in reversed(list(self.live.values())):
            await live.close()


async def open_channels(app: App, rows: Iterable[ChannelType]) -> Opened:
    """Open each row's channel in order; if one fails, those already open are closed."""
    opened = Opened()
    try:
        for row in rows:
            opened.live[row.name] = await row.open(app)
    except BaseException:
        await opened.close()
        raise
    return opened
