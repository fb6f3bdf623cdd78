"""Start-up wiring: settings → store, encoder, classifiers, bots → dialogue managers.

Used by ``shopkeep chat``, the server and the benchmarks::

    async with Runtime.open(settings, bot="shop_assistant") as runtime:
        replies = await runtime.manager.handle(message)

One encoder (the expensive part) and one session store are shared by every
bot of the process.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Hashable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.actions import SetupContext
from core.bot import Bot
from core.commerce.backend import SHARED_BACKEND, SHARED_NOTIFIER, backend_kind
from core.commerce.notify import Notifier
from core.dialogue import DialogueManager
from core.handoff import HandoffService
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
    """

    settings: Settings
    store: SessionStore
    encoder: TextEncoder
    managers: dict[str, DialogueManager] = field(default_factory=dict)
    classifiers: dict[str, IntentClassifier] = field(default_factory=dict)
    outbox: OutboxRouter = field(default_factory=OutboxRouter)
    handoff: HandoffService | None = None
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
        """Close the shop connection, the store and the encoder (idempotent)."""
        if self.shopify is not None:
            shopify, self.shopify = self.shopify, None
            await shopify.aclose()
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
    """The shared sentence encoder from ``artifacts/encoder``.

    Raises:
        ModelNotBuilt: run ``shopkeep models build`` first.
    """
    from models.encoder import OnnxEncoder

    return OnnxEncoder.from_artifacts(
        settings.artifacts_dir / "encoder",
        max_seq_len=settings.max_seq_len,
        intra_op_threads=settings.intra_op_threads,
        use_tensorrt=settings.use_tensorrt,
        batch_max_size=settings.batch_max_size,
        batch_max_wait_ms=settings.batch_max_wait_ms,
        cache_size=settings.embedding_cache_size,
    )


def load_classifier(settings: Settings, bot: str, encoder: TextEncoder) -> IntentClassifier:
    """The bot's trained intent head from ``artifacts/intents/<bot>``.

    Raises:
        ModelNotBuilt: run ``shopkeep nlu train --bot <bot>`` first.
    """
    from models.intent_runtime import OnnxIntentClassifier

    return OnnxIntentClassifier.from_artifacts(settings.artifacts_dir / "intents" / bot, encoder)


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
) -> DialogueManager:
    """Load one bot, run its ``setup`` and return its dialogue manager.

    ``shared`` is passed to every bot of one runtime (see ``SetupContext.share``).
    """
    definition = Bot.load(bots_dir / bot)
    classifier = classifier or load_classifier(settings, bot, encoder)
    services = await definition.setup(
        SetupContext(settings=settings, bot_dir=definition.root, encoder=encoder, catalog=catalog,
                     shared={} if shared is None else shared)
    )
    return DialogueManager(bot=definition, store=store, classifier=classifier, settings=settings, services=services)


async def build_runtimes(
    settings: Settings,
    *,
    bots: Sequence[str],
    catalog: Path | None = None,
    store: SessionStore | None = None,
    encoder: TextEncoder | None = None,
) -> Runtime:
    """Several bots sharing one encoder and one store."""
    from core.sessions import make_store

    kind = backend_kind(settings)  # fails first, naming a missing Shopify setting
    store = store or make_store(settings)
    encoder = encoder or load_encoder(settings)
    runtime = Runtime(settings=settings, store=store, encoder=encoder)
    runtime.notifier = Notifier(store=store, outbox=runtime.outbox, min_interval_s=settings.notify_min_interval_s)
    shared: dict[Hashable, Any] = {SHARED_NOTIFIER: runtime.notifier}
    try:
        if kind == "shopify":
            from core.commerce.shopify.connect import connect_shopify

            runtime.shopify = await connect_shopify(settings, store=store, encoder=encoder,
                                                    notifier=runtime.notifier)
            shared[SHARED_BACKEND] = runtime.shopify.backend
        for name in bots:
            manager = await build_manager(settings, bot=name, store=store, encoder=encoder, catalog=catalog,
                                          shared=shared)
            runtime.managers[name] = manager
            runtime.classifiers[name] = manager.classifier
    except BaseException:
        await runtime.aclose()
        raise
    if settings.handoff_channel:
        runtime.handoff = HandoffService.from_settings(settings, store=store, outbox=runtime.outbox)
        for manager in runtime.managers.values():
            manager.interceptor = runtime.handoff
    logger.info("runtime ready: bots=%s", ", ".join(runtime.managers))
    return runtime


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
