"""Thin async client for the Zalo Official Account Open API (what the OA channel uses).

Sources and the points they leave open: /work/shared/reference/zalo-oa-api.md (§ numbers below).

- Tokens (§1): ``POST {oauth}/v4/oa/access_token``, form-encoded, the app secret in a
  ``secret_key`` header; ``grant_type=refresh_token`` returns a new access token *and* a new
  refresh token (single use). ``expires_in`` is documented as a string and shown as a number;
  both are read. Its value is 90000 s (25 h) in most sources and 1 h in others: whichever the
  server says is used. A reused refresh token gives ``-14014`` or, once observed, an empty
  200 body; both are :class:`OATokenRefused`. A response without a new refresh token (one
  source says Zalo "does not always rotate") keeps the old one.
- Calls (§1.4, §2): the access token travels in an ``access_token`` header; failures come back
  as HTTP 200 with ``error != 0``. Consultation messages go to ``/v3.0/oa/message/cs``; a
  government OA ("OA cơ quan nhà nước") has been seen to get ``-235`` there while
  ``/v2.0/oa/message`` works, so on ``-235`` the same body is sent through v2 (and v2 is
  used from then on for this OA).
- Errors are mapped by code: ``-216``/``-220`` (token invalid/expired: refresh once and retry),
  ``-32`` (rate limit), ``-213 -230 -232`` (the person has not interacted within the window),
  ``-217 -227 -244`` (the person blocked or restricted the OA), other codes: refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_OAUTH_URL",
    "MAX_BUTTONS",
    "MAX_TEXT_LENGTH",
    "OAApiError",
    "OABlocked",
    "OAError",
    "OANetworkError",
    "OAOutsideWindow",
    "OARateLimited",
    "OATokenExpired",
    "OATokenRefused",
    "TokenPair",
    "ZaloOAApi",
]

DEFAULT_API_URL = "https://openapi.zalo.me"
DEFAULT_OAUTH_URL = "https://oauth.zaloapp.com"
MAX_TEXT_LENGTH = 2000
MAX_BUTTONS = 5
# CS button titles: no documented limit; 20 is the strictest seen in working code (§2.4).
MAX_BUTTON_TITLE = 20
_TIMEOUT = httpx.Timeout(15.0, connect=10.0)

TOKEN_CODES = {-216, -220}
WINDOW_CODES = {-213, -230, -232, -305}
BLOCKED_CODES = {-217, -227, -244}
RATE_CODES = {-32}
GOVERNMENT_OA_CODE = -235


class OAError(Exception):
    """Base of everything this client raises."""


class OANetworkError(OAError):
    """No usable answer: connection failure, timeout, an HTTP error status, a body not JSON."""


class OAApiError(OAError):
    """The API answered ``error != 0``."""

    def __init__(self, path: str, code: int, message: str) -> None:
        self.path, self.code, self.message = path, code, message
        super().__init__(f"Zalo OA {path} failed: {code} {message}".rstrip())


class OATokenExpired(OAApiError):
    """-216/-220: the access token is invalid or expired (refresh, then retry once)."""


class OAOutsideWindow(OAApiError):
    """The person has not interacted with the OA recently enough (-230 and kin)."""


class OABlocked(OAApiError):
    """The person blocked or restricted the OA, or is inactive (-217, -227, -244)."""


class OARateLimited(OAApiError):
    """-32: the app's or the OA's request limit."""


class OATokenRefused(OAError):
    """The OAuth server refused the refresh token or the app secret; never quotes either."""


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str | None  # None: the server did not rotate it (keep the old one)
    expires_in: float  # seconds


def _code(value: object) -> int:
    """``error`` is a number, and sometimes a quoted one (§1.3)."""
    try:
        return int(str(value))
    except ValueError:
        return -1


class ZaloOAApi:
    """One OA's calls; ``token`` is passed per call (the channel's token store owns it)."""

    def __init__(
        self,
        *,
        app_id: str,
        app_secret: str,
        client: httpx.AsyncClient,
        api_url: str = DEFAULT_API_URL,
        oauth_url: str = DEFAULT_OAUTH_URL,
    ) -> None:
        self.app_id = app_id
        self._app_secret = app_secret
        self.client = client
        self.api_url = api_url.rstrip("/")
        self.oauth_url = oauth_url.rstrip("/")
        self.v2_only: set[str] = set()  # OAs that answered -235 on v3 (tokens differ per OA)

    # --- OAuth ---------------------------------------------------------------------------
    async def refresh(self, refresh_token: str) -> TokenPair:
        """Spend ``refresh_token`` for a new pair (the old one is dead once this returns)."""
        try:
            response = await self.client.post(
                f"{self.oauth_url}/v4/oa/access_token",
                data={
                    "refresh_token": refresh_token,
                    "app_id": self.app_id,
                    "grant_type": "refresh_token",
                },
                headers={"secret_key": self._app_secret},
                timeout=_TIMEOUT,
            )
        except httpx.HTTPError as error:
            raise OANetworkError(f"Zalo OAuth unreachable: {type(error).__name__}") from None
        if response.status_code >= 500:
            raise OANetworkError(f"Zalo OAuth answered HTTP {response.status_code}")
        if not response.content.strip():
            raise OATokenRefused("the refresh token was refused (empty answer: already used?)")
        try:
            body = response.json()
        except ValueError:
            raise OANetworkError("Zalo OAuth answered something that is not JSON") from None
        if not isinstance(body, Mapping):
            raise OANetworkError("Zalo OAuth answered something that is not an object")
        access = body.get("access_token")
        if not isinstance(access, str) or not access:
            name = body.get("error_name") or body.get("error_description") or body.get("message")
            raise OATokenRefused(
                f"the refresh token was refused ({_code(body.get('error'))} {name})"
            )
        refresh = body.get("refresh_token")
        try:
            expires_in = float(str(body.get("expires_in", "3600")))
        except ValueError:
            expires_in = 3600.0
        return TokenPair(
            access, refresh if isinstance(refresh, str) and refresh else None, expires_in
        )

    # --- calls ---------------------------------------------------------------------------
    async def _call(
        self, method: str, path: str, token: str, *, body: Any = None, query: Any = None
    ) -> Mapping[str, Any]:
        params = {"data": json.dumps(query, separators=(",", ":"))} if query is not None else None
        try:
            response = await self.client.request(
                method,
                f"{self.api_url}{path}",
                json=body,
                params=params,
                headers={"access_token": token},
                timeout=_TIMEOUT,
            )
        except httpx.HTTPError as error:
            raise OANetworkError(f"Zalo OA {path}: {type(error).__name__}") from None
        if response.status_code != 200:
            raise OANetworkError(f"Zalo OA {path}: HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError:
            raise OANetworkError(f"Zalo OA {path}: body is not JSON") from None
        if not isinstance(answer, Mapping):
            raise OANetworkError(f"Zalo OA {path}: body is not an object")
        code = _code(answer.get("error", 0))
        if code == 0:
            return answer
        message = str(answer.get("message") or "")
        kind: type[OAApiError] = OAApiError
        if code in TOKEN_CODES:
            kind = OATokenExpired
        elif code in WINDOW_CODES:
            kind = OAOutsideWindow
        elif code in BLOCKED_CODES:
            kind = OABlocked
        elif code in RATE_CODES:
            kind = OARateLimited
        raise kind(path, code, message)

    async def get_oa(self, token: str) -> Mapping[str, Any]:
        """The OA's profile (``data``): name, oa_type (4 = government OA)…"""
        answer = await self._call("GET", "/v2.0/oa/getoa", token)
        data = answer.get("data")
        return data if isinstance(data, Mapping) else {}

    async def send(self, oa_id: str, token: str, user_id: str, message: Mapping[str, Any]) -> str:
        """Send one consultation message; returns Zalo's message id."""
        body = {"recipient": {"user_id": user_id}, "message": message}
        if oa_id not in self.v2_only:
            try:
                answer = await self._call("POST", "/v3.0/oa/message/cs", token, body=body)
            except OAApiError as error:
                if error.code != GOVERNMENT_OA_CODE:
                    raise
                self.v2_only.add(oa_id)  # a government OA: v2 from now on
            else:
                return _message_id(answer)
        return _message_id(await self._call("POST", "/v2.0/oa/message", token, body=body))


def _message_id(answer: Mapping[str, Any]) -> str:
    data = answer.get("data")
    if isinstance(data, Mapping):
        return str(data.get("message_id") or "")
    return ""
