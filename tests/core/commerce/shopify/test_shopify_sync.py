"""Catalogue sync and webhooks on a real Redis: two processes' catalogues, one snapshot, changes seen by both."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence

import pytest
import redis.asyncio as aioredis

from core.commerce.live import LiveShopCatalog
from core.commerce.notify import Notifier
from core.commerce.shopify.client import ShopifyClient
from core.commerce.shopify.events import ShopifyEvents
from core.commerce.shopify.snapshot import RedisCatalogSnapshot
from core.commerce.shopify.sync import ensure_synced, full_sync
from core.keys import KeyBuilder
from core.messages import ConversationKey, Platform, Reply
from core.outbox import OutboxError
from core.sessions import RedisSessionStore
from tests.adapters.standins.shopify import ShopifyAdminStandin, rest_product, webhook_headers
from tests.core.catalog_support import HashingEncoder, demo_catalog
from tests.core.commerce.shopify.conftest import DOMAIN, SECRET


class RecordingOutbox:
    """Stands in for the platform outboxes (the notifier is under test); can refuse sends."""

    def __init__(self) -> None:
        self.sent: list[tuple[ConversationKey, str]] = []
        self.refuse = 0

    async def send(self, conversation: ConversationKey, replies: Sequence[Reply]) -> list[str]:
        if self.refuse:
            self.refuse -= 1
            raise OutboxError(conversation.platform, "429 Too Many Requests")
        self.sent.extend((conversation, r.text) for r in replies)
        return [str(len(self.sent))]


@pytest.fixture
async def store(redis_url: str, key_builder: KeyBuilder, raw_redis: aioredis.Redis) -> AsyncIterator[RedisSessionStore]:
    s = RedisSessionStore.from_url(redis_url, keys=key_builder)
    yield s
    await s.aclose()


@pytest.fixture
def outbox() -> RecordingOutbox:
    return RecordingOutbox()


@pytest.fixture
def notifier(store: RedisSessionStore, outbox: RecordingOutbox) -> Notifier:
    return Notifier(store=store, outbox=outbox, min_interval_s=0.0, retry_s=0.01)


@pytest.fixture
def events(store: RedisSessionStore, snapshot: RedisCatalogSnapshot, client: ShopifyClient,
           notifier: Notifier) -> ShopifyEvents:
    return ShopifyEvents(secret=SECRET, shop_domain=DOMAIN, store=store, snapshot=snapshot, client=client,
                         notifier=notifier, shop_url="https://standin-shop.example")


async def _catalogue(snapshot: RedisCatalogSnapshot) -> LiveShopCatalog:
    live = LiveShopCatalog(snapshot=snapshot, encoder=HashingEncoder())
    await live.load()
    live.start()
    return live


async def _until(check, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def _post(events: ShopifyEvents, topic: str, payload: dict, *, webhook_id: str | None = None,
                secret: str = SECRET) -> tuple[int, str]:
    body = json.dumps(payload).encode()
    headers = webhook_headers(topic, body, secret=secret, shop_domain=DOMAIN, webhook_id=webhook_id)
    return await events.receive(headers, body)


async def test_full_sync_pages_every_product_and_variant(client: ShopifyClient, snapshot: RedisCatalogSnapshot,
                                                         shopify_api: ShopifyAdminStandin) -> None:
    report = await full_sync(client, snapshot)
    demo = demo_catalog()
    assert report.products == len(demo.products())
    assert report.variants == sum(len(p.variants) for p in demo.products())
    assert report.requests == len(shopify_api.recorder.calls) > 2  # paginated
    live = await _catalogue(snapshot)
    try:
        assert {p.handle for p in live.catalog.offered()} == {p.handle for p in demo.offered()}
        assert len(live.catalog.products()) == len(demo.products())
        variant = live.catalog.find_variant("NW-TEE-001-NVY-XS")
        assert variant is not None and variant[1].id and variant[1].id.isdigit()
    finally:
        await live.stop()


async def test_only_one_process_syncs(client: ShopifyClient, snapshot: RedisCatalogSnapshot,
                                      shopify_api: ShopifyAdminStandin) -> None:
    reports = await asyncio.gather(ensure_synced(client, snapshot), ensure_synced(client, snapshot))
    assert sum(r is not None for r in reports) == 1
    assert await ensure_synced(client, snapshot) is None  # already there


async def test_a_products_update_reaches_both_processes_once(events: ShopifyEvents, client: ShopifyClient,
                                                              snapshot: RedisCatalogSnapshot,
                                                              shopify_api: ShopifyAdminStandin) -> None:
    await full_sync(client, snapshot)
    first, second = await _catalogue(snapshot), await _catalogue(snapshot)
    try:
        product = shopify_api.shop.product("organic-cotton-ringer-tee")
        product["title"] = "Organic Cotton Ringer Tee Limited Edition"
        product["updatedAt"] = "2030-01-01T00:00:00Z"
        payload = rest_product(product)
        statuses = [await _post(events, "products/update", payload, webhook_id="wh-upd-1") for _ in range(3)]
        assert [s for s, _ in statuses] == [200, 200, 200]
        assert [r for _, r in statuses] == ["accepted", "duplicate", "duplicate"]
        await events.drain()
        for live in (first, second):
            await _until(lambda live=live: live.catalog.get("organic-cotton-ringer-tee").title.endswith("Limited Edition"))
            hits = live.search.rank("limited edition ringer tee", k=1)
            assert hits[0].product.handle == "organic-cotton-ringer-tee"
        assert events.counts["applied"] == 1
        # An older delivery of the same product arriving late changes nothing.
        stale = {**payload, "title": "Old title", "updated_at": "2020-01-01T00:00:00Z"}
        await _post(events, "products/update", stale)
        await events.drain()
        assert events.counts["stale"] == 1
        await asyncio.sleep(0.05)
        assert first.catalog.get("organic-cotton-ringer-tee").title.endswith("Limited Edition")
    finally:
        await first.stop()
        await second.stop()


async def test_drafts_deletions_and_products_without_variants(events: ShopifyEvents, client: ShopifyClient,
                                                              snapshot: RedisCatalogSnapshot,
                                                              shopify_api: ShopifyAdminStandin) -> None:
    await full_sync(client, snapshot)
    live = await _catalogue(snapshot)
    try:
        product = shopify_api.shop.product("organic-cotton-ringer-tee")
        product["status"], product["updatedAt"] = "DRAFT", "2030-01-01T00:00:00Z"
        await _post(events, "products/update", rest_product(product))
        await events.drain()
        await _until(lambda: live.catalog.get("organic-cotton-ringer-tee").status == "draft")
        assert "organic-cotton-ringer-tee" not in {p.handle for p in live.catalog.offered()}
        assert all(h.product.handle != "organic-cotton-ringer-tee" for h in live.search.rank("organic cotton ringer tee", k=20))

        bare = shopify_api.shop.add_product(handle="no-variants-yet", title="Mystery Box", variants=())
        assert (await _post(events, "products/create", rest_product(bare)))[0] == 200
        priced = shopify_api.shop.add_product(handle="string-priced", title="String Priced Scarf",
                                              variants=[{"sku": "SP-1", "price": "12.50", "qty": 3}])
        await _post(events, "products/create", rest_product(priced))
        await events.drain()
        await _until(lambda: live.catalog.get("string-priced") is not None)
        assert live.catalog.get("no-variants-yet") is not None and not live.catalog.get("no-variants-yet").offered
        assert str(live.catalog.find_variant("SP-1")[1].price) == "12.50"

        await _post(events, "products/delete", {"id": int(priced["id"].rsplit("/", 1)[1])})
        await events.drain()
        await _until(lambda: live.catalog.get("string-priced") is None)
    finally:
        await live.stop()


async def test_bad_payloads_are_refused_or_skipped_never_raised(events: ShopifyEvents) -> None:
    body = b"{not json"
    headers = webhook_headers("products/update", body, secret=SECRET, shop_domain=DOMAIN)
    assert (await events.receive(headers, body))[0] == 400
    forged = json.dumps({"id": 1}).encode()
    headers = webhook_headers("products/update", forged, secret="not-the-secret", shop_domain=DOMAIN)
    assert (await events.receive(headers, forged))[0] == 401
    assert (await _post(events, "customers/create", {"id": 1}))[1] == "ignored"
    assert (await _post(events, "products/update", {"title": "no id"}))[0] == 200
    assert (await _post(events, "products/update", {"id": 5, "variants": [{"id": 1, "price": "abc"}]}))[0] == 200
    await events.drain()
    assert events.counts["failed"] == 1  # the payload without an id; the bad price is skipped by the reader


async def test_back_in_stock_is_told_once_to_the_subscriber_only(events: ShopifyEvents, client: ShopifyClient,
                                                                 snapshot: RedisCatalogSnapshot, notifier: Notifier,
                                                                 outbox: RecordingOutbox,
                                                                 shopify_api: ShopifyAdminStandin) -> None:
    await full_sync(client, snapshot)
    variant = next(v for v in shopify_api.shop.variants()
                   if v["inventoryQuantity"] <= 0 and v["inventoryPolicy"] == "DENY"
                   and v["product"]["status"] == "ACTIVE" and v["product"]["publishedAt"])
    vid = variant["id"].rsplit("/", 1)[1]
    ada = ConversationKey(platform=Platform.TELEGRAM, bot="shop_assistant", chat="777")
    await notifier.subscribe(kind="stock", target=vid, label=variant["product"]["title"], conversation=ada,
                             user_id="777", lang="en")
    payload = shopify_api.shop.set_available(variant, 4)
    for _ in range(3):  # delivered three times: one webhook id
        await _post(events, "inventory_levels/update", payload, webhook_id="wh-inv-1")
    await _post(events, "inventory_levels/update", payload)  # a second webhook for the same change
    await events.drain()
    await notifier.deliver_due()
    assert len(outbox.sent) == 1
    conversation, text = outbox.sent[0]
    assert conversation == ada and "back in stock" in text and f"variant={vid}" in text
    assert (await snapshot.get_many([variant["product"]["id"].rsplit("/", 1)[1]]))
    assert await notifier.waiting("stock", vid) == 0


async def test_shipping_message_once_with_the_tracking_link_and_retried_not_dropped(
        events: ShopifyEvents, notifier: Notifier, outbox: RecordingOutbox,
        shopify_api: ShopifyAdminStandin) -> None:
    order = next(o for o in shopify_api.shop.orders if not o["fulfillments"] and not o["cancelledAt"])
    oid = order["id"].rsplit("/", 1)[1]
    ada = ConversationKey(platform=Platform.SLACK, bot="shop_assistant", chat="D1", workspace="T1")
    bob = ConversationKey(platform=Platform.TELEGRAM, bot="shop_assistant", chat="888")
    await notifier.subscribe(kind="ship", target=oid, label=order["name"], conversation=ada, user_id="U1", lang="en")
    payload = shopify_api.shop.fulfil(order, tracking="1Z999")
    outbox.refuse = 2  # Slack says 429 twice: the message waits and goes out later
    for _ in range(3):
        await _post(events, "fulfillments/create", payload, webhook_id="wh-ful-1")
    await _post(events, "orders/fulfilled", {"id": int(oid), "name": order["name"], "fulfillments": [payload]})
    await events.drain()
    for _ in range(50):
        await notifier.deliver_due()
        if outbox.sent:
            break
        await asyncio.sleep(0.02)
    assert len(outbox.sent) == 1 and outbox.sent[0][0] == ada
    assert order["name"] in outbox.sent[0][1] and "https://www.ups.com/track?tracknum=1Z999" in outbox.sent[0][1]
    assert all(c != bob for c, _ in outbox.sent)


async def test_notify_off_and_forget_remove_subscriptions(store: RedisSessionStore, notifier: Notifier,
                                                          outbox: RecordingOutbox) -> None:
    ada = ConversationKey(platform=Platform.TELEGRAM, bot="shop_assistant", chat="777")
    await notifier.subscribe(kind="ship", target="1", label="#1", conversation=ada, user_id="777", lang="en")
    await notifier.subscribe(kind="stock", target="2", label="Tee", conversation=ada, user_id="777", lang="en")
    assert len(await notifier.subscriptions(Platform.TELEGRAM, "777")) == 2
    assert await notifier.unsubscribe_all(Platform.TELEGRAM, "777") == 2
    assert await notifier.shipped(order_id="1", order_name="#1") == 0
    await notifier.subscribe(kind="stock", target="2", label="Tee", conversation=ada, user_id="777", lang="zh")
    assert await store.forget_user(Platform.TELEGRAM, "777") >= 2
    assert await notifier.back_in_stock(variant_id="2", title="Tee") == 0
    await notifier.deliver_due()
    assert outbox.sent == []
