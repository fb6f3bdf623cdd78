"""The commerce backend port: which backend the settings choose, and the offline (demo) backend."""

from __future__ import annotations

import pytest

from core.commerce.backend import backend_kind
from core.commerce.errors import CommerceRejected
from core.commerce.offline import OfflineBackend
from core.commerce.shopdata import OrderStatus, load_orders, load_stores
from core.commerce.shopify.convert import record_from_webhook, shipment_from_webhook, version
from core.errors import ConfigError
from core.settings import Settings
from tests.core.catalog_support import SHOP_DATA, demo_catalog


def test_the_offline_demo_is_the_default() -> None:
    assert backend_kind(Settings(_env_file=None)) == "offline"


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ({"shopify_shop_domain": "my-shop"}, "SHOPIFY_ADMIN_TOKEN"),
        ({"shopify_shop_domain": "my-shop", "shopify_admin_token": "shpat_x"}, "SHOPIFY_WEBHOOK_SECRET"),
        ({"commerce_backend": "shopify"}, "SHOPIFY_SHOP_DOMAIN"),
    ],
)
def test_a_missing_shopify_setting_is_named(given: dict, missing: str) -> None:
    with pytest.raises(ConfigError) as caught:
        backend_kind(Settings(**given))
    assert caught.value.name == missing
    assert missing in str(caught.value)


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        backend_kind(Settings(commerce_backend="magento"))
    assert caught.value.name == "SHOPKEEP_COMMERCE_BACKEND"


def test_complete_shopify_settings_choose_shopify() -> None:
    settings = Settings(shopify_shop_domain="my-shop", shopify_admin_token="t", shopify_webhook_secret="s")
    assert backend_kind(settings) == "shopify"


@pytest.fixture
def offline() -> OfflineBackend:
    return OfflineBackend(catalog=demo_catalog(), orders=load_orders(SHOP_DATA / "orders.yaml"),
                          stores=load_stores(SHOP_DATA / "stores.yaml"))


async def test_offline_orders_cancel_and_returns(offline: OfflineBackend) -> None:
    assert (await offline.find_order("1013")).status == OrderStatus.PAID
    assert await offline.find_order("#99999") is None
    receipt = await offline.cancel_order(await offline.find_order("#1013"))
    assert receipt.order == "#1013"
    assert (await offline.find_order("#1013")).status == OrderStatus.CANCELLED
    with pytest.raises(CommerceRejected):
        await offline.cancel_order(await offline.find_order("#1001"))  # delivered
    delivered = await offline.find_order("#1001")
    items = await offline.returnable_items(delivered)
    assert {i.sku for i in items} == {li.sku for li in delivered.line_items}
    rma = await offline.request_return(delivered, items[0], reason="damaged")
    assert rma.name.startswith("RMA-") and rma.status == "OPEN"
    assert await offline.returnable_items(await offline.find_order("#1013")) == []  # not delivered
    assert offline.stores() and offline.problem is None


def test_webhook_payload_shapes_are_read() -> None:
    record = record_from_webhook({"id": 632910392, "title": "IPod Nano", "handle": "ipod-nano", "status": "active",
                                  "published_at": None, "updated_at": "2025-01-01T12:00:00-05:00",
                                  "variants": [{"id": 808950810, "price": "199.00", "inventory_item_id": 808950810}]})
    assert record["id"] == "632910392" and record["published"] is False
    assert record["v"] == version("2025-01-01T17:00:00Z") and record["variants"][0]["id"] == "808950810"
    with pytest.raises(ValueError):
        record_from_webhook({"title": "no id"})
    fulfilment = {"id": 1, "order_id": 450789469, "status": "success", "name": "#1001.1", "tracking_company": "UPS",
                  "tracking_number": None, "tracking_numbers": ["1Z2345"], "tracking_url": None,
                  "tracking_urls": ["https://ups.example/1Z2345"]}
    shipment = shipment_from_webhook("fulfillments/create", fulfilment)
    assert shipment is not None and (shipment.order_id, shipment.order_name) == ("450789469", "#1001")
    assert (shipment.number, shipment.url, shipment.company) == ("1Z2345", "https://ups.example/1Z2345", "UPS")
    assert shipment_from_webhook("fulfillments/update", {**fulfilment, "status": "cancelled"}) is None
    order = shipment_from_webhook("orders/fulfilled", {"id": 450789469, "name": "#1001", "fulfillments": [fulfilment]})
    assert order is not None and order.tracked and order.order_name == "#1001"
    assert shipment_from_webhook("orders/fulfilled", {"name": "#1"}) is None
