"""Fixtures for the Shopify backend tests: the Admin API stand-in over the demo shop, real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from core.commerce.shopdata import load_orders
from core.commerce.shopify.client import ShopifyClient
from core.commerce.shopify.snapshot import RedisCatalogSnapshot
from core.keys import KeyBuilder
from tests.adapters.standins.shopify import FakeShop, ShopifyAdminStandin
from tests.core.catalog_support import SHOP_DATA, demo_catalog

TOKEN = "shpat_standin_token_0001"
SECRET = "shpss_webhook_secret_0001"
DOMAIN = "standin-shop.myshopify.com"


@pytest.fixture
def fake_shop() -> FakeShop:
    return FakeShop.from_catalog(demo_catalog().products(), load_orders(SHOP_DATA / "orders.yaml").orders)


@pytest.fixture
async def shopify_api(fake_shop: FakeShop) -> AsyncIterator[ShopifyAdminStandin]:
    # A roomy bucket (a Plus-sized shop): the throttling tests shrink it themselves.
    async with ShopifyAdminStandin(fake_shop, token=TOKEN, bucket_max=100_000, restore_rate=50_000) as server:
        yield server


class SleepLog:
    """Records the waits asked of it and waits only a token amount (the waits are what is checked)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        import asyncio

        self.waits.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def sleeps() -> SleepLog:
    return SleepLog()


@pytest.fixture
async def client(shopify_api: ShopifyAdminStandin, sleeps: SleepLog) -> AsyncIterator[ShopifyClient]:
    async with ShopifyClient(endpoint=shopify_api.api_url, token=TOKEN, sleep=sleeps, backoff_s=0.01) as c:
        yield c


@pytest.fixture
async def snapshot(raw_redis: aioredis.Redis, key_builder: KeyBuilder) -> RedisCatalogSnapshot:
    return RedisCatalogSnapshot(raw_redis, keys=key_builder, shop="standin-shop")
