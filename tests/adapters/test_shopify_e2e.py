"""A connected Shopify shop end to end: the REAL runtime (encoder, intent head, dialogue, Redis) with the
Admin API, Telegram and Slack as local stand-ins, webhooks signed as Shopify signs them.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from bots.runtime import Runtime, build_runtime
from core.commerce.shopdata import load_orders
from core.keys import KeyBuilder
from core.sessions import RedisSessionStore
from core.settings import Settings
from tests.adapters.conftest import Served, serve, tg_callback, tg_headers, tg_message
from tests.adapters.standins import TelegramApiStandin
from tests.adapters.standins.shopify import FakeShop, ShopifyAdminStandin, deliver, rest_product
from tests.adapters.test_real_runtime import telegram_buttons, telegram_texts
from tests.core.catalog_support import SHOP_DATA, demo_catalog

TOKEN = "shpat_e2e_token"
SECRET = "shpss_e2e_secret"
DOMAIN = "standin-shop.myshopify.com"


@pytest.fixture
async def shopify_api() -> AsyncIterator[ShopifyAdminStandin]:
    shop = FakeShop.from_catalog(demo_catalog().products(), load_orders(SHOP_DATA / "orders.yaml").orders)
    async with ShopifyAdminStandin(shop, token=TOKEN, bucket_max=100_000, restore_rate=50_000) as server:
        yield server


@pytest.fixture
async def runtime(settings: Settings, artifacts_dir: Path, redis_url: str,
                  shopify_api: ShopifyAdminStandin) -> AsyncIterator[Runtime]:
    connected = settings.model_copy(update={
        "artifacts_dir": artifacts_dir, "shopify_shop_domain": DOMAIN, "shopify_admin_token": TOKEN,
        "shopify_webhook_secret": SECRET, "shopify_api_url": shopify_api.api_url, "notify_min_interval_s": 0.0,
        "shop_url": "https://standin-shop.example",
    })
    prefix = f"test-shopify-{uuid.uuid4().hex[:8]}"
    store = RedisSessionStore.from_url(redis_url, keys=KeyBuilder(prefix=prefix))
    rt = await build_runtime(connected, bot="shop_assistant", store=store)
    try:
        yield rt
    finally:
        await rt.aclose()
        client = aioredis.Redis.from_url(redis_url)
        async for name in client.scan_iter(match=f"{prefix}:*", count=500):
            await client.delete(name)
        await client.aclose()


class Chat:
    """One Telegram shopper talking to the served app."""

    def __init__(self, served: Served, telegram: TelegramApiStandin, chat_id: int = 777) -> None:
        self.served, self.telegram, self.chat_id = served, telegram, chat_id
        self.update_id = chat_id * 1000

    def sent(self) -> list[Any]:
        return [c for c in self.telegram.recorder.calls if c.method in ("sendMessage", "sendPhoto")]

    async def _post(self, update: dict[str, Any]) -> list[str]:
        before = len(self.sent())
        response = await self.served.client.post("/telegram/webhook", content=json.dumps(update),
                                                 headers=tg_headers())
        assert response.status_code == 200
        await self.served.app.state.serving.telegram.drain()
        return telegram_texts(self.sent()[before:])

    async def say(self, text: str) -> list[str]:
        self.update_id += 1
        return await self._post(tg_message(self.update_id, text))

    async def press(self, data: str) -> list[str]:
        self.update_id += 1
        return await self._post(tg_callback(self.update_id, data))

    def buttons(self) -> list[str]:
        return list(telegram_buttons(self.sent()[-1:]))


async def _webhook(served: Served, topic: str, payload: dict[str, Any], *, times: int = 1,
                   webhook_id: str | None = None, secret: str = SECRET) -> list[int]:
    return await deliver(served.client, "/shopify/webhooks", topic, payload, secret=secret, shop_domain=DOMAIN,
                         times=times, webhook_id=webhook_id)


async def _wait_for_text(chat: Chat, needle: str, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not any(needle in t for t in telegram_texts(chat.sent())):
        assert asyncio.get_running_loop().time() < deadline, telegram_texts(chat.sent())[-3:]
        await asyncio.sleep(0.05)


async def test_order_status_then_shipping_message_once(settings: Settings, runtime: Runtime,
                                                        telegram_api: TelegramApiStandin,
                                                        shopify_api: ShopifyAdminStandin) -> None:
    order = shopify_api.shop.order("#1013")
    async for served in serve(settings, runtime):
        chat = Chat(served, telegram_api)
        texts = await chat.say("where is my order #1013? my email is priya.brown@example.com")
        assert any("#1013" in t and "paid" in t for t in texts), texts
        assert "notify:ship:#1013" in chat.buttons() and "order:cancel:#1013" in chat.buttons()
        texts = await chat.press("notify:ship:#1013")
        assert any("once order #1013 ships" in t for t in texts), texts

        payload = shopify_api.shop.fulfil(order, tracking="1Z0001")
        assert await _webhook(served, "fulfillments/create", payload, times=3, webhook_id="wh-e2e-ful") == [200] * 3
        assert await _webhook(served, "orders/fulfilled", {"id": int(order["id"].rsplit("/", 1)[1]),
                                                           "name": "#1013", "fulfillments": [payload]}) == [200]
        assert await _webhook(served, "fulfillments/create", payload, secret="forged") == [401]
        await runtime.shopify.events.drain()
        await _wait_for_text(chat, "tracknum=1Z0001")
        await asyncio.sleep(1.5)  # one more delivery round: nothing else may go out
        shipped = [t for t in telegram_texts(chat.sent()) if "has shipped" in t]
        assert len(shipped) == 1 and "UPS" in shipped[0]


async def test_cancel_needs_an_explicit_yes_else_staff(settings: Settings, runtime: Runtime,
                                                       telegram_api: TelegramApiStandin,
                                                       shopify_api: ShopifyAdminStandin) -> None:
    order = shopify_api.shop.order("#1014")
    async for served in serve(settings, runtime):
        chat = Chat(served, telegram_api)
        await chat.say("status of order #1014, email omar.cohen@example.com")
        texts = await chat.press("order:cancel:#1014")
        assert any("answer yes to confirm" in t for t in texts), texts
        await chat.say("hmm, maybe not")
        assert order["cancelledAt"] is None, "anything but an explicit yes cancels nothing"
        await chat.press("order:cancel:#1014")
        texts = await chat.say("yes")
        assert any("#1014 is cancelled" in t for t in texts), texts
        assert order["cancelledAt"] and order["cancelReason"] == "CUSTOMER"

        other = Chat(served, telegram_api, chat_id=778)
        await other.say("status of order #1010, email mason.kim@example.com")
        texts = await other.say("please cancel my order")
        assert any("asked our team" in t for t in texts), texts
        assert shopify_api.shop.order("#1010")["cancelledAt"] is None


async def test_catalogue_changes_reach_search_and_the_cart(settings: Settings, runtime: Runtime,
                                                           telegram_api: TelegramApiStandin,
                                                           shopify_api: ShopifyAdminStandin) -> None:
    async for served in serve(settings, runtime):
        chat = Chat(served, telegram_api)
        product = shopify_api.shop.product("organic-cotton-ringer-tee")
        variant = next(v for v in product["variants"] if v["inventoryQuantity"] > 0)
        await chat.press(f"add:{variant['sku']}")
        assert any(t.startswith("Added") for t in telegram_texts(chat.sent())), telegram_texts(chat.sent())

        product["title"] = "Organic Cotton Ringer Tee Aurora Edition"
        product["updatedAt"] = "2031-01-01T00:00:00Z"
        assert await _webhook(served, "products/update", rest_product(product)) == [200]
        await runtime.shopify.events.drain()
        live = runtime.shopify.backend.live
        deadline = asyncio.get_running_loop().time() + 5
        while "Aurora" not in live.catalog.get("organic-cotton-ringer-tee").title:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.02)
        hits = await live.search.search("aurora edition ringer tee", k=3)
        assert hits and hits[0].product.handle == "organic-cotton-ringer-tee"

        assert await _webhook(served, "products/delete", {"id": int(product["id"].rsplit("/", 1)[1])}) == [200]
        await runtime.shopify.events.drain()
        while live.catalog.get("organic-cotton-ringer-tee") is not None:
            assert asyncio.get_running_loop().time() < deadline + 5
            await asyncio.sleep(0.02)
        texts = await chat.press("intent:view_cart")
        assert any("(no longer available)" in t for t in texts), texts
        texts = await chat.press("intent:checkout")
        assert any("Left out of checkout" in t for t in texts), texts
        assert not any("Check out here" in t for t in texts)


async def test_a_revoked_token_gets_a_polite_reply_and_readyz_says_why(settings: Settings, runtime: Runtime,
                                                                       telegram_api: TelegramApiStandin,
                                                                       shopify_api: ShopifyAdminStandin) -> None:
    async for served in serve(settings, runtime):
        ready = (await served.client.get("/readyz")).json()
        assert ready["status"] == "ready" and ready["shopify"] == "ok"
        chat = Chat(served, telegram_api)
        shopify_api.revoke()
        texts = await chat.say("where is my order #1001? email ava.cohen@example.com")
        assert any("can't reach the shop's order system" in t for t in texts), texts
        assert not any("Traceback" in t or "error" in t.lower() for t in texts)
        ready = (await served.client.get("/readyz")).json()
        assert ready["status"] == "degraded" and "401" in ready["shopify"]
        texts = await chat.say("show me a hoodie")  # search still runs on the synced catalogue
        assert texts and not any("can't reach" in t for t in texts)
        texts = await chat.say("where is my order #99999? email ava.cohen@example.com")
        assert texts


async def test_back_in_stock_once_and_notify_off_and_forget(settings: Settings, runtime: Runtime,
                                                            telegram_api: TelegramApiStandin,
                                                            shopify_api: ShopifyAdminStandin) -> None:
    sold_out = [v for v in shopify_api.shop.variants()
                if v["inventoryQuantity"] <= 0 and v["inventoryPolicy"] == "DENY" and v["product"]["status"] == "ACTIVE"
                and v["product"]["publishedAt"] and v["inventoryItem"]["tracked"]]
    first, second, third = sold_out[0], sold_out[1], sold_out[2]
    async for served in serve(settings, runtime):
        chat = Chat(served, telegram_api)
        texts = await chat.press(f"notify:stock:{first['sku']}")
        assert any("once" in t and "back in stock" in t for t in texts), texts
        texts = await chat.say("/notify")
        assert any("You'll get a message when" in t for t in texts), texts
        restock = shopify_api.shop.set_available(first, 3)
        assert await _webhook(served, "inventory_levels/update", restock, times=3, webhook_id="wh-restock-1") \
            == [200] * 3
        await runtime.shopify.events.drain()
        await _wait_for_text(chat, "is back in stock. https://")
        await asyncio.sleep(1.5)
        assert len([t for t in telegram_texts(chat.sent()) if "is back in stock. https://" in t]) == 1

        await chat.press(f"notify:stock:{second['sku']}")
        texts = await chat.say("/notify off")
        assert any("(1 stopped)" in t for t in texts), texts
        await chat.press(f"notify:stock:{third['sku']}")
        await chat.say("/forget")
        for variant in (second, third):
            await _webhook(served, "inventory_levels/update", shopify_api.shop.set_available(variant, 2))
        await runtime.shopify.events.drain()
        await asyncio.sleep(1.5)
        assert len([t for t in telegram_texts(chat.sent()) if "is back in stock. https://" in t]) == 1, \
            "nobody who switched off or forgot is messaged"
