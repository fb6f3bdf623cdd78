"""Start-up wiring of a connected Shopify shop: client, snapshot, catalogue, webhooks, messages.

Called once per process by the runtime when the settings choose the Shopify
backend. With a Redis session store the snapshot lives in the same Redis
(every process shares it); with the in-memory store it lives in the process.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from core.commerce.notify import Notifier
from core.commerce.shopify.backend import ShopifyBackend, shop_key
from core.commerce.shopify.events import ShopifyEvents
from core.commerce.shopify.snapshot import (
    CatalogSnapshot,
    MemoryCatalogSnapshot,
    RedisCatalogSnapshot,
)
from core.protocols import SessionStore, TextEncoder
from core.settings import Settings

logger = logging.getLogger(__name__)


@dataclass
class ShopifyConnection:
    """What one process holds for the connected shop; close it with :meth:`aclose`."""

    backend: ShopifyBackend
    events: ShopifyEvents

    async def aclose(self) -> None:
        await self.events.aclose()
        await self.backend.aclose()


def snapshot_for(settings: Settings, store: SessionStore) -> CatalogSnapshot:
    """The catalogue snapshot beside the session store (Redis when the store is on Redis)."""
    from core.sessions import RedisSessionStore

    if isinstance(store, RedisSessionStore):
        return RedisCatalogSnapshot(store.redis, keys=store.keys, shop=shop_key(settings))
    return MemoryCatalogSnapshot()


async def connect_shopify(settings: Settings, *, store: SessionStore, encoder: TextEncoder,
                          notifier: Notifier | None) -> ShopifyConnection:
    """Sync (or load) the shop's catalogue and get ready for its webhooks.

    Raises:
        ConfigError: a Shopify setting is missing (named).
    """
    backend = ShopifyBackend.from_settings(settings, encoder=encoder, snapshot=snapshot_for(settings, store))
    events = ShopifyEvents(secret=str(settings.require("shopify_webhook_secret")),
                           shop_domain=str(settings.shopify_shop_domain), store=store, snapshot=backend.snapshot,
                           client=backend.client, notifier=notifier, shop_url=settings.shop_url)
    await backend.start()
    logger.info("shopify: connected to %s (%d products offered)", shop_key(settings),
                len(backend.catalog.offered()))
    return ShopifyConnection(backend=backend, events=events)
