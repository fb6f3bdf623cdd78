"""Hypothesis: no webhook, however malformed, crashes the receiver or the catalogue (bad input is refused or skipped)."""

from __future__ import annotations

import asyncio
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.commerce.live import LiveShopCatalog
from core.commerce.shopify.events import ShopifyEvents
from core.commerce.shopify.snapshot import MemoryCatalogSnapshot
from core.commerce.shopify.webhooks import WebhookRejected, parse_delivery, sign
from core.sessions import MemorySessionStore
from tests.core.catalog_support import HashingEncoder

SECRET = "fuzz-secret"
DOMAIN = "standin-shop.myshopify.com"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
product_like = st.fixed_dictionaries({"id": st.integers(1, 10**6) | st.text(max_size=8)}, optional={
    "handle": st.text(max_size=10) | st.integers(), "title": st.text(max_size=10) | st.none(),
    "status": st.sampled_from(["active", "draft", "archived", "weird", ""]) | st.integers(),
    "variants": st.lists(st.dictionaries(st.sampled_from(["id", "price", "sku", "inventory_quantity", "option1",
                                                          "inventory_policy", "compare_at_price"]), json_values,
                                         max_size=6), max_size=3) | json_values,
    "options": json_values, "images": json_values, "tags": json_values, "updated_at": st.text(max_size=30),
    "published_at": st.none() | st.text(max_size=10),
})


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=200), headers=st.dictionaries(st.sampled_from(
    ["X-Shopify-Topic", "X-Shopify-Hmac-Sha256", "X-Shopify-Webhook-Id", "X-Shopify-Shop-Domain",
     "X-Shopify-Triggered-At"]), st.text(max_size=30), max_size=5), signed=st.booleans())
def test_any_request_is_parsed_or_refused(body: bytes, headers: dict[str, str], signed: bool) -> None:
    if signed:
        headers = {**headers, "X-Shopify-Hmac-Sha256": sign(body, SECRET)}
    try:
        delivery = parse_delivery(headers, body, secret=SECRET)
    except WebhookRejected as rejected:
        assert rejected.status in (400, 401)
        assert signed or rejected.status == 401, "an unsigned request is always refused as forged"
    else:
        assert signed and isinstance(delivery.payload, dict)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payloads=st.lists(st.tuples(st.sampled_from(["products/create", "products/update", "products/delete",
                                                    "orders/fulfilled", "fulfillments/create"]),
                                   product_like), min_size=1, max_size=4))
def test_malformed_payloads_never_break_the_catalogue(payloads: list[tuple[str, dict]]) -> None:
    async def run() -> None:
        snapshot = MemoryCatalogSnapshot()
        await snapshot.replace_all([])
        live = LiveShopCatalog(snapshot=snapshot, encoder=HashingEncoder())
        await live.load()
        events = ShopifyEvents(secret=SECRET, shop_domain=DOMAIN, store=MemorySessionStore(), snapshot=snapshot,
                               client=None, notifier=None)  # type: ignore[arg-type]
        for i, (topic, payload) in enumerate(payloads):
            body = json.dumps(payload).encode()
            headers = {"X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": sign(body, SECRET),
                       "X-Shopify-Webhook-Id": f"w{i}", "X-Shopify-Shop-Domain": DOMAIN}
            status, _ = await events.receive(headers, body)
            assert status == 200
        await events.drain()
        assert events.counts["applied"] + events.counts["failed"] == len(payloads)
        ids, _ = await snapshot.changes("0", block_ms=1)
        await live.apply([i for i in ids if i != "*"])  # whatever was stored, the catalogue still builds
        assert all(p.handle is not None for p in live.catalog.products())

    asyncio.run(run())
