"""The stand-in shop's data, shaped like the Admin API's objects, and REST webhook payloads.

Objects are plain dicts keyed by GraphQL field names (``descriptionHtml``,
``inventoryQuantity``...). A value may be a callable taking the field's
arguments (``quantities(names:)``). :class:`FakeShop` builds them from a
catalogue and an order book, or synthesises a large shop for benchmarks.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from core.commerce.catalog import Product
from core.commerce.shopdata import Order, OrderStatus

LOCATIONS = ({"id": "gid://shopify/Location/61001", "name": "Warehouse", "isActive": True},
             {"id": "gid://shopify/Location/61002", "name": "Downtown store", "isActive": True})


def gid(kind: str, number: int) -> str:
    return f"gid://shopify/{kind}/{number}"


def number(gid_text: str) -> int:
    return int(gid_text.rsplit("/", 1)[1].split("?", 1)[0])


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class FakeShop:
    """Everything the stand-in serves. Mutate it (then send a webhook) to play a change in the shop."""

    name: str = "Stand-in Shop"
    domain: str = "standin-shop.myshopify.com"
    products: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    returns: list[dict[str, Any]] = field(default_factory=list)
    # Ids count from the same start in every shop: two processes building the same shop agree on them.
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(7_000_000_001), repr=False)

    # --- look-ups --------------------------------------------------------------------------
    def variants(self) -> list[dict[str, Any]]:
        return [v for p in self.products for v in p["variants"]]

    def product(self, handle: str) -> dict[str, Any]:
        return next(p for p in self.products if p["handle"] == handle)

    def order(self, name: str) -> dict[str, Any]:
        return next(o for o in self.orders if o["name"] == name)

    def find(self, gid_text: str) -> dict[str, Any] | None:
        for p in self.products:
            if p["id"] == gid_text:
                return p
            for v in p["variants"]:
                if v["id"] == gid_text:
                    return v
                if v["inventoryItem"]["id"] == gid_text:
                    return v["inventoryItem"]
        return next((o for o in self.orders if o["id"] == gid_text), None)

    # --- building ------------------------------------------------------------------------------
    def add_product(self, *, handle: str, title: str, product_type: str = "", tags: Sequence[str] = (),
                    body_html: str = "", vendor: str = "Stand-in", status: str = "ACTIVE", published: bool = True,
                    options: Sequence[str] = (), variants: Sequence[dict[str, Any]] = (),
                    images: Sequence[str] = ()) -> dict[str, Any]:
        """Add a product; each variant is ``{"sku", "price", "qty", "options": {...}, "policy"}``."""
        pid = next(self.ids)
        product: dict[str, Any] = {
            "id": gid("Product", pid), "handle": handle, "title": title, "descriptionHtml": body_html,
            "vendor": vendor, "productType": product_type, "tags": list(tags), "status": status,
            "publishedAt": "2024-01-01T00:00:00Z" if published else None, "isGiftCard": False,
            "updatedAt": now_iso(), "category": None,
            "options": [{"name": n, "position": i + 1, "values": []} for i, n in enumerate(options)],
            "images": [{"url": u, "altText": None} for u in images], "variants": [],
        }
        for spec in variants:
            self.add_variant(product, **spec)
        self.products.append(product)
        return product

    def add_variant(self, product: dict[str, Any], *, sku: str, price: str | Decimal, qty: int | None = 5,
                    options: dict[str, str] | None = None, policy: str = "DENY",
                    compare_at: str | None = None) -> dict[str, Any]:
        vid, iid = next(self.ids), next(self.ids)
        chosen = options or {}
        title = " / ".join(chosen.values()) or "Default Title"
        variant: dict[str, Any] = {
            "id": gid("ProductVariant", vid), "sku": sku, "title": title, "price": str(price),
            "compareAtPrice": compare_at, "inventoryPolicy": policy,
            "inventoryQuantity": qty if qty is not None else 0,
            "selectedOptions": [{"name": k, "value": v} for k, v in chosen.items()],
            "image": None, "product": product,
        }
        levels = {LOCATIONS[0]["id"]: max(qty or 0, 0), LOCATIONS[1]["id"]: 0}
        item: dict[str, Any] = {"id": gid("InventoryItem", iid), "tracked": qty is not None, "variant": variant,
                                "levels": levels, "sku": sku}
        item["inventoryLevels"] = lambda **_: [_level(item, loc) for loc in LOCATIONS]
        variant["inventoryItem"] = item
        product["variants"].append(variant)
        return variant

    def set_available(self, variant: dict[str, Any], quantity: int, location: int = 0) -> dict[str, Any]:
        """Change one location's available stock; returns the ``inventory_levels/update`` payload."""
        item = variant["inventoryItem"]
        loc = LOCATIONS[location]["id"]
        item["levels"][loc] = quantity
        variant["inventoryQuantity"] = sum(item["levels"].values())
        variant["product"]["updatedAt"] = now_iso()
        return {"inventory_item_id": number(item["id"]), "location_id": number(loc), "available": quantity,
                "updated_at": now_iso(),
                "admin_graphql_api_id": f"gid://shopify/InventoryLevel/{number(loc)}?inventory_item_id={number(item['id'])}"}

    @classmethod
    def from_catalog(cls, products: Sequence[Product], orders: Sequence[Order] = ()) -> FakeShop:
        """A shop holding a catalogue's products (variants, stock, status) and an order book."""
        shop = cls()
        for p in products:
            record = shop.add_product(
                handle=p.handle, title=p.title, product_type=p.product_type, tags=p.tags, body_html=p.body_html,
                vendor=p.vendor, status=p.status.upper(), published=p.published, options=p.option_names,
                images=p.images,
                variants=[{"sku": v.sku, "price": v.price, "qty": v.inventory_qty, "options": dict(v.options),
                           "policy": v.inventory_policy.upper(),
                           "compare_at": str(v.compare_at_price) if v.compare_at_price is not None else None}
                          for v in p.variants])
            if p.category:
                record["category"] = {"fullName": p.category, "name": p.category.rsplit(" > ", 1)[-1]}
        for o in orders:
            shop.add_order(o)
        return shop

    def add_order(self, order: Order) -> dict[str, Any]:
        oid = next(self.ids)
        lines = []
        for li in order.line_items:
            lines.append({
                "id": gid("LineItem", next(self.ids)), "title": li.title, "variantTitle": li.variant_title or None,
                "sku": li.sku, "quantity": li.quantity, "product": {"handle": li.handle} if li.handle else None,
                "originalUnitPriceSet": {"shopMoney": {"amount": str(li.price), "currencyCode": order.currency},
                                         "presentmentMoney": {"amount": str(li.price), "currencyCode": order.currency}},
            })
        shipped = order.status in (OrderStatus.FULFILLED, OrderStatus.SHIPPED, OrderStatus.DELIVERED)
        fulfillments = []
        if shipped:
            fulfillments.append({
                "id": gid("Fulfillment", next(self.ids)), "status": "SUCCESS",
                "displayStatus": "DELIVERED" if order.status == OrderStatus.DELIVERED else "FULFILLED",
                "createdAt": (order.fulfilled_at or order.created_at).isoformat(),
                "deliveredAt": order.delivered_at.isoformat() if order.delivered_at else None,
                "trackingInfo": [{"company": order.carrier, "number": order.tracking_number,
                                  "url": f"https://track.example.com/{order.tracking_number}"}]
                if order.tracking_number else [],
                "lines": [{"id": gid("FulfillmentLineItem", next(self.ids)), "lineItem": li, "quantity": li["quantity"]}
                          for li in lines],
            })
        financial = {"refunded": "REFUNDED", "pending": "PENDING"}.get(order.status.value, "PAID")
        record = {
            "id": gid("Order", oid), "name": order.number, "email": order.customer.email or None,
            "phone": order.customer.phone or None, "createdAt": order.created_at.isoformat(),
            "cancelledAt": order.cancelled_at.isoformat() if order.cancelled_at else None,
            "currencyCode": order.currency, "displayFinancialStatus": financial,
            "displayFulfillmentStatus": "FULFILLED" if shipped else "UNFULFILLED",
            "customer": {"displayName": order.customer.name}, "shippingAddress": {"city": order.shipping_city},
            "fulfillments": fulfillments, "lineItems": lines,
        }
        self.orders.append(record)
        return record

    def fulfil(self, order: dict[str, Any], *, company: str = "UPS", tracking: str = "1Z999AA10123456784",
               url: str | None = None) -> dict[str, Any]:
        """Ship every line of an order; returns the ``fulfillments/create`` payload."""
        fid = next(self.ids)
        url = url or f"https://www.ups.com/track?tracknum={tracking}"
        fulfillment = {
            "id": gid("Fulfillment", fid), "status": "SUCCESS", "displayStatus": "FULFILLED",
            "createdAt": now_iso(), "deliveredAt": None,
            "trackingInfo": [{"company": company, "number": tracking, "url": url}],
            "lines": [{"id": gid("FulfillmentLineItem", next(self.ids)), "lineItem": li, "quantity": li["quantity"]}
                      for li in order["lineItems"]],
        }
        order["fulfillments"].append(fulfillment)
        order["displayFulfillmentStatus"] = "FULFILLED"
        return {
            "id": fid, "order_id": number(order["id"]), "status": "success", "created_at": now_iso(),
            "service": "manual", "updated_at": now_iso(), "tracking_company": company, "shipment_status": None,
            "location_id": number(LOCATIONS[0]["id"]), "email": order["email"], "destination": None,
            "line_items": [], "tracking_number": tracking, "tracking_numbers": [tracking],
            "tracking_url": url, "tracking_urls": [url], "receipt": {}, "name": f"{order['name']}.1",
            "admin_graphql_api_id": fulfillment["id"],
        }


def _level(item: dict[str, Any], location: dict[str, Any]) -> dict[str, Any]:
    available = item["levels"].get(location["id"], 0)

    def quantities(names: Sequence[str] = ()) -> list[dict[str, Any]]:
        values = {"available": available, "on_hand": available, "committed": 0, "incoming": 0}
        return [{"name": n, "quantity": values.get(n, 0)} for n in names]

    return {"id": f"gid://shopify/InventoryLevel/{number(location['id'])}?inventory_item_id={number(item['id'])}",
            "location": location, "quantities": quantities, "item": item}


def rest_product(product: dict[str, Any]) -> dict[str, Any]:
    """The ``products/create|update`` webhook payload (the REST product resource) of a stand-in product."""
    pid = number(product["id"])
    names = [o["name"] for o in product["options"]]
    variants = []
    for position, v in enumerate(product["variants"], start=1):
        chosen = {o["name"]: o["value"] for o in v["selectedOptions"]}
        row = {
            "id": number(v["id"]), "product_id": pid, "title": v["title"], "price": v["price"], "sku": v["sku"],
            "position": position, "inventory_policy": v["inventoryPolicy"].lower(),
            "compare_at_price": v["compareAtPrice"], "fulfillment_service": "manual",
            "inventory_management": "shopify" if v["inventoryItem"]["tracked"] else None,
            "created_at": "2024-01-01T00:00:00-05:00", "updated_at": product["updatedAt"], "taxable": True,
            "barcode": None, "grams": 0, "image_id": None, "weight": 0.0, "weight_unit": "kg",
            "inventory_item_id": number(v["inventoryItem"]["id"]), "inventory_quantity": v["inventoryQuantity"],
            "old_inventory_quantity": v["inventoryQuantity"], "requires_shipping": True,
            "admin_graphql_api_id": v["id"],
        }
        for i in range(3):
            row[f"option{i + 1}"] = chosen.get(names[i]) if i < len(names) else None
        variants.append(row)
    images = [{"id": 800_000 + i, "product_id": pid, "position": i + 1, "src": im["url"], "variant_ids": [],
               "alt": None, "width": 800, "height": 800, "admin_graphql_api_id": f"gid://shopify/ProductImage/{800_000 + i}"}
              for i, im in enumerate(product["images"])]
    return {
        "id": pid, "title": product["title"], "body_html": product["descriptionHtml"], "vendor": product["vendor"],
        "product_type": product["productType"], "created_at": "2024-01-01T00:00:00-05:00",
        "handle": product["handle"], "updated_at": product["updatedAt"], "published_at": product["publishedAt"],
        "template_suffix": None, "published_scope": "web", "tags": ", ".join(product["tags"]),
        "status": product["status"].lower(), "admin_graphql_api_id": product["id"], "variants": variants,
        "options": [{"id": 900_000 + i, "product_id": pid, "name": n, "position": i + 1, "values": []}
                    for i, n in enumerate(names)],
        "images": images, "image": images[0] if images else None, "media": [],
        "variant_gids": [{"admin_graphql_api_id": v["id"], "updated_at": product["updatedAt"]}
                         for v in product["variants"]],
    }


_WORDS = ("classic", "organic", "heritage", "everyday", "merino", "linen", "canvas", "trail", "studio", "coastal",
          "alpine", "urban", "vintage", "relaxed", "tailored", "soft", "recycled", "waxed", "quilted", "ribbed")
_TYPES = ("T-Shirts", "Hoodies", "Jeans", "Jackets", "Sneakers", "Boots", "Bags", "Hats", "Socks", "Mugs",
          "Candles", "Dresses", "Belts", "Scarves", "Sweaters", "Shorts")
_COLORS = ("Black", "White", "Navy", "Grey", "Red", "Olive", "Tan", "Blue")
_SIZES = ("S", "M", "L", "XL")


def synthetic_shop(products: int, variants_per_product: int = 4, seed: int = 7) -> FakeShop:
    """A shop of ``products`` active products with ``variants_per_product`` variants each (colour × size)."""
    rng = random.Random(seed)
    shop = FakeShop()
    for i in range(products):
        kind = _TYPES[i % len(_TYPES)]
        words = rng.sample(_WORDS, 2)
        title = f"{words[0].title()} {words[1].title()} {kind.rstrip('s')} {i}"
        colors = rng.sample(_COLORS, 2)
        specs = []
        for j in range(variants_per_product):
            color, size = colors[j % 2], _SIZES[(j // 2) % len(_SIZES)]
            specs.append({"sku": f"SYN-{i:05d}-{j}", "price": f"{rng.randint(8, 180)}.00",
                          "qty": rng.choice((0, 2, 5, 12, 30)), "options": {"Color": color, "Size": size}})
        shop.add_product(handle=f"syn-{i:05d}", title=title, product_type=kind, tags=[words[0], kind.lower()],
                         body_html=f"<p>A {words[0]} {words[1]} {kind.lower().rstrip('s')} for every day.</p>",
                         options=("Color", "Size"), variants=specs)
    return shop


def order_ago(days: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)
