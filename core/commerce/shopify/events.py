"""Applying Shopify webhooks: acknowledge within Shopify's 5 s, then apply in the background.

``receive`` verifies the delivery, drops a repeat by ``X-Shopify-Webhook-Id``
(a mark in the shared store, so a repeat sent to another process is dropped
too) and queues the delivery; the HTTP answer does not wait for the API or
the search index. The background task applies it:

* ``products/create|update``: the payload becomes the product's record in the
  snapshot (an older ``updated_at`` than the stored one is ignored);
* ``products/delete``: a tombstone (a late update cannot bring it back);
* ``inventory_levels/update``: the payload names an inventory item and a
  location; the variant's new total is read through the API
  (``inventoryItem { variant { inventoryQuantity } }``) and patched in;
* ``orders/fulfilled``, ``fulfillments/create|update``: subscribers to that
  order are told it shipped, with the tracking link.

A variant that goes from sold out to buyable tells its back-in-stock
subscribers. Every process's catalogue follows the snapshot's change stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from core.commerce.catalog import product_from_admin_json
from core.commerce.errors import CommerceAuthError, CommerceError, CommerceUnavailable
from core.commerce.notify import Notifier
from core.commerce.shopify import queries
from core.commerce.shopify.client import ShopifyClient
from core.commerce.shopify.convert import (
    gid,
    legacy_id,
    record_from_webhook,
    shipment_from_webhook,
    version,
    with_quantity,
)
from core.commerce.shopify.snapshot import CatalogSnapshot, is_tombstone
from core.commerce.shopify.webhooks import WebhookDelivery, WebhookRejected, parse_delivery
from core.errors import StorageError
from core.protocols import SessionStore

logger = logging.getLogger(__name__)

_RETRIES = 5


def _buyable(record: Mapping[str, Any] | None) -> dict[str, bool]:
    """Variant id -> buyable, read the way the catalogue reads it."""
    if not record or is_tombstone(record):
        return {}
    try:
        product = product_from_admin_json(dict(record))
    except (ValueError, TypeError, KeyError, AttributeError):
        return {}
    return {v.id: v.buyable and product.offered for v in product.variants if v.id}


class ShopifyEvents:
    """Receives and applies one shop's webhooks.

    Args:
        secret: the app's client secret (``SHOPIFY_WEBHOOK_SECRET``).
        shop_domain: deliveries for another shop are refused.
        store: where delivery ids are remembered (shared by every process).
        snapshot: the shared catalogue snapshot.
        client: the Admin API client (inventory look-ups).
        notifier: opt-in messages; None when nobody can be messaged.
        shop_url: the storefront, for product links in back-in-stock messages.
    """

    def __init__(self, *, secret: str, shop_domain: str, store: SessionStore, snapshot: CatalogSnapshot,
                 client: ShopifyClient, notifier: Notifier | None = None, shop_url: str = "") -> None:
        self.secret = secret
        self.shop_domain = shop_domain
        self.store = store
        self.snapshot = snapshot
        self.client = client
        self.notifier = notifier
        self.shop_url = shop_url.rstrip("/")
        self._tasks: set[asyncio.Task[None]] = set()
        self.counts: dict[str, int] = {"accepted": 0, "duplicate": 0, "rejected": 0, "ignored": 0,
                                       "applied": 0, "stale": 0, "failed": 0}

    async def receive(self, headers: Mapping[str, str], body: bytes) -> tuple[int, str]:
        """Verify, de-duplicate and queue one delivery; returns the HTTP status and a short reason."""
        try:
            delivery = parse_delivery(headers, body, secret=self.secret, shop_domain=self.shop_domain)
        except WebhookRejected as rejected:
            self.counts["rejected"] += 1
            logger.warning("shopify webhook refused (%d): %s", rejected.status, rejected.reason)
            return rejected.status, rejected.reason
        if not delivery.known:
            self.counts["ignored"] += 1
            logger.info("shopify webhook: topic %s is not used; ignored", delivery.topic)
            return 200, "ignored"
        try:
            first = await self.store.first_delivery(f"shopify:{delivery.shop_domain}", delivery.webhook_id)
        except StorageError as error:
            # Not acknowledged: Shopify retries later, when the store can say whether it is a repeat.
            logger.warning("shopify webhook %s not taken, store unavailable: %s", delivery.webhook_id, error)
            return 503, "store unavailable"
        if not first:
            self.counts["duplicate"] += 1
            return 200, "duplicate"
        self.counts["accepted"] += 1
        task = asyncio.get_running_loop().create_task(self._apply_with_retries(delivery),
                                                     name=f"webhook {delivery.webhook_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return 200, "accepted"

    async def drain(self) -> None:
        """Wait for every queued delivery to be applied (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _apply_with_retries(self, delivery: WebhookDelivery) -> None:
        for attempt in range(_RETRIES):
            try:
                await self.apply(delivery)
                self.counts["applied"] += 1
                return
            except (CommerceUnavailable, StorageError) as error:
                delay = min(2.0 ** attempt, 30.0)
                logger.warning("shopify webhook %s (%s) not applied yet (%s); retry in %.0f s",
                               delivery.webhook_id, delivery.topic, error, delay)
                await asyncio.sleep(delay)
            except CommerceAuthError:
                break  # logged once by the client; nothing to retry until the token is fixed
            except (CommerceError, ValueError, TypeError, KeyError, AttributeError) as error:
                logger.warning("shopify webhook %s (%s) cannot be applied: %s",
                               delivery.webhook_id, delivery.topic, error)
                break
        self.counts["failed"] += 1

    async def apply(self, delivery: WebhookDelivery) -> None:
        """Apply one delivery now (no de-duplication here)."""
        topic, payload = delivery.topic, delivery.payload
        if topic in ("products/create", "products/update"):
            await self._put(record_from_webhook(payload))
        elif topic == "products/delete":
            pid = legacy_id(payload.get("id"))
            if not pid:
                raise ValueError("products/delete without an id")
            stamp = version(delivery.triggered_at.isoformat()) if delivery.triggered_at else 0
            await self._put({"id": pid, "deleted": True, "v": stamp})
        elif topic == "inventory_levels/update":
            await self._inventory(payload)
        elif topic in ("orders/fulfilled", "fulfillments/create", "fulfillments/update"):
            shipment = shipment_from_webhook(topic, payload)
            if shipment is None:
                raise ValueError(f"{topic} payload names no order")
            if self.notifier is not None and (shipment.tracked or topic == "orders/fulfilled"):
                await self.notifier.shipped(order_id=shipment.order_id, order_name=shipment.order_name,
                                            company=shipment.company, number=shipment.number, url=shipment.url)

    async def _put(self, record: dict[str, Any]) -> None:
        applied, previous = await self.snapshot.put(record)
        if not applied:
            self.counts["stale"] += 1
            return
        await self._restocked(previous, record)

    async def _inventory(self, payload: Mapping[str, Any]) -> None:
        item_id = legacy_id(payload.get("inventory_item_id"))
        if not item_id:
            raise ValueError("inventory_levels/update without an inventory_item_id")
        data = await self.client.query(queries.INVENTORY_ITEM, {"id": gid("InventoryItem", item_id)})
        item = data.get("inventoryItem")
        variant = (item or {}).get("variant")
        if not variant:
            return  # an inventory item of something that is not a product variant
        pid = legacy_id((variant.get("product") or {}).get("id"))
        current = (await self.snapshot.get_many([pid])).get(pid)
        if current is None or is_tombstone(current):
            return  # a product the catalogue does not hold
        quantity = variant.get("inventoryQuantity") if (item or {}).get("tracked", True) else None
        patched = with_quantity(current, legacy_id(variant.get("id")), quantity, version(payload.get("updated_at")))
        if patched is not None:
            await self._put(patched)

    async def _restocked(self, before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> None:
        if self.notifier is None:
            return
        was, now = _buyable(before), _buyable(after)
        back = [vid for vid, ok in now.items() if ok and was.get(vid) is False]
        if not back:
            return
        handle = str(after.get("handle") or "")
        title = str(after.get("title") or "")
        titles = {legacy_id(v.get("id")): str(v.get("title") or "") for v in after.get("variants") or []}
        for vid in back:
            label = title if titles.get(vid) in ("", "Default Title") else f"{title} ({titles[vid]})"
            url = f"{self.shop_url}/products/{handle}?variant={vid}" if self.shop_url and handle else ""
            await self.notifier.back_in_stock(variant_id=vid, title=label, url=url)
