"""`shopkeep serve` (the ASGI app under uvicorn) and `shopkeep telegram-poll`.

Heavy imports happen inside the commands so ``shopkeep --help`` stays instant.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from core.errors import ShopkeepError

if TYPE_CHECKING:
    import asyncio

    from starlette.applications import Starlette

    from adapters.types import RuntimeOpener, ServingRuntime
    from core.settings import Settings

logger = logging.getLogger(__name__)
err = Console(stderr=True)


def _opener(settings: Settings) -> RuntimeOpener:
    async def open_runtime(bots: Sequence[str]) -> ServingRuntime:
        from bots.runtime import build_runtimes

        return await build_runtimes(settings, bots=list(bots))

    return open_runtime


def build_app(settings: Settings) -> Starlette:
    """The production app: runtimes are built by the lifespan, inside uvicorn's loop."""
    from adapters.asgi import create_app

    return create_app(settings, _opener(settings))


def app_factory() -> Starlette:
    """For ``uvicorn --factory bots.commands.serve:app_factory`` (settings from the environment)."""
    from core.settings import Settings

    return build_app(Settings())


# `serve --workers N` hands its log level to the worker processes it spawns.
_WORKER_LOG_LEVEL = "_SHOPKEEP_WORKER_LOG_LEVEL"


def worker_app() -> Starlette:
    """What each process of ``serve --workers N`` serves: logs masked as in one process, then the app."""
    from core.logs import configure_logging

    configure_logging(os.environ.get(_WORKER_LOG_LEVEL, "INFO").upper())
    return app_factory()


def threads_per_worker(workers: int, cores: int) -> int:
    """ONNX Runtime threads for each of ``workers`` processes sharing ``cores`` (at least 1)."""
    return max(1, cores // max(1, workers))


def _fail(error: ShopkeepError) -> None:
    err.print(f"[red]error:[/red] {error}")
    raise typer.Exit(code=2)


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``telegram-poll`` to the root app."""

    @app.command()
    def serve(
        port: int = typer.Option(8000, "--port", envvar="PORT", help="Port to listen on ($PORT on most hosts)."),
        host: str = typer.Option("0.0.0.0", "--host", help="Interface to bind."),
        log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
        workers: int = typer.Option(
            1, "--workers", min=1, envvar="WEB_CONCURRENCY",
            help="Server processes on the one port; each loads its own models ($WEB_CONCURRENCY).",
        ),
    ) -> None:
        """Serve Slack (HTTP and/or Socket Mode) and the Telegram webhook, plus /healthz, /readyz, /metrics.

        With ``--workers N`` uvicorn runs N processes that share the port (the
        kernel spreads connections) and restarts any that dies. They share
        nothing but Redis, whose conversation locks and delivery marks keep
        them consistent; without ``REDIS_URL`` each would keep its own
        conversations, so several workers need it. Unless
        ``SHOPKEEP_INTRA_OP_THREADS`` is set, each worker gets an equal share
        of the cores for ONNX Runtime.
        """
        import uvicorn

        from core.errors import ConfigError
        from core.logs import configure_logging
        from core.settings import Settings

        configure_logging(log_level.upper())
        settings = Settings()
        try:
            if workers > 1 and not settings.redis_url:
                raise ConfigError("REDIS_URL", "is missing: --workers above 1 share conversations through Redis.")
            application = build_app(settings)  # checks every setting before any worker starts
        except ShopkeepError as error:
            _fail(error)
        # log_config=None: uvicorn's loggers propagate to the root handler, whose filter masks personal data.
        options: dict[str, Any] = {"host": host, "port": port, "log_level": log_level, "proxy_headers": True, "log_config": None}
        if workers == 1:
            uvicorn.run(application, **options)
            return
        from models.encoder import default_threads

        os.environ[_WORKER_LOG_LEVEL] = log_level
        if not settings.intra_op_threads:
            os.environ["SHOPKEEP_INTRA_OP_THREADS"] = str(threads_per_worker(workers, default_threads()))
        uvicorn.run(f"{__name__}:worker_app", factory=True, workers=workers, **options)

    @app.command("telegram-poll")
    def telegram_poll(
        log_level: str = typer.Option("info", "--log-level", help="Logging level."),
    ) -> None:
        """Serve Telegram by long polling (when SHOPKEEP_TELEGRAM_MODE=polling, the default)."""
        import asyncio

        from core.errors import ConfigError
        from core.logs import configure_logging
        from core.settings import Settings

        configure_logging(log_level.upper())
        settings = Settings()
        try:
            settings.require("telegram_bot_token")
            if settings.telegram_mode != "polling":
                raise ConfigError(
                    "SHOPKEEP_TELEGRAM_MODE", f"is {settings.telegram_mode!r}; telegram-poll needs 'polling'"
                )
            asyncio.run(_poll(settings))
        except ShopkeepError as error:
            _fail(error)


async def _poll(settings: Settings) -> None:
    import asyncio
    import signal

    from bots.runtime import build_runtime

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runtime = await build_runtime(settings, bot=settings.telegram_bot)
    try:
        await poll_telegram(settings, runtime, stop)
    finally:
        await runtime.aclose()


async def poll_telegram(settings: Settings, runtime: ServingRuntime, stop: asyncio.Event) -> None:
    """Serve Telegram by long polling with ``runtime`` until ``stop`` is set.

    The polling adapter is the runtime's Telegram outbox; when a Slack bot
    token is set, a send-only Slack outbox is registered too, so a shopper's
    ``/human`` posts its card in the Slack handoff channel (staff replies come
    back through ``shopkeep serve``, which sends to Telegram send-only).
    """
    from adapters.metrics import AdapterMetrics
    from adapters.slack import SlackOutbox
    from adapters.telegram import TelegramAdapter
    from core.messages import Platform

    bot = settings.telegram_bot
    metrics = AdapterMetrics()
    adapter = TelegramAdapter(
        settings=settings,
        handler=metrics.instrument(runtime.managers[bot].handle, platform="telegram", bot=bot),
        bot=bot,
        store=runtime.store,
        metrics=metrics,
        polling=True,
        commands=runtime.managers[bot].command_menu,
    )
    outbox = runtime.outbox
    if outbox is not None:
        outbox.register(Platform.TELEGRAM, adapter)
        if settings.slack_bot_token:
            outbox.register(Platform.SLACK, SlackOutbox(settings=settings, store=runtime.store))
    handoff = runtime.handoff
    if handoff is not None:
        handoff.relay_observers.append(metrics.observe_relay)
    logger.info("telegram: polling for bot %s", bot)
    try:
        await adapter.run_polling(stop)
    finally:
        if handoff is not None:
            handoff.relay_observers.remove(metrics.observe_relay)
        if outbox is not None:
            outbox.unregister(Platform.TELEGRAM)
            outbox.unregister(Platform.SLACK)
