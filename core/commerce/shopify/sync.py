"""The initial catalogue sync: every product and variant, page by page, into the snapshot.

Two cursor-paginated streams (``productVariants`` then ``products``) keep each
query's requested cost under Shopify's single-query limit; the client keeps
within the shop's cost bucket. The records are written to the shared snapshot
in one go, so every serve process switches to the new catalogue together.

Only one process syncs at a time (a lock in the snapshot); the others wait for
the ``ready`` mark and load what it stored. A Shopify *bulk operation* would
avoid the paging cost on shops far larger than 20,000 variants; the paged sync
is kept because it needs no polling or file download and the snapshot means it
runs once per shop, not once per process or restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from core.commerce.shopify import queries
from core.commerce.shopify.client import ShopifyClient
from core.commerce.shopify.convert import legacy_id, record_from_graphql
from core.commerce.shopify.snapshot import CatalogSnapshot

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncReport:
    products: int
    variants: int
    requests: int
    seconds: float
    waited_s: float


async def _pages(client: ShopifyClient, document: str, field: str, first: int) -> Any:
    after: str | None = None
    while True:
        data = await client.query(document, {"first": first, "after": after})
        connection = data[field]
        yield connection["nodes"]
        info = connection["pageInfo"]
        if not info.get("hasNextPage"):
            return
        after = info.get("endCursor")


async def full_sync(client: ShopifyClient, snapshot: CatalogSnapshot) -> SyncReport:
    """Read every product and variant through the Admin API and store them in ``snapshot``.

    Raises:
        CommerceError: the API could not be read (nothing is stored then).
    """
    started = time.monotonic()
    waited = client.waited_s
    requests = 0
    by_product: dict[str, list[dict[str, Any]]] = defaultdict(list)
    variants = 0
    async for nodes in _pages(client, queries.VARIANTS_PAGE, "productVariants", queries.VARIANT_PAGE_SIZE):
        requests += 1
        for node in nodes:
            by_product[legacy_id((node.get("product") or {}).get("id"))].append(node)
            variants += 1
    records = []
    async for nodes in _pages(client, queries.PRODUCTS_PAGE, "products", queries.PRODUCT_PAGE_SIZE):
        requests += 1
        for node in nodes:
            records.append(record_from_graphql(node, by_product.get(legacy_id(node.get("id")), [])))
    await snapshot.replace_all(records)
    report = SyncReport(products=len(records), variants=variants, requests=requests,
                        seconds=time.monotonic() - started, waited_s=client.waited_s - waited)
    logger.info("shopify: synced %d products, %d variants in %d requests (%.1f s, %.1f s waiting for the bucket)",
                report.products, report.variants, report.requests, report.seconds, report.waited_s)
    return report


async def ensure_synced(client: ShopifyClient, snapshot: CatalogSnapshot, *, lock_ttl_s: int = 900,
                        wait_s: float = 600.0, force: bool = False) -> SyncReport | None:
    """Sync unless the snapshot is already there; returns the report when this process synced.

    When another process holds the sync lock, waits (up to ``wait_s``) for its result instead.
    """
    if not force and await snapshot.ready():
        return None
    deadline = time.monotonic() + wait_s
    while True:
        if await snapshot.try_lock_sync(lock_ttl_s):
            try:
                if not force and await snapshot.ready():
                    return None
                return await full_sync(client, snapshot)
            finally:
                await snapshot.unlock_sync()
        if await snapshot.ready() or time.monotonic() > deadline:
            return None
        await asyncio.sleep(0.5)
