"""The officials' dashboard: server-rendered pages on the webhook server (bot/webhook.py).

Routes (all but the sign-in pages need a session; without one a page redirects to /dang-nhap,
which says to type /web in the chat, and the API answers 401; nothing is revealed either way):
- ``GET /login/<token>``: the one-time link from /web. It shows a button, and only the button's
  POST uses the link, so a chat app that fetches the link for a preview does not use it up.
  A used, expired or unknown link shows one page that says to ask the bot again.
- ``GET /`` and ``GET /u/<code>``: an area against the plan's five targets, its child units
  (sortable by links), a 14-day chart, members without a report, open home-visit requests.
- ``GET /api/stats/<code>.json``: what ``python -m bot stats --unit CODE --json`` prints.
- ``GET /export.xlsx?unit=CODE``: the /xuat workbook.
- ``GET /invite``, ``POST /invite``, ``GET /invite/<code>``: invites with /moi's rules and a
  printable page with QR codes.
- ``POST /logout``: this browser, or (``all=1``) every browser of the person.

Scope is decided by handlers/services/dashboard.py with the same checks as /thongke and /xuat;
anything out of scope (or unknown) answers 403 with a plain page. POST forms carry a token
derived from the session (handlers/services/web_access.py) and must not come from another
origin. Pages are never cached, never framed, and send no Referer to other sites (the link holds a token).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import jinja2
from aiohttp import web

from bot.app import App
from bot.config import CONTENT
from bot.dashboard import charts, qr
from core import roles
from core.errors import DomainError, NotAllowed
from db.models import Person
from handlers.services import dashboard, web_access

log = logging.getLogger(__name__)

COOKIE = "tcn_phien"
TEMPLATES = CONTENT / "web"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Same-origin: another site never sees a URL (a sign-in link holds a token), and forms
    # posted here keep their Origin header (with no-referrer, Chromium sends "null").
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
KIND_LABELS = {"province": "Tỉnh", "district": "Huyện", "commune": "Xã", "village": "Thôn"}
CHILD_KINDS = {"province": "huyện", "district": "xã", "commune": "thôn"}


class Dashboard:
    """The dashboard's routes over the app's services and database."""

    def __init__(self, app: App, *, clock: Callable[[], datetime] | None = None) -> None:
        self.app = app
        self.services = app.services
        self.set_base_url(app.settings.web_base_url or "")
        self.clock = clock or (lambda: datetime.now(UTC))
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(self.services.texts.env.filters)
        self.env.globals["kind_label"] = lambda kind: KIND_LABELS.get(kind, kind)
        self.env.globals["child_kind"] = lambda kind: CHILD_KINDS.get(kind, "đơn vị")
        self.env.globals["role_label"] = lambda role: self.services.texts.render(
            f"labels.role.{role}"
        )

    # --- plumbing ---------------------------------------------------------------------------
    def set_base_url(self, base: str) -> None:
        """Where the dashboard is reached (WEB_BASE_URL): the links /web sends, the origin a
        form must come from, and whether the cookie is Secure (https)."""
        self.base_url = base.rstrip("/")
        self.services.web_base_url = self.base_url or None
        parts = urlsplit(self.base_url)
        self.origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""
        self.secure = parts.scheme == "https"

    def install(self, app: web.Application) -> None:
        app.middlewares.append(self._middleware)
        app.router.add_get("/", self.home)
        app.router.add_get("/u/{code}", self.unit_page)
        app.router.add_get("/api/stats/{code}.json", self.api_stats)
        app.router.add_get("/export.xlsx", self.export)
        app.router.add_get("/login/{token}", self.login_page)
        app.router.add_post("/login/{token}", self.login)
        app.router.add_get("/dang-nhap", self.need_login)
        app.router.add_post("/logout", self.logout)
        app.router.add_get("/invite", self.invite_form)
        app.router.add_post("/invite", self.invite_create)
        app.router.add_get("/invite/{code}", self.invite_print)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except DomainError:
            response = self.page("forbidden.html", status=403)
        except web.HTTPNotFound:
            response = self.page("not_found.html", status=404)
        except web.HTTPException as error:
            self._secure(request, error.headers)
            raise
        self._secure(request, response.headers)
        return response

    @staticmethod
    def _secure(request: web.Request, headers: Any) -> None:
        if not request.path.startswith("/webhook/") and request.path != "/healthz":
            for name, value in _SECURITY_HEADERS.items():
                headers.setdefault(name, value)

    def now(self) -> datetime:
        return self.clock()

    def today(self) -> Any:
        return self.now().astimezone(self.services.tz).date()

    def page(self, name: str, *, status: int = 200, **values: Any) -> web.Response:
        html = self.env.get_template(name).render(**values)
        return web.Response(status=status, text=html, content_type="text/html", charset="utf-8")

    async def _person(self, request: web.Request) -> Person | None:
        async with self.app.db.read() as conn:
            return await web_access.person_of(conn, request.cookies.get(COOKIE), self.now())

    async def _signed_in(self, request: web.Request) -> Person:
        person = await self._person(request)
        if person is None:
            raise web.HTTPSeeOther("/dang-nhap")
        return person

    async def _form(self, request: web.Request) -> tuple[Person, Any]:
        """A POSTed form of a signed-in person, from this site, with the session's token."""
        person = await self._signed_in(request)
        origin = request.headers.get("Origin")
        if origin is not None and self.origin and origin != self.origin:
            raise NotAllowed(action="web")
        form = await request.post()
        if not web_access.csrf_ok(request.cookies.get(COOKIE, ""), str(form.get("csrf", ""))):
            raise NotAllowed(action="web")
        return person, form

    def _common(self, request: web.Request, person: Person) -> dict[str, Any]:
        return {
            "person": person,
            "csrf": web_access.csrf_token(request.cookies.get(COOKIE, "")),
            "may_invite": bool(roles.invitable_roles(person.role)),
        }

    # --- signing in and out -----------------------------------------------------------------
    async def login_page(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        async with self.app.db.read() as conn:
            usable = await web_access.link_usable(conn, token, self.now())
        if not usable:
            return self.page("link_used.html", status=410)
        return self.page("login.html", token=token)

    async def login(self, request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is not None and self.origin and origin != self.origin:
            return self.page("link_used.html", status=410)
        async with self.app.db.transaction() as conn:
            session = await web_access.redeem(conn, request.match_info["token"], self.now())
        if session is None:
            return self.page("link_used.html", status=410)
        response = web.Response(status=303, headers={"Location": "/"})
        response.set_cookie(
            COOKIE,
            session,
            max_age=int(web_access.SESSION_TTL.total_seconds()),
            path="/",
            httponly=True,
            samesite="Lax",
            secure=self.secure,
        )
        return response

    async def need_login(self, request: web.Request) -> web.Response:
        return self.page("need_login.html", status=401)

    async def logout(self, request: web.Request) -> web.StreamResponse:
        person, form = await self._form(request)
        async with self.app.db.transaction() as conn:
            if form.get("all") == "1":
                await web_access.end_all(conn, person)
            else:
                await web_access.sign_out(conn, request.cookies.get(COOKIE, ""))
        response = self.page("signed_out.html")
        response.del_cookie(COOKIE, path="/")
        return response

    # --- pages ------------------------------------------------------------------------------
    async def home(self, request: web.Request) -> web.Response:
        return await self._area(request, None)

    async def unit_page(self, request: web.Request) -> web.Response:
        return await self._area(request, request.match_info["code"])

    async def _area(self, request: web.Request, code: str | None) -> web.Response:
        person = await self._signed_in(request)
        query = request.query
        try:
            quiet_days = int(query.get("days", dashboard.QUIET_DEFAULT))
        except ValueError:
            quiet_days = dashboard.QUIET_DEFAULT
        async with self.app.db.read() as conn:
            area = await dashboard.area(
                conn,
                self.services,
                person,
                code,
                self.today(),
                sort=query.get("sort", "name"),
                descending=query.get("dir") == "desc",
                quiet_days=quiet_days,
            )
        chart = charts.trend_svg(
            [(day, row.get("households_visited", 0)) for day, row in area.trend],
            title=f"Số hộ được hướng dẫn mỗi ngày, {dashboard.TREND_DAYS} ngày qua",
            unit_label="hộ",
        )
        topics = {r.id: self._topic(r.topic) for r in area.requests}
        return self.page(
            "area.html",
            area=area,
            d=area.digest,
            chart=chart,
            topics=topics,
            plan=self.services.plan,
            quiet_choices=dashboard.QUIET_DAYS,
            here=request.path,
            tz=self.services.tz,
            **self._common(request, person),
        )

    def _topic(self, topic: str) -> str:
        texts = self.services.texts
        key = f"labels.category.{topic}"
        return texts.render(key) if texts.has(key) else texts.render("labels.other_topic")

    async def api_stats(self, request: web.Request) -> web.Response:
        person = await self._person(request)
        if person is None:
            return web.json_response({"error": "sign in first"}, status=401)
        async with self.app.db.read() as conn:
            try:
                body = await dashboard.stats_json(
                    conn, self.services, person, request.match_info["code"]
                )
            except DomainError:
                return web.json_response({"error": "forbidden"}, status=403)
        return web.Response(text=body, content_type="application/json", charset="utf-8")

    async def export(self, request: web.Request) -> web.Response:
        person = await self._signed_in(request)
        async with self.app.db.read() as conn:
            name, content = await dashboard.export(
                conn, self.services, person, request.query.get("unit") or None, self.today()
            )
        return web.Response(
            body=content,
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    # --- invites ----------------------------------------------------------------------------
    async def invite_form(self, request: web.Request) -> web.Response:
        person = await self._signed_in(request)
        async with self.app.db.read() as conn:
            options = await dashboard.invite_options(conn, person)
        return self.page(
            "invite_form.html",
            options=options,
            uses=dashboard.invites.OFFERED_USES,
            days=dashboard.invites.OFFERED_EXPIRY.days,
            **self._common(request, person),
        )

    async def invite_create(self, request: web.Request) -> web.StreamResponse:
        person, form = await self._form(request)
        try:
            uses = int(str(form.get("uses", "")))
        except ValueError:
            raise web.HTTPBadRequest(text="bad request") from None
        async with self.app.db.transaction() as conn:
            invite = await dashboard.create_invite(
                conn,
                person,
                str(form.get("role", "")),
                str(form.get("unit", "")),
                uses,
                self.now(),
            )
        raise web.HTTPSeeOther(f"/invite/{invite.code}")

    async def invite_print(self, request: web.Request) -> web.Response:
        person = await self._signed_in(request)
        async with self.app.db.read() as conn:
            invite, unit = await dashboard.own_invite(conn, person, request.match_info["code"])
        username = self.services.telegram_username
        telegram = f"https://t.me/{username}?start={invite.code}" if username else None
        zalo = self.app.settings.zalo_bot_link
        return self.page(
            "invite_print.html",
            invite=invite,
            unit=unit,
            expires=invite.expires_at.astimezone(self.services.tz),
            telegram=telegram,
            telegram_qr=qr.svg(telegram) if telegram else None,
            zalo=zalo,
            zalo_qr=qr.svg(zalo) if zalo else None,
            **self._common(request, person),
        )
