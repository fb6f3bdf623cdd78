"""Pure translations between Shopify's shapes and Shopkeep's commerce models.

The catalogue snapshot keeps each product as a *record*: the Admin API's REST
product shape (what product webhooks carry, and what
:func:`core.commerce.catalog.product_from_admin_json` reads), plus ``id``
(the numeric product id) and ``v`` (``updated_at`` in epoch milliseconds, so
an older delivery never overwrites a newer one). GraphQL pages are turned
into the same records, so one reader serves the initial sync, the webhooks
and the snapshot.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from core.commerce.shopdata import Customer, LineItem, Order, OrderStatus

_GID = re.compile(r"^gid://shopify/([A-Za-z]+)/(\d+)")


def legacy_id(value: Any) -> str:
    """``"gid://shopify/ProductVariant/123?x=1"`` or ``123`` → ``"123"`` ("" when neither)."""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return str(value)
    text = str(value).strip()
    match = _GID.match(text)
    if match:
        return match.group(2)
    return text if text.isdigit() else ""


def gid(kind: str, value: Any) -> str:
    """``gid("Order", 450789469)`` → ``"gid://shopify/Order/450789469"``."""
    return f"gid://shopify/{kind}/{legacy_id(value)}"


def version(updated_at: Any) -> int:
    """An ISO 8601 ``updated_at`` as epoch milliseconds (0 when missing or unreadable)."""
    if not isinstance(updated_at, str) or not updated_at:
        return 0
    try:
        moment = datetime.fromisoformat(updated_at)  # Python 3.11 reads a trailing "Z"
    except ValueError:
        return 0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def record_from_graphql(product: Mapping[str, Any], variants: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A snapshot record from a ``ShopkeepProducts`` node and its ``ShopkeepVariants`` nodes."""
    options = sorted(product.get("options") or [], key=lambda o: o.get("position") or 0)
    names = [str(o.get("name") or "") for o in options]
    images = [str(i["url"]) for i in (product.get("images") or {}).get("nodes", []) if i.get("url")]
    out_variants = []
    for v in variants:
        chosen = {str(o.get("name")): o.get("value") for o in v.get("selectedOptions") or []}
        item = v.get("inventoryItem") or {}
        image = (v.get("image") or {}).get("url")
        if image and image not in images:
            images.append(str(image))
        row: dict[str, Any] = {
            "id": legacy_id(v.get("id")),
            "sku": v.get("sku") or "",
            "title": v.get("title") or "",
            "price": v.get("price"),
            "compare_at_price": v.get("compareAtPrice"),
            "inventory_policy": str(v.get("inventoryPolicy") or "DENY").lower(),
            "inventory_quantity": v.get("inventoryQuantity"),
            "inventory_management": "shopify" if item.get("tracked", True) else None,
            "inventory_item_id": legacy_id(item.get("id")),
            "image_id": image,
        }
        for i in range(3):
            row[f"option{i + 1}"] = chosen.get(names[i]) if i < len(names) else None
        out_variants.append(row)
    category = product.get("category") or {}
    return {
        "id": legacy_id(product.get("id")),
        "v": version(product.get("updatedAt")),
        "handle": product.get("handle") or "",
        "title": product.get("title") or "",
        "body_html": product.get("descriptionHtml") or "",
        "vendor": product.get("vendor") or "",
        "product_type": product.get("productType") or "",
        "category": {"full_name": category.get("fullName", "")} if category else None,
        "tags": list(product.get("tags") or []),
        "status": str(product.get("status") or "ACTIVE").lower(),
        "published": product.get("publishedAt") is not None,
        "gift_card": bool(product.get("isGiftCard", False)),
        "options": [{"name": n, "position": i + 1} for i, n in enumerate(names)],
        "images": [{"id": url, "src": url, "position": i + 1} for i, url in enumerate(images)],
        "variants": out_variants,
    }


def record_from_webhook(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A snapshot record from a ``products/create`` or ``products/update`` payload.

    Raises:
        ValueError: the payload has no product id.
    """
    pid = legacy_id(payload.get("id"))
    if not pid:
        raise ValueError("product payload without an id")
    record = dict(payload)
    record["id"] = pid
    record["v"] = version(payload.get("updated_at"))
    if not isinstance(payload.get("published"), bool):
        record["published"] = payload.get("published_at") is not None
    variants = []
    for v in payload.get("variants") or []:
        if isinstance(v, Mapping):
            row = dict(v)
            row["id"] = legacy_id(v.get("id"))
            row["inventory_item_id"] = legacy_id(v.get("inventory_item_id"))
            variants.append(row)
    record["variants"] = variants
    return record


def with_quantity(record: Mapping[str, Any], variant_id: str, quantity: int | None, at: int) -> dict[str, Any] | None:
    """A copy of ``record`` with one variant's ``inventory_quantity`` set; None when the variant is not there."""
    variants = []
    found = False
    for v in record.get("variants") or []:
        if legacy_id(v.get("id")) == variant_id:
            v = {**v, "inventory_quantity": quantity}
            found = True
        variants.append(v)
    if not found:
        return None
    return {**record, "variants": variants, "v": max(int(record.get("v") or 0), at)}


# --------------------------------------------------------------------------- orders


def _money(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(0)


def _datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)  # Python 3.11 reads a trailing "Z"
    except ValueError:
        return None


def order_from_graphql(node: Mapping[str, Any]) -> Order:
    """An :class:`~core.commerce.shopdata.Order` from a ``ShopkeepOrder`` node."""
    fulfillments = list(node.get("fulfillments") or [])
    tracking = next((t for f in fulfillments for t in f.get("trackingInfo") or [] if t.get("number")), None)
    delivered = [d for f in fulfillments if (d := _datetime(f.get("deliveredAt")))]
    fulfilled = [d for f in fulfillments if (d := _datetime(f.get("createdAt")))]
    items = []
    currency = str(node.get("currencyCode") or "USD")
    for li in (node.get("lineItems") or {}).get("nodes", []):
        price = ((li.get("originalUnitPriceSet") or {}).get("shopMoney") or {}).get("amount")
        items.append(LineItem(
            id=li.get("id"),
            handle=str((li.get("product") or {}).get("handle") or ""),
            sku=str(li.get("sku") or ""),
            title=str(li.get("title") or ""),
            variant_title=str(li.get("variantTitle") or ""),
            quantity=max(int(li.get("quantity") or 1), 1),
            price=_money(price),
        ))
    return Order(
        number=str(node.get("name") or ""),
        id=node.get("id"),
        customer=Customer(name=str((node.get("customer") or {}).get("displayName") or ""),
                          email=str(node.get("email") or ""), phone=str(node.get("phone") or "")),
        created_at=_datetime(node.get("createdAt")) or datetime.now(UTC),
        status=_status(node, fulfillments, bool(tracking), bool(delivered)),
        currency=currency,
        line_items=tuple(items),
        shipping_city=(node.get("shippingAddress") or {}).get("city"),
        carrier=(tracking or {}).get("company"),
        tracking_number=(tracking or {}).get("number"),
        tracking_url=(tracking or {}).get("url"),
        fulfilled_at=min(fulfilled) if fulfilled else None,
        delivered_at=max(delivered) if delivered else None,
        cancelled_at=_datetime(node.get("cancelledAt")),
    )


def _status(node: Mapping[str, Any], fulfillments: Sequence[Mapping[str, Any]], tracked: bool,
            delivered: bool) -> OrderStatus:
    if node.get("cancelledAt"):
        return OrderStatus.CANCELLED
    if node.get("displayFinancialStatus") == "REFUNDED":
        return OrderStatus.REFUNDED
    if delivered or any(f.get("displayStatus") == "DELIVERED" for f in fulfillments):
        return OrderStatus.DELIVERED
    if node.get("displayFulfillmentStatus") in ("FULFILLED", "PARTIALLY_FULFILLED"):
        return OrderStatus.SHIPPED if tracked else OrderStatus.FULFILLED
    if node.get("displayFinancialStatus") in ("PAID", "PARTIALLY_REFUNDED"):
        return OrderStatus.PAID
    return OrderStatus.PENDING


@dataclass(frozen=True, kw_only=True)
class Shipment:
    """What a shipping notification needs, from ``orders/fulfilled`` or ``fulfillments/*``."""

    order_id: str  # numeric
    order_name: str = ""
    company: str = ""
    number: str = ""
    url: str = ""

    @property
    def tracked(self) -> bool:
        return bool(self.number or self.url)


def _first(values: Iterable[Any]) -> str:
    return next((str(v) for v in values if v), "")


def _tracking(fulfillment: Mapping[str, Any]) -> tuple[str, str, str]:
    number = str(fulfillment.get("tracking_number") or "") or _first(fulfillment.get("tracking_numbers") or [])
    url = str(fulfillment.get("tracking_url") or "") or _first(fulfillment.get("tracking_urls") or [])
    return str(fulfillment.get("tracking_company") or ""), number, url


def shipment_from_webhook(topic: str, payload: Mapping[str, Any]) -> Shipment | None:
    """The shipment an ``orders/fulfilled`` or ``fulfillments/create|update`` payload announces.

    ``orders/fulfilled`` carries the order (``id``, ``name``, ``fulfillments``);
    ``fulfillments/*`` carry one fulfillment (``order_id``, ``name`` such as
    ``#1001.1``, ``tracking_*``). None when the payload names no order.
    """
    if topic == "orders/fulfilled":
        order_id = legacy_id(payload.get("id"))
        if not order_id:
            return None
        fulfillments = [f for f in payload.get("fulfillments") or [] if isinstance(f, Mapping)]
        tracked = next((f for f in fulfillments if any(_tracking(f)[1:])), fulfillments[0] if fulfillments else {})
        company, number, url = _tracking(tracked)
        return Shipment(order_id=order_id, order_name=str(payload.get("name") or ""), company=company,
                        number=number, url=url)
    order_id = legacy_id(payload.get("order_id"))
    if not order_id:
        return None
    if str(payload.get("status") or "success") in ("cancelled", "error", "failure"):
        return None
    company, number, url = _tracking(payload)
    name = str(payload.get("name") or "").split(".", 1)[0]
    return Shipment(order_id=order_id, order_name=name, company=company, number=number, url=url)
