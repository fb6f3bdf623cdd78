"""Start-up wiring: settings → store, encoder, classifiers, bots → dialogue managers.

Used by ``shopkeep chat``, the server and the benchmarks::

    async with Runtime.open(settings, bot="shop_assistant") as runtime:
        replies = await runtime.manager.handle(message)

One encoder (the expensive part) and one session store are shared by every
bot of the process.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Hashable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bots.heads import HeadChoice, HeadWatcher, choose_head, load_head
from bots.training import RedisHeadTrainer
from core.actions import SetupContext
from core.analytics import AnalyticsReader, RedisEventRecorder, Retention
from core.bot import Bot
from core.commerce.backend import SHARED_BACKEND, SHARED_NOTIFIER, backend_kind
from core.commerce.notify import Notifier
from core.dialogue import DialogueManager
from core.events import EventObserver
from core.handoff import HandoffService
from core.keys import KeyBuilder
from core.nonces import RedisNonceStore
from core.outbox import OutboxRouter
from core.protocols import IntentClassifier, SessionStore, TextEncoder
from core.settings import Settings

if TYPE_CHECKING:
    from core.commerce.shopify.connect import ShopifyConnection

logger = logging.getLogger(__name__)

BOTS_DIR = Path(__file__).resolve().parent


@dataclass
class Runtime:
    """Everything one process serves; close it with :meth:`aclose`.

    Attributes:
        managers: one dialogue manager per bot name, in start-up order.
        outbox: where the platform adapters register their outboxes as they start.
        handoff: the live handoff service (every manager's interceptor), when
            ``handoff_channel`` is set.
        event_observers: one list shared by every manager and the handoff
            service: an observer added here sees every event of the process.
        recorder: writes events to Redis for the dashboard (Redis only).
        analytics: reads them back (Redis only).
        heads: swaps newly trained intent heads in (Redis only).
        trainer: the dashboard's Retrain button (Redis and ``SHOPKEEP_DATA_DIR``).
        nonces: one-time values for the dashboard's forms (Redis only).
    """

    settings: Settings
    store: SessionStore
    encoder: TextEncoder
    managers: dict[str, DialogueManager] = field(default_factory=dict)
    classifiers: dict[str, IntentClassifier] = field(default_factory=dict)
    outbox: OutboxRouter = field(default_factory=OutboxRouter)
    handoff: HandoffService | None = None
    event_observers: list[EventObserver] = field(default_factory=list)
    recorder: RedisEventRecorder | None = None
    analytics: AnalyticsReader | None = None
    heads: HeadWatcher | None = None
    trainer: RedisHeadTrainer | None = None
    nonces: RedisNonceStore | None = None
    keys: KeyBuilder = field(default_factory=KeyBuilder)
    #: Opt-in shipping and back-in-stock messages (sent through :attr:`outbox`).
    notifier: Notifier | None = None
    #: The connected Shopify shop (webhooks, catalogue sync), when the settings choose Shopify.
    shopify: ShopifyConnection | None = None

    @property
    def manager(self) -> DialogueManager:
        """The first (usually only) bot's manager."""
        return next(iter(self.managers.values()))

    @property
    def classifier(self) -> IntentClassifier:
        return next(iter(self.classifiers.values()))

    async def aclose(self) -> None:
        """Close the shop connection, stop the head watcher, write queued events, close the store and the encoder
        (idempotent)."""
        if self.shopify is not None:
            shopify, self.shopify = self.shopify, None
            await shopify.aclose()
        if self.heads is not None:
            await self.heads.aclose()
        if self.trainer is not None:
            await self.trainer.aclose()
        if self.recorder is not None:
            await self.recorder.aclose()
            self.recorder = None
        await self.store.aclose()
        close = getattr(self.encoder, "aclose", None)
        if close is not None:
            await close()

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        settings: Settings,
        *,
        bot: str = "shop_assistant",
        catalog: Path | None = None,
        store: SessionStore | None = None,
    ) -> AsyncIterator[Runtime]:
        runtime = await build_runtime(settings, bot=bot, catalog=catalog, store=store)
        try:
            yield runtime
        finally:
            await runtime.aclose()


def load_encoder(settings: Settings) -> TextEncoder:
    """The shared sentence encoder selected by ``SHOPKEEP_ENCODER`` (``<its artifacts>/encoder``).

    Raises:
        ModelNotBuilt: run ``shopkeep models build`` first.
    """
    from models.encoder import OnnxEncoder

    return OnnxEncoder.from_artifacts(
        settings.encoder_artifacts_dir / "encoder",
        max_seq_len=settings.max_seq_len,
        intra_op_threads=settings.intra_op_threads,
        use_tensorrt=settings.use_tensorrt,
        batch_max_size=settings.batch_max_size,
        batch_max_wait_ms=settings.batch_max_wait_ms,
        cache_size=settings.embedding_cache_size,
        backend=settings.encoder_backend,
    )


def load_classifier(settings: Settings, bot: str, encoder: TextEncoder) -> IntentClassifier:
    """The bot's trained intent head (see :func:`bots.heads.choose_head`).

    Raises:
        ModelNotBuilt: run ``shopkeep nlu train --bot <bot>`` first.
    """
    return load_head(choose_head(settings, bot), encoder)[0]


async def build_manager(
    settings: Settings,
    *,
    bot: str,
    store: SessionStore,
    encoder: TextEncoder,
    classifier: IntentClassifier | None = None,
    catalog: Path | None = None,
    bots_dir: Path = BOTS_DIR,
    shared: dict[Hashable, Any] | None = None,
    head: HeadChoice | None = None,
    event_observers: list[EventObserver] | None = None,
) -> DialogueManager:
    """Load one bot, run its ``setup`` and return its dialogue manager.

    ``shared`` is passed to every bot of one runtime (see ``SetupContext.share``);
    ``head`` says where its intent head is (default: :func:`bots.heads.choose_head`).
    """
    definition = Bot.load(bots_dir / bot)
    answers: dict[str, dict[str, str]] = {}
    if classifier is None:
        classifier, answers = load_head(head or choose_head(settings, bot), encoder)
    services = await definition.setup(
        SetupContext(settings=settings, bot_dir=definition.root, encoder=encoder, catalog=catalog,
                     shared={} if shared is None else shared)
    )
    return DialogueManager(bot=definition, store=store, classifier=classifier, settings=settings, services=services,
                           answers=answers, event_observers=event_observers)


async def build_runtimes(
    settings: Settings,
    *,
    bots: Sequence[str],
    catalog: Path | None = None,
    store: SessionStore | None = None,
    encoder: TextEncoder | None = None,
    bot_dirs: Mapping[str, Path] | None = None,
) -> Runtime:
    """Several bots sharing one encoder and one store.

    ``bot_dirs`` names the folder holding a bot's folder when it is not ``bots/``.
    """
    from core.sessions import make_store

    kind = backend_kind(settings)  # fails first, naming a missing Shopify setting
    store = store or make_store(settings)
    encoder = encoder or load_encoder(settings)
    keys = getattr(store, "keys", None) or KeyBuilder()
    runtime = Runtime(settings=settings, store=store, encoder=encoder, keys=keys)
    runtime.notifier = Notifier(store=store, outbox=runtime.outbox, min_interval_s=settings.notify_min_interval_s)
    shared: dict[Hashable, Any] = {SHARED_NOTIFIER: runtime.notifier}
    loaded: dict[str, str | None] = {}
    try:
        if kind == "shopify":
            from core.commerce.shopify.connect import connect_shopify

            runtime.shopify = await connect_shopify(settings, store=store, encoder=encoder,
                                                    notifier=runtime.notifier)
            shared[SHARED_BACKEND] = runtime.shopify.backend
        for name in bots:
            head = choose_head(settings, name)
            loaded[name] = head.version
            manager = await build_manager(settings, bot=name, store=store, encoder=encoder, catalog=catalog,
                                          shared=shared, head=head, event_observers=runtime.event_observers,
                                          bots_dir=(bot_dirs or {}).get(name, BOTS_DIR))
            runtime.managers[name] = manager
            runtime.classifiers[name] = manager.classifier
    except BaseException:
        await runtime.aclose()
        raise
    if settings.handoff_channel:
        runtime.handoff = HandoffService.from_settings(settings, store=store, outbox=runtime.outbox)
        runtime.handoff.event_observers = runtime.event_observers
        for manager in runtime.managers.values():
            manager.interceptor = runtime.handoff
    redis = getattr(store, "redis", None)
    if redis is not None:
        _start_analytics(runtime, redis, loaded)
    logger.info("runtime ready: bots=%s", ", ".join(runtime.managers))
    return runtime


def _start_analytics(runtime: Runtime, redis: Any, loaded: dict[str, str | None]) -> None:
    """On Redis: record events for the dashboard, read them back, and watch for new heads."""
    settings = runtime.settings
    retention = Retention.from_settings(settings)
    runtime.analytics = AnalyticsReader(redis, keys=runtime.keys, retention=retention)
    if settings.events:
        runtime.recorder = RedisEventRecorder(
            redis, keys=runtime.keys, retention=retention, encoder=runtime.encoder,
            queue_max=settings.events_queue_max, flush_every_s=settings.events_flush_every_s,
        )
        runtime.recorder.start()
        runtime.event_observers.append(runtime.recorder)
        for manager in runtime.managers.values():
            manager.user_erasers.append(runtime.recorder.forget_user)
    runtime.heads = HeadWatcher(settings=settings, redis=redis, keys=runtime.keys, managers=runtime.managers,
                                encoder=runtime.encoder, loaded=loaded)
    runtime.heads.start()
    runtime.nonces = RedisNonceStore(redis, keys=runtime.keys)
    if settings.data_dir is not None:
        runtime.trainer = RedisHeadTrainer(settings=settings, redis=redis, keys=runtime.keys,
                                           bots_dirs={n: m.bot.root.parent for n, m in runtime.managers.items()})


async def build_runtime(
    settings: Settings,
    *,
    bot: str = "shop_assistant",
    catalog: Path | None = None,
    store: SessionStore | None = None,
    encoder: TextEncoder | None = None,
) -> Runtime:
    """One bot's runtime (see :func:`build_runtimes`)."""
    return await build_runtimes(settings, bots=[bot], catalog=catalog, store=store, encoder=encoder)
