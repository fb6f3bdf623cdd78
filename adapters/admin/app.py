"""``/admin``: the owner's dashboard (Starlette, server-rendered, no JavaScript needed).

Pages (GET): ``/admin`` (overview), ``/admin/unanswered``, ``/admin/review``,
``/admin/search``, ``/admin/login``. Forms (POST, each with a CSRF token):
``/admin/login``, ``/admin/logout``, ``/admin/review/label``,
``/admin/review/answer``, ``/admin/review/dismiss``, ``/admin/retrain``.

Without ``SHOPKEEP_ADMIN_TOKEN`` every route answers 404 with a page saying
how to turn the dashboard on. Without a session, every page but the login
answers 401 with the login form and no data. Templates are Jinja2 with
autoescaping, so a shopper's message or a product title always shows as
text; a strict Content-Security-Policy forbids inline scripts besides.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from adapters.admin import charts
from adapters.admin.auth import COOKIE, CSRF_FIELD, AdminAuth, NonceStore, Session
from core.analytics import WINDOWS, AnalyticsReader, RecorderStats, Window, window
from core.analytics.cluster import cluster_entries
from core.errors import StorageError
from core.teaching import HeadTrainer, TeachingError, TeachingStore

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
SEARCH_DAYS = (1, 7, 30)
REVIEW_CLUSTERS = 30
_ENTRY_ID = re.compile(r"^[0-9]{1,20}-[0-9]{1,20}$")
_MAX_FORM_BYTES = 512 * 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class BotView:
    """What the dashboard needs of one bot."""

    name: str
    languages: tuple[str, ...]
    intents: Callable[[], frozenset[str]]  # intents it can be taught (those it serves now)


@dataclass
class AdminBackend:
    """Filled in by the server's lifespan once the runtime is open."""

    analytics: AnalyticsReader
    nonces: NonceStore
    bots: Mapping[str, BotView]
    data_dir: Path | None = None
    trainer: HeadTrainer | None = None
    recorder_stats: Callable[[], RecorderStats | None] = lambda: None


@dataclass
class AdminState:
    """The admin app's moving parts: the backend arrives when the runtime is open.

    ``unavailable`` says why there is no backend once the runtime is open (no Redis).
    """

    backend: AdminBackend | None = None
    unavailable: str = ""


def _templates() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = lambda v: "–" if v is None else f"{100 * v:.1f} %"
    env.filters["num"] = lambda v: f"{v:,}".replace(",", " ")
    env.filters["when"] = lambda t: datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M UTC") if t else "–"
    env.filters["duration"] = _duration
    return env


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def admin_routes(*, token: str | None, state: AdminState, session_ttl_s: int = 12 * 3600) -> list[BaseRoute]:
    """The dashboard's routes, every path under ``/admin`` (added to the server's routes).

    Args:
        token: ``SHOPKEEP_ADMIN_TOKEN``; None or empty turns the dashboard off.
        state: where the server's lifespan puts the backend.
        session_ttl_s: how long a login lasts.
    """
    env = _templates()

    def page(name: str, status: int = 200, **values: Any) -> HTMLResponse:
        html = env.get_template(name).render(**values)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    if not token:
        async def off(request: Request) -> Response:
            return page("off.html", 404)

        return [Route("/admin", off, methods=["GET", "POST"]),
                Route("/admin/{path:path}", off, methods=["GET", "POST"])]

    auth_box: dict[str, AdminAuth] = {}

    def auth() -> AdminAuth:
        backend = state.backend
        if backend is None:
            raise StorageError("the dashboard is starting")
        found = auth_box.get("auth")
        if found is None or found.nonces is not backend.nonces:
            found = AdminAuth(token=token, nonces=backend.nonces, session_ttl_s=session_ttl_s)
            auth_box["auth"] = found
        return found

    def set_cookie(response: Response, request: Request, session: Session) -> None:
        response.set_cookie(COOKIE, auth().cookie_value(session), max_age=session_ttl_s, path="/admin",
                            httponly=True, samesite="strict", secure=request.url.scheme == "https")

    async def session_of(request: Request) -> Session | None:
        return await auth().read_cookie(request.cookies.get(COOKIE))

    async def login_page(request: Request, *, status: int, error: str = "", session: Session | None = None) -> Response:
        session = session or await session_of(request)
        if session is None or session.authenticated:
            session = auth().new_session(authenticated=False)
        response = page("login.html", status, error=error, csrf=auth().csrf_token(session), nav=None)
        set_cookie(response, request, session)
        return response

    def guarded(
        handler: Callable[[Request, Session, AdminBackend], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if state.backend is None:
                return not_ready()
            try:
                session = await session_of(request)
                if session is None or not session.authenticated:
                    return await login_page(request, status=401, session=session)
                if request.method == "POST":
                    form = await _form(request)
                    if form is None:
                        return page("message.html", 413, title="Too large", message="That form is too large.",
                                    nav=None)
                    if not await auth().check_csrf(session, str(form.get(CSRF_FIELD) or "")):
                        return page("message.html", 403, title="Refused", nav=None,
                                    message="This form was not sent from the dashboard, or was sent twice. "
                                            "Go back, reload the page and try again.")
                    request.state.form = form
                return await handler(request, session, state.backend)
            except StorageError as e:
                logger.warning("dashboard: storage unavailable: %s", e)
                return page("message.html", 503, title="Unavailable", nav=None,
                            message="The event store (Redis) is not answering; try again shortly.")

        return endpoint

    def common(
        request: Request, session: Session, backend: AdminBackend, active: str, **values: Any
    ) -> dict[str, Any]:
        bots = list(backend.bots)
        return {"nav": active, "csrf": auth().csrf_token(session), "bots": bots, "windows": WINDOWS,
                "recorder": backend.recorder_stats(), **values}

    def chosen_bot(request: Request, backend: AdminBackend) -> str:
        wanted = request.query_params.get("bot", "")
        return wanted if wanted in backend.bots else next(iter(backend.bots), "")

    # --- login / logout -----------------------------------------------------------------
    def not_ready() -> Response:
        if state.unavailable:
            return page("message.html", 503, title="Dashboard unavailable", message=state.unavailable, nav=None)
        return page("message.html", 503, title="Starting", message="The dashboard is starting; try again.", nav=None)

    async def login_get(request: Request) -> Response:
        if state.backend is None:
            return not_ready()
        session = await session_of(request)
        if session is not None and session.authenticated:
            return RedirectResponse("/admin", status_code=303)
        return await login_page(request, status=200, session=session)

    async def login_post(request: Request) -> Response:
        if state.backend is None:
            return not_ready()
        client = request.client.host if request.client else "-"
        try:
            form = await _form(request)
            session = await session_of(request)
            if form is None or not await auth().check_csrf(session, str(form.get(CSRF_FIELD) or "")):
                return page("message.html", 403, title="Refused", nav=None,
                            message="This login form expired or was not sent from this page. Reload it and try again.")
            if auth().too_many_failures(client):
                return page("message.html", 429, title="Too many attempts", nav=None,
                            message="Too many wrong tokens from your address; wait a few minutes.")
            if not auth().token_matches(str(form.get("token") or "")):
                auth().record_failure(client)
                logger.warning("dashboard: wrong admin token from %s", client)
                return await login_page(request, status=401, error="That token is not right.", session=session)
        except StorageError:
            return page("message.html", 503, title="Unavailable", message="Redis is not answering.", nav=None)
        fresh = auth().new_session(authenticated=True)
        response = RedirectResponse("/admin", status_code=303)
        set_cookie(response, request, fresh)
        return response

    async def logout(request: Request, session: Session, backend: AdminBackend) -> Response:
        await auth().revoke(session)
        response = RedirectResponse("/admin/login", status_code=303)
        response.delete_cookie(COOKIE, path="/admin")
        return response

    # --- pages -------------------------------------------------------------------------------
    async def overview(request: Request, session: Session, backend: AdminBackend) -> Response:
        started = time.perf_counter()
        win = window(request.query_params.get("window", "24h"))
        data = await backend.analytics.overview(win)
        labels = [_bucket_label(p.start, win) for p in data.trend]
        trend = charts.line_chart(
            [("messages", [p.messages for p in data.trend]), ("sessions", [p.sessions for p in data.trend]),
             ("unanswered", [p.unanswered for p in data.trend]), ("handoffs", [p.handoffs for p in data.trend])],
            labels, title=f"Messages, sessions, unanswered messages and handoffs, {win.label}", chart_id="trend")
        csat = charts.bar_chart([(f"{r} ★", data.csat[r]) for r in range(5, 0, -1)],
                                title=f"Ratings after a handoff, {win.label}", chart_id="csat")
        response = page("overview.html", **common(request, session, backend, "overview", data=data, win=win,
                                                  trend=trend, csat_chart=csat))
        response.headers["Server-Timing"] = f"render;dur={1000 * (time.perf_counter() - started):.1f}"
        return response

    async def unanswered(request: Request, session: Session, backend: AdminBackend) -> Response:
        bot = chosen_bot(request, backend)
        win = window(request.query_params.get("window", "7d"))
        entries = await backend.analytics.unanswered(bot=bot, since=time.time() - win.count * win.bucket_s)
        clusters = cluster_entries(entries)
        return page("unanswered.html", **common(request, session, backend, "unanswered", bot=bot, win=win,
                                                clusters=clusters, total=len(entries)))

    async def review(request: Request, session: Session, backend: AdminBackend, *, status: int = 200,
                     error: TeachingError | None = None, error_group: str = "") -> Response:
        bot = chosen_bot(request, backend)
        entries = await backend.analytics.unanswered(bot=bot)
        clusters = cluster_entries(entries)[:REVIEW_CLUSTERS]
        store = _teaching(backend, bot)
        teaching = store.load() if store is not None else None
        training = await backend.trainer.status(bot) if backend.trainer is not None and bot else None
        view = backend.bots.get(bot)
        return page("review.html", status, **common(
            request, session, backend, "review", bot=bot, clusters=clusters, teaching=teaching,
            teaching_path=store.path if store else None, training=training,
            intents=sorted(view.intents()) if view else [], languages=view.languages if view else (),
            error=error, error_group=error_group, saved=request.query_params.get("saved", ""),
            can_retrain=backend.trainer is not None))

    async def search(request: Request, session: Session, backend: AdminBackend) -> Response:
        try:
            days = int(request.query_params.get("days", "7"))
        except ValueError:
            days = 7
        days = days if days in SEARCH_DAYS else 7
        report = await backend.analytics.search(days)
        return page("search.html", **common(request, session, backend, "search", report=report, days=days,
                                            day_choices=SEARCH_DAYS))

    # --- review actions ------------------------------------------------------------------------
    async def selected(request: Request, backend: AdminBackend) -> tuple[str, list[str], list[str]]:
        """The bot, the chosen entry ids and their stored (masked) texts."""
        form: FormData = request.state.form
        bot = str(form.get("bot") or "")
        if bot not in backend.bots:
            raise TeachingError("bot", "unknown bot")
        ids = [i for raw in form.getlist("ids") for i in str(raw).split() if _ENTRY_ID.match(i)]
        if form.get("all"):
            ids += [i for i in str(form.get("group") or "").split() if _ENTRY_ID.match(i)]
        found = [e for e in await backend.analytics.entries(list(dict.fromkeys(ids))[:5000]) if e.bot == bot]
        return bot, [e.id for e in found], [e.text for e in found]

    async def label(request: Request, session: Session, backend: AdminBackend) -> Response:
        form: FormData = request.state.form
        group = str(form.get("group_no") or "")
        try:
            bot, ids, texts = await selected(request, backend)
            store = _require_teaching(backend, bot)
            intent = str(form.get("intent") or "")
            added = store.add_examples(texts, intent, known=set(backend.bots[bot].intents()))
        except TeachingError as e:
            return await review(request, session, backend, status=400, error=e, error_group=group)
        await backend.analytics.remove_unanswered(ids)
        return RedirectResponse(f"/admin/review?bot={bot}&saved=label:{intent}:{added}", status_code=303)

    async def answer(request: Request, session: Session, backend: AdminBackend) -> Response:
        form: FormData = request.state.form
        group = str(form.get("group_no") or "")
        try:
            bot, ids, texts = await selected(request, backend)
            store = _require_teaching(backend, bot)
            extra = [line for line in str(form.get("more") or "").splitlines() if line.strip()]
            view = backend.bots[bot]
            taught = store.add_answer(
                title=str(form.get("title") or ""),
                answers={lang: str(form.get(f"answer_{lang}") or "") for lang in view.languages},
                examples=[*texts, *extra], languages=view.languages, known=set(view.intents()))
        except TeachingError as e:
            return await review(request, session, backend, status=400, error=e, error_group=group)
        await backend.analytics.remove_unanswered(ids)
        return RedirectResponse(f"/admin/review?bot={bot}&saved=answer:{taught.intent}:{len(taught.examples)}",
                                status_code=303)

    async def dismiss(request: Request, session: Session, backend: AdminBackend) -> Response:
        try:
            bot, ids, _ = await selected(request, backend)
        except TeachingError as e:
            return await review(request, session, backend, status=400, error=e)
        removed = await backend.analytics.remove_unanswered(ids)
        return RedirectResponse(f"/admin/review?bot={bot}&saved=dismiss:-:{removed}", status_code=303)

    async def retrain(request: Request, session: Session, backend: AdminBackend) -> Response:
        form: FormData = request.state.form
        bot = str(form.get("bot") or "")
        if bot not in backend.bots or backend.trainer is None:
            return page("message.html", 400, title="Cannot retrain", nav=None,
                        message="Retraining needs SHOPKEEP_DATA_DIR and a known bot.")
        started = await backend.trainer.start(bot)
        return RedirectResponse(f"/admin/review?bot={bot}&saved=retrain:{'started' if started else 'running'}:0",
                                status_code=303)

    return [
        Route("/admin", guarded(overview), methods=["GET"]),
        Route("/admin/", guarded(overview), methods=["GET"]),
        Route("/admin/unanswered", guarded(unanswered), methods=["GET"]),
        Route("/admin/review", guarded(review), methods=["GET"]),
        Route("/admin/search", guarded(search), methods=["GET"]),
        Route("/admin/login", login_get, methods=["GET"]),
        Route("/admin/login", login_post, methods=["POST"]),
        Route("/admin/logout", guarded(logout), methods=["POST"]),
        Route("/admin/review/label", guarded(label), methods=["POST"]),
        Route("/admin/review/answer", guarded(answer), methods=["POST"]),
        Route("/admin/review/dismiss", guarded(dismiss), methods=["POST"]),
        Route("/admin/retrain", guarded(retrain), methods=["POST"]),
        Mount("/admin/static", StaticFiles(directory=HERE / "static"), name="admin-static"),
    ]


async def _form(request: Request) -> FormData | None:
    """The posted form, or None when it is larger than a dashboard form can be."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > _MAX_FORM_BYTES):
        return None
    return await request.form(max_files=0, max_fields=10_000)


def _teaching(backend: AdminBackend, bot: str) -> TeachingStore | None:
    return TeachingStore(backend.data_dir, bot) if backend.data_dir is not None and bot else None


def _require_teaching(backend: AdminBackend, bot: str) -> TeachingStore:
    store = _teaching(backend, bot)
    if store is None:
        raise TeachingError("data_dir", "teaching needs SHOPKEEP_DATA_DIR (a folder outside the installed package)")
    return store


def _bucket_label(start: float, win: Window) -> str:
    moment = datetime.fromtimestamp(start, UTC)
    if win.grain == "d":
        return moment.strftime("%d %b")
    return moment.strftime("%H:00") if win.count <= 24 else moment.strftime("%a %H:00")
