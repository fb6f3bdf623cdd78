"""The ASGI app: Slack and Telegram webhooks, health, readiness and metrics.

Routes::

    POST /slack/events      Slack events, slash commands and interactivity (one URL, as Bolt does)
    POST /telegram/webhook  Telegram updates (secret-token checked)
    POST /shopify/webhooks  Shopify webhooks (HMAC checked), when a Shopify shop is connected
    GET  /healthz           the process is alive
    GET  /readyz            the runtime (models) is loaded and the store answers
    GET  /metrics           Prometheus exposition
    /admin                  the owner's dashboard (see adapters.admin.app), behind SHOPKEEP_ADMIN_TOKEN

Which platforms are served: ``SHOPKEEP_PLATFORMS`` (``slack,telegram``) when
set, else every platform whose bot token is set. A served platform must be
fully configured, or start-up stops with an error naming the variable.
Telegram is served here only in webhook mode; polling runs in ``shopkeep
telegram-poll``. Slack uses Socket Mode too when ``SLACK_APP_TOKEN`` is set.

Live handoff writes across platforms, so for each platform this process
does not serve but has a bot token for (Telegram in polling mode, say), a
send-only outbox is registered: it posts, and never polls, touches the
webhook or answers updates.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters import shopify as shopify_webhooks
from adapters.admin.app import AdminBackend, AdminState, BotView, admin_routes
from adapters.metrics import AdapterMetrics
from adapters.slack import SlackAdapter, SlackOutbox
from adapters.telegram import TelegramAdapter, TelegramOutbox
from adapters.types import RuntimeOpener, ServedBot, ServingRuntime
from core.commerce.notify import Notifier
from core.errors import ConfigError, StorageError
from core.handoff import HandoffService
from core.messages import Platform
from core.outbox import OutboxRouter
from core.protocols import CacheStats, CachingTextEncoder, SessionStore
from core.settings import Settings

logger = logging.getLogger(__name__)

SERVABLE = (Platform.SLACK, Platform.TELEGRAM)
TELEGRAM_MODES = ("polling", "webhook")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def enabled_platforms(settings: Settings) -> tuple[Platform, ...]:
    """The platforms to serve (see the module docstring for the rule).

    Raises:
        ConfigError: If ``SHOPKEEP_PLATFORMS`` names an unknown platform.
    """
    listed = [name.strip().lower() for name in settings.platforms.split(",") if name.strip()]
    if not listed:
        auto = {Platform.SLACK: settings.slack_bot_token, Platform.TELEGRAM: settings.telegram_bot_token}
        return tuple(p for p in SERVABLE if auto[p])
    known = {p.value: p for p in SERVABLE}
    unknown = [name for name in listed if name not in known]
    if unknown:
        raise ConfigError("SHOPKEEP_PLATFORMS", f"names unknown platform(s) {unknown}; use slack, telegram")
    return tuple(p for p in SERVABLE if p.value in listed)


def check_settings(settings: Settings, platforms: tuple[Platform, ...], *, telegram_webhook: bool) -> None:
    """Fail early, naming the missing variable, for each platform to be served.

    Raises:
        ConfigError: A required token or secret is missing or a mode is unknown.
    """
    if settings.telegram_mode not in TELEGRAM_MODES:
        raise ConfigError("SHOPKEEP_TELEGRAM_MODE", f"must be one of {TELEGRAM_MODES}, not {settings.telegram_mode!r}")
    if Platform.SLACK in platforms:
        settings.require("slack_bot_token")
        if not settings.slack_app_token:  # HTTP mode: every request is signed
            settings.require("slack_signing_secret")
    if Platform.TELEGRAM in platforms:
        settings.require("telegram_bot_token")
        if telegram_webhook:
            settings.require("telegram_webhook_secret")


@dataclass
class _Serving:
    """What the lifespan opens; the routes read it."""

    runtime: ServingRuntime | None = None
    slack: SlackAdapter | None = None
    telegram: TelegramAdapter | None = None
    telegram_outbox: TelegramOutbox | None = None
    ready: bool = False


async def _deliver_notifications(notifier: Notifier) -> None:
    """Send due opt-in messages (shipping, back in stock) until cancelled."""
    await notifier.run()


async def _sweep_forever(handoff: HandoffService, every_s: float) -> None:
    """Expire unclaimed handoff tickets every ``every_s`` seconds until cancelled."""
    while True:
        await asyncio.sleep(every_s)
        try:
            expired = await handoff.sweep()
        except StorageError as error:  # the store is down: try again next round
            logger.warning("handoff sweep failed: %s", error)
            continue
        if expired:
            logger.info("handoff sweep: %d ticket(s) expired", expired)


def _register_send_only(
    outbox: OutboxRouter,
    serving: _Serving,
    settings: Settings,
    *,
    store: SessionStore,
    metrics: AdapterMetrics,
    slack_served: bool,
    telegram_served: bool,
) -> None:
    """Register a send-only outbox for each platform not served here that has a bot token."""
    if not slack_served and settings.slack_bot_token:
        outbox.register(Platform.SLACK, SlackOutbox(settings=settings, store=store))
        logger.info("slack: send-only outbox (not served here)")
    if not telegram_served and settings.telegram_bot_token:
        serving.telegram_outbox = TelegramOutbox(settings=settings, bot=settings.telegram_bot, store=store,
                                                 metrics=metrics)
        outbox.register(Platform.TELEGRAM, serving.telegram_outbox)
        logger.info("telegram: send-only outbox (served by telegram-poll, or not here)")


def _embedding_cache_stats(runtime: ServingRuntime | None) -> CacheStats | None:
    """The serving encoder's cache counters, when the runtime has an encoder with a cache."""
    encoder = runtime.encoder if runtime is not None else None
    return encoder.cache_stats() if isinstance(encoder, CachingTextEncoder) else None


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message}, status_code=status)


def create_app(
    settings: Settings,
    runtime: ServingRuntime | RuntimeOpener,
    *,
    metrics: AdapterMetrics | None = None,
) -> Starlette:
    """Build the app; nothing connects until its lifespan starts.

    Args:
        settings: Read once by the caller and passed down.
        runtime: A built runtime (its owner closes it), or a coroutine function
            ``opener(bots)`` the lifespan calls to build one (and closes at shutdown).
        metrics: Where metrics go; a fresh registry by default.

    Raises:
        ConfigError: A served platform is missing a setting.
    """
    platforms = enabled_platforms(settings)
    telegram_webhook = Platform.TELEGRAM in platforms and settings.telegram_mode == "webhook"
    check_settings(settings, platforms, telegram_webhook=telegram_webhook)
    serve_slack = Platform.SLACK in platforms
    # The staff helpdesk rides on the Slack app when staff channels or a handoff channel are set.
    serve_staff = serve_slack and bool(settings.staff_channels or settings.handoff_channel)
    bots = list(dict.fromkeys(
        [settings.slack_bot] * serve_slack + [settings.staff_bot] * serve_staff
        + [settings.telegram_bot] * telegram_webhook
    ))
    if settings.admin_token and not bots:  # a dashboard-only process still needs the bots it reviews
        bots = list(dict.fromkeys([settings.telegram_bot, settings.slack_bot]))
    metrics = metrics if metrics is not None else AdapterMetrics()
    serving = _Serving()
    admin = AdminState()
    metrics.watch_embedding_cache(lambda: _embedding_cache_stats(serving.runtime))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        owned = callable(runtime)
        opened: ServingRuntime = await runtime(bots) if callable(runtime) else runtime
        serving.runtime = opened
        socket = None
        sweeper: asyncio.Task[None] | None = None
        handoff = opened.handoff
        notifications: asyncio.Task[None] | None = None
        # A runtime with a handoff service has an outbox router the adapters register into.
        outbox = opened.outbox
        opened.event_observers.append(metrics.observe_event)
        try:
            if serve_slack:
                bot = settings.slack_bot
                staff = opened.managers.get(settings.staff_bot) if serve_staff else None
                serving.slack = SlackAdapter(
                    settings=settings,
                    handler=metrics.instrument(opened.managers[bot].handle, platform="slack", bot=bot),
                    bot=bot,
                    store=opened.store,
                    metrics=metrics,
                    staff_handler=None if staff is None else metrics.instrument(
                        staff.handle, platform="slack", bot=settings.staff_bot
                    ),
                    commands={name: manager.command_menu for name, manager in opened.managers.items()},
                )
                if outbox is not None:
                    outbox.register(Platform.SLACK, serving.slack)
                if settings.slack_app_token:
                    socket = serving.slack.socket_mode_handler()
                    await socket.connect_async()
            if telegram_webhook:
                bot = settings.telegram_bot
                serving.telegram = TelegramAdapter(
                    settings=settings,
                    handler=metrics.instrument(opened.managers[bot].handle, platform="telegram", bot=bot),
                    bot=bot,
                    store=opened.store,
                    metrics=metrics,
                    commands=opened.managers[bot].command_menu,
                )
                await serving.telegram.start()
                if outbox is not None:
                    outbox.register(Platform.TELEGRAM, serving.telegram)
            if outbox is not None:
                _register_send_only(outbox, serving, settings, store=opened.store, metrics=metrics,
                                    slack_served=serve_slack, telegram_served=telegram_webhook)
            if handoff is not None:
                handoff.relay_observers.append(metrics.observe_relay)
                sweeper = asyncio.create_task(_sweep_forever(handoff, settings.handoff_sweep_every_s))
            _open_admin(admin, opened, settings)
            notifier = opened.notifier
            if notifier is not None and outbox is not None:
                notifications = asyncio.create_task(_deliver_notifications(notifier))
            serving.ready = True
            logger.info("serving platforms=%s bots=%s", [p.value for p in platforms], bots)
            yield
        finally:
            serving.ready = False
            admin.backend = None
            with contextlib.suppress(ValueError):
                opened.event_observers.remove(metrics.observe_event)
            if handoff is not None:
                with contextlib.suppress(ValueError):
                    handoff.relay_observers.remove(metrics.observe_relay)
            for task in (sweeper, notifications):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if outbox is not None:
                for platform in SERVABLE:
                    outbox.unregister(platform)
            if socket is not None:
                await socket.close_async()
            if serving.telegram is not None:
                await serving.telegram.stop()
            if serving.telegram_outbox is not None:
                await serving.telegram_outbox.aclose()
                serving.telegram_outbox = None
            if owned:
                await opened.aclose()

    async def slack_events(request: Request) -> Response:
        if serving.slack is None or not settings.slack_signing_secret:
            return _error(404, "slack is not served over HTTP here")
        return await serving.slack.handle_http(request)

    async def telegram_webhook_route(request: Request) -> Response:
        adapter = serving.telegram
        if adapter is None:
            return _error(404, "telegram webhook is not enabled")
        expected = str(settings.telegram_webhook_secret).encode()
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            return _error(403, "bad secret token")
        try:
            data: Any = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return _error(400, "malformed JSON")
        if not isinstance(data, dict):
            return _error(400, "an update must be a JSON object")
        try:
            update = adapter.parse_update(data)
        except ValueError:
            return _error(400, "not a Telegram update")
        adapter.submit(update)
        return JSONResponse({"ok": True})

    async def shopify_webhook_route(request: Request) -> Response:
        shop = serving.runtime.shopify if serving.runtime is not None else None
        if shop is None:
            return _error(404, "no Shopify shop is connected")
        return await shopify_webhooks.handle_webhook(request, shop.events)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        if not serving.ready or serving.runtime is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        try:
            store_ok = await serving.runtime.store.ping()
        except (StorageError, OSError) as error:
            logger.warning("readyz: store unavailable: %s", error)
            store_ok = False
        if not store_ok:
            return JSONResponse({"status": "unavailable", "store": False}, status_code=503)
        shop = serving.runtime.shopify
        problem = shop.backend.problem if shop is not None else None
        if problem:
            # Still serving (search runs on the last synced catalogue), but orders cannot be reached.
            return JSONResponse({"status": "degraded", "store": True, "bots": bots, "shopify": problem})
        return JSONResponse({"status": "ready", "store": True, "bots": bots,
                             **({"shopify": "ok"} if shop is not None else {})})

    async def metrics_route(request: Request) -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    app = Starlette(
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/telegram/webhook", telegram_webhook_route, methods=["POST"]),
            Route(shopify_webhooks.PATH, shopify_webhook_route, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_route, methods=["GET"]),
            *admin_routes(token=settings.admin_token, state=admin, session_ttl_s=settings.admin_session_ttl_s),
        ],
        lifespan=lifespan,
    )
    app.state.serving = serving
    app.state.metrics = metrics
    app.state.admin = admin
    return app


def _open_admin(admin: AdminState, runtime: ServingRuntime, settings: Settings) -> None:
    """Give the dashboard what the opened runtime has (analytics need Redis)."""
    analytics, nonces = runtime.analytics, runtime.nonces
    if analytics is None or nonces is None:
        admin.unavailable = "The dashboard reads events recorded in Redis: set REDIS_URL and restart the server."
        return
    recorder = runtime.recorder
    admin.backend = AdminBackend(
        analytics=analytics, nonces=nonces, data_dir=settings.data_dir, trainer=runtime.trainer,
        bots={name: _bot_view(name, manager, settings) for name, manager in runtime.managers.items()},
        recorder_stats=lambda: None if recorder is None else recorder.stats,
    )


def _bot_view(name: str, manager: ServedBot, settings: Settings) -> BotView:
    from core.teaching import TeachingError, TeachingStore

    def intents() -> frozenset[str]:
        served = {label for label in manager.classifier.labels if label != "out_of_scope"} | set(manager.answers)
        if settings.data_dir is not None:
            try:
                served |= TeachingStore(settings.data_dir, name).load().answer_intents()
            except TeachingError as e:
                logger.warning("teaching data of %s unreadable: %s", name, e)
        return frozenset(served)

    return BotView(name=name, languages=tuple(manager.bot.languages), intents=intents)
