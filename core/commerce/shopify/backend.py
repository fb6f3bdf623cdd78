"""The Shopify commerce backend: a real shop through the Admin GraphQL API (2025-01).

Start-up (:meth:`ShopifyBackend.start`): sync the catalogue into the shared
snapshot unless another process already did, load it, follow its changes.
When the API cannot be reached at start, the last synced catalogue is served
(from the snapshot in Redis, else from ``SHOPKEEP_SHOPIFY_CATALOG_CACHE`` on
disk) and the sync is retried in the background. Orders, cancellations and
returns always go to the API: they must be the shop's truth, never a copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from core.commerce.backend import RETURN_REASONS, CancelReceipt, ReturnableItem, ReturnReceipt
from core.commerce.catalog import Catalog
from core.commerce.errors import CommerceError, CommerceRejected
from core.commerce.inventory import StockLevel
from core.commerce.live import LiveShopCatalog
from core.commerce.shopdata import Order, Store, normalize_order_number
from core.commerce.shopify import queries
from core.commerce.shopify.client import ShopifyClient, endpoint_for, shop_subdomain
from core.commerce.shopify.convert import gid, order_from_graphql
from core.commerce.shopify.snapshot import CatalogSnapshot, MemoryCatalogSnapshot, is_tombstone
from core.commerce.shopify.sync import SyncReport, ensure_synced
from core.errors import StorageError
from core.protocols import TextEncoder
from core.settings import Settings

logger = logging.getLogger(__name__)

_RETRY_SYNC_S = 60.0


class ShopifyBackend:
    """:class:`~core.commerce.backend.CommerceBackend` for one Shopify shop.

    Args:
        client: the Admin API client.
        snapshot: the shared catalogue snapshot (Redis in production).
        encoder: embeds product texts for search.
        stores: physical stores (from the bot's data; Shopify has no opening hours).
        cache_path: a JSON copy of the last synced catalogue on disk, when set.
        today: a fixed date for return windows (tests); None: the real clock.
    """

    name = "shopify"

    def __init__(self, *, client: ShopifyClient, snapshot: CatalogSnapshot, encoder: TextEncoder,
                 stores: Sequence[Store] = (), cache_path: Path | None = None, today: date | None = None) -> None:
        self.client = client
        self.snapshot = snapshot
        self.live = LiveShopCatalog(snapshot=snapshot, encoder=encoder)
        self._stores = tuple(stores)
        self.cache_path = cache_path
        self._today = today
        self._retry: asyncio.Task[None] | None = None
        self.last_sync: SyncReport | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, encoder: TextEncoder, snapshot: CatalogSnapshot | None = None,
                      stores: Sequence[Store] = ()) -> ShopifyBackend:
        domain = str(settings.require("shopify_shop_domain"))
        client = ShopifyClient(endpoint=endpoint_for(domain, settings.shopify_api_url),
                               token=str(settings.require("shopify_admin_token")),
                               timeout_s=settings.shopify_timeout_s)
        return cls(client=client, snapshot=snapshot or MemoryCatalogSnapshot(), encoder=encoder, stores=stores,
                   cache_path=settings.shopify_catalog_cache)

    # --- the port ----------------------------------------------------------------------
    @property
    def catalog(self) -> Catalog:
        return self.live.catalog

    @property
    def problem(self) -> str | None:
        return self.client.problem

    def stores(self) -> Sequence[Store]:
        return self._stores

    def today(self) -> date:
        """Today on the shop's clock (its first store's time zone; UTC without stores), unless fixed."""
        if self._today is not None:
            return self._today
        now = datetime.now(UTC)
        return self._stores[0].local(now).date() if self._stores else now.date()

    async def find_order(self, number: str) -> Order | None:
        name = normalize_order_number(number)
        if name is None:
            return None
        data = await self.client.query(queries.ORDER_BY_NAME, {"query": f"name:{name}"})
        for node in (data.get("orders") or {}).get("nodes") or []:
            if str(node.get("name", "")).lower() == name.lower():
                return order_from_graphql(node)
        return None

    async def cancel_order(self, order: Order, *, reason: str = "CUSTOMER", note: str = "") -> CancelReceipt:
        if not order.id:
            raise CommerceRejected("orderCancel", ["the order has no Shopify id"])
        data = await self.client.query(queries.ORDER_CANCEL, {"orderId": order.id, "reason": reason,
                                                              "staffNote": note or None})
        payload = data.get("orderCancel") or {}
        errors = payload.get("orderCancelUserErrors") or payload.get("userErrors") or []
        if errors:
            raise CommerceRejected("orderCancel", [str(e.get("message")) for e in errors],
                                   codes=[str(e.get("code") or "") for e in errors])
        return CancelReceipt(order=order.number, job_id=(payload.get("job") or {}).get("id"))

    async def returnable_items(self, order: Order) -> list[ReturnableItem]:
        if not order.id:
            return []
        data = await self.client.query(queries.RETURNABLE_FULFILLMENTS, {"orderId": order.id})
        items = []
        for fulfillment in (data.get("returnableFulfillments") or {}).get("nodes") or []:
            for node in (fulfillment.get("returnableFulfillmentLineItems") or {}).get("nodes") or []:
                fli = node.get("fulfillmentLineItem") or {}
                line = fli.get("lineItem") or {}
                if int(node.get("quantity") or 0) > 0:
                    items.append(ReturnableItem(
                        sku=str(line.get("sku") or ""), title=str(line.get("title") or ""),
                        variant_title=str(line.get("variantTitle") or ""), quantity=int(node["quantity"]),
                        line_item_id=line.get("id"), fulfillment_line_item_id=fli.get("id")))
        return items

    async def request_return(self, order: Order, item: ReturnableItem, *, reason: str, quantity: int = 1,
                             note: str = "") -> ReturnReceipt:
        if not order.id or not item.fulfillment_line_item_id:
            raise CommerceRejected("returnRequest", ["the line has no Shopify fulfillment line item"])
        code = RETURN_REASONS.get(reason, "OTHER")
        customer_note = note or (reason if code == "OTHER" else "")
        line: dict[str, Any] = {"fulfillmentLineItemId": item.fulfillment_line_item_id, "quantity": quantity,
                                "returnReason": code}
        if customer_note:
            line["customerNote"] = customer_note[:300]
        data = await self.client.query(queries.RETURN_REQUEST, {"input": {"orderId": order.id,
                                                                          "returnLineItems": [line]}})
        payload = data.get("returnRequest") or {}
        errors = payload.get("userErrors") or []
        if errors or not payload.get("return"):
            raise CommerceRejected("returnRequest", [str(e.get("message")) for e in errors] or ["no return made"],
                                   codes=[str(e.get("code") or "") for e in errors])
        ret = payload["return"]
        return ReturnReceipt(id=str(ret["id"]), name=str(ret.get("name") or ""), status=str(ret.get("status") or ""))

    async def stock_levels(self, sku: str) -> list[StockLevel]:
        found = self.catalog.find_variant(sku)
        if found is None or not found[1].id:
            return []
        data = await self.client.query(queries.STOCK_LEVELS, {"id": gid("ProductVariant", found[1].id)})
        item = ((data.get("productVariant") or {}).get("inventoryItem") or {})
        levels = []
        for node in (item.get("inventoryLevels") or {}).get("nodes") or []:
            q = {x["name"]: int(x["quantity"]) for x in node.get("quantities") or []}
            levels.append(StockLevel(location=str((node.get("location") or {}).get("name") or ""),
                                     available=q.get("available", 0), on_hand=q.get("on_hand", 0),
                                     incoming=q.get("incoming", 0), committed=q.get("committed", 0)))
        return levels

    # --- life cycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Sync (unless already synced), load and follow the catalogue; never fails for an API outage."""
        try:
            self.last_sync = await ensure_synced(self.client, self.snapshot)
        except CommerceError as error:
            logger.warning("shopify: catalogue not synced (%s); serving the last synced one", error)
            self._retry = asyncio.get_running_loop().create_task(self._retry_sync(), name="shopify sync retry")
        loaded = await self.live.load() if await self._snapshot_ready() else 0
        if loaded == 0 and self.cache_path is not None and self.cache_path.exists():
            await self._load_disk_copy()
        elif loaded and self.last_sync is not None and self.cache_path is not None:
            await asyncio.to_thread(self._write_disk_copy)
        self.live.start()

    async def _snapshot_ready(self) -> bool:
        try:
            return await self.snapshot.ready()
        except StorageError as error:
            logger.warning("shopify: snapshot unreadable: %s", error)
            return False

    async def _retry_sync(self) -> None:
        while True:
            await asyncio.sleep(_RETRY_SYNC_S)
            try:
                self.last_sync = await ensure_synced(self.client, self.snapshot)
            except (CommerceError, StorageError) as error:
                logger.info("shopify: catalogue sync still failing: %s", error)
                continue
            return  # the follower applies what the sync stored

    def _write_disk_copy(self) -> None:
        assert self.cache_path is not None
        records = [{"id": p_id, **r} for p_id, r in self._records_for_disk().items()]
        tmp = self.cache_path.with_suffix(".tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({"products": records}, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.cache_path)

    def _records_for_disk(self) -> dict[str, dict[str, Any]]:
        return dict(self.live.records)

    async def _load_disk_copy(self) -> None:
        assert self.cache_path is not None
        try:
            doc = json.loads(self.cache_path.read_text(encoding="utf-8"))
            records = [r for r in doc["products"] if isinstance(r, dict) and not is_tombstone(r)]
        except (OSError, ValueError, KeyError, TypeError) as error:
            logger.warning("shopify: catalogue copy %s unreadable: %s", self.cache_path, error)
            return
        local = MemoryCatalogSnapshot()
        await local.replace_all(records)
        keep, self.live.snapshot = self.live.snapshot, local
        try:
            await self.live.load()
        finally:
            self.live.snapshot = keep
        logger.warning("shopify: serving %d products from the copy at %s until the shop can be synced",
                       len(records), self.cache_path)

    async def aclose(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retry
        await self.live.stop()
        await self.client.aclose()


def shop_key(settings: Settings) -> str:
    """The shop's name in Redis keys (``my-shop``)."""
    return shop_subdomain(str(settings.shopify_shop_domain or ""))

