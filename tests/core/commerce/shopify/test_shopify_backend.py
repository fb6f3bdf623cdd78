"""The Shopify backend's orders, cancellations, returns and stock against the stand-in."""

from __future__ import annotations

import pytest

from core.commerce.errors import CommerceAuthError, CommerceRejected
from core.commerce.shopdata import OrderStatus
from core.commerce.shopify.backend import ShopifyBackend
from core.commerce.shopify.client import ShopifyClient
from core.commerce.shopify.snapshot import MemoryCatalogSnapshot
from tests.adapters.standins.shopify import ShopifyAdminStandin
from tests.core.catalog_support import HashingEncoder


@pytest.fixture
async def backend(client: ShopifyClient) -> ShopifyBackend:
    return ShopifyBackend(client=client, snapshot=MemoryCatalogSnapshot(), encoder=HashingEncoder())


async def test_an_order_is_looked_up_by_name_with_tracking_and_lines(backend: ShopifyBackend,
                                                                      shopify_api: ShopifyAdminStandin) -> None:
    order = await backend.find_order("1001")
    assert order is not None and order.number == "#1001"
    assert order.id is not None and order.id.startswith("gid://shopify/Order/")
    assert order.status == OrderStatus.DELIVERED
    assert order.customer.email == "ava.cohen@example.com"
    assert order.carrier == "FedEx" and order.tracking_number and order.tracking_url
    assert [li.sku for li in order.line_items][:1] == ["NW-MUG-144-WHT"]
    assert order.matches_contact("AVA.COHEN@example.com")
    query = shopify_api.recorder.of("ShopkeepOrder")[0].params["variables"]["query"]
    assert query == "name:#1001"


async def test_an_order_that_does_not_exist_is_none(backend: ShopifyBackend) -> None:
    assert await backend.find_order("#99999") is None
    assert await backend.find_order("not an order") is None


async def test_an_unfulfilled_order_is_cancelled_through_order_cancel(backend: ShopifyBackend,
                                                                      shopify_api: ShopifyAdminStandin) -> None:
    unfulfilled = next(o for o in shopify_api.shop.orders if not o["fulfillments"] and not o["cancelledAt"])
    order = await backend.find_order(unfulfilled["name"])
    receipt = await backend.cancel_order(order, note="shopper asked in chat")
    assert receipt.order == unfulfilled["name"] and receipt.job_id
    assert unfulfilled["cancelledAt"] and unfulfilled["cancelReason"] == "CUSTOMER"
    again = await backend.find_order(unfulfilled["name"])
    assert again.status == OrderStatus.CANCELLED
    with pytest.raises(CommerceRejected) as caught:
        await backend.cancel_order(again)
    assert caught.value.codes == ("INVALID",)


async def test_a_fulfilled_order_cannot_be_cancelled(backend: ShopifyBackend) -> None:
    order = await backend.find_order("#1001")
    with pytest.raises(CommerceRejected) as caught:
        await backend.cancel_order(order)
    assert "fulfillments" in caught.value.messages[0]


async def test_returnable_lines_and_a_return_request(backend: ShopifyBackend,
                                                     shopify_api: ShopifyAdminStandin) -> None:
    order = await backend.find_order("#1001")
    items = await backend.returnable_items(order)
    assert {i.sku for i in items} == {li.sku for li in order.line_items}
    mug = next(i for i in items if i.sku == "NW-MUG-144-WHT")
    receipt = await backend.request_return(order, mug, reason="damaged")
    assert receipt.status == "REQUESTED" and receipt.name.startswith("#1001-R")
    sent = shopify_api.recorder.of("ShopkeepReturnRequest")[0].params["variables"]["input"]
    assert sent["returnLineItems"][0]["returnReason"] == "DEFECTIVE"
    assert "NW-MUG-144-WHT" not in {i.sku for i in await backend.returnable_items(order)}
    with pytest.raises(CommerceRejected):
        await backend.request_return(order, mug, reason="damaged")  # already returned


async def test_stock_per_location(backend: ShopifyBackend, shopify_api: ShopifyAdminStandin) -> None:
    await backend.start()
    try:
        variant = shopify_api.shop.variants()[0]
        levels = await backend.stock_levels(variant["sku"])
        assert [lv.location for lv in levels] == ["Warehouse", "Downtown store"]
        assert levels[0].available == variant["inventoryQuantity"]
    finally:
        await backend.live.stop()


async def test_a_token_revoked_mid_run_raises_and_says_what_is_wrong(backend: ShopifyBackend,
                                                                     shopify_api: ShopifyAdminStandin) -> None:
    assert await backend.find_order("#1001") is not None
    shopify_api.revoke()
    with pytest.raises(CommerceAuthError):
        await backend.find_order("#1001")
    assert backend.problem is not None and "401" in backend.problem


async def test_the_last_synced_catalogue_is_served_from_disk_while_the_api_is_down(
        client: ShopifyClient, tmp_path, shopify_api: ShopifyAdminStandin, sleeps) -> None:
    copy = tmp_path / "catalogue.json"
    first = ShopifyBackend(client=client, snapshot=MemoryCatalogSnapshot(), encoder=HashingEncoder(), cache_path=copy)
    await first.start()
    await first.live.stop()
    offered = {p.handle for p in first.catalog.offered()}
    assert copy.exists() and offered

    shopify_api.fail(503, times=100)  # the API is down, and this process has no snapshot
    down = ShopifyClient(endpoint=shopify_api.api_url, token="shpat_standin_token_0001", sleep=sleeps,
                         max_attempts=2)
    second = ShopifyBackend(client=down, snapshot=MemoryCatalogSnapshot(), encoder=HashingEncoder(), cache_path=copy)
    try:
        await second.start()
        assert {p.handle for p in second.catalog.offered()} == offered
        hits = await second.live.search.search(next(iter(second.catalog.offered())).title, k=1)
        assert hits, "search works on the copy"
        assert second.problem is not None and "503" in second.problem
    finally:
        await second.aclose()
