"""Shopify webhook deliveries: verification and parsing (pure functions, no I/O).

Shopify POSTs the topic's REST resource as JSON with these headers
(``shopify.dev/docs/apps/build/webhooks/delivery-structure``)::

    X-Shopify-Topic: products/update
    X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the raw body, keyed with the app's client secret>
    X-Shopify-Shop-Domain: my-shop.myshopify.com
    X-Shopify-API-Version: 2025-01
    X-Shopify-Webhook-Id: <unique per delivery; the same on a retry of it>
    X-Shopify-Triggered-At: 2025-01-01T12:00:00.000000000Z
    X-Shopify-Event-Id: <the event; several subscriptions may share it>

The signature is checked on the raw bytes, before anything is parsed, and
compared in constant time. A forged or unsigned delivery is refused with 401
(what Shopify's own guidance asks for); a delivery that is signed but cannot
be understood gets 400. Shopify allows 5 s for the answer, so deliveries are
acknowledged first and applied afterwards (see :mod:`core.commerce.shopify.events`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from core.commerce.shopify.client import shop_subdomain

TOPIC = "X-Shopify-Topic"
HMAC = "X-Shopify-Hmac-Sha256"
SHOP_DOMAIN = "X-Shopify-Shop-Domain"
API_VERSION = "X-Shopify-API-Version"
WEBHOOK_ID = "X-Shopify-Webhook-Id"
TRIGGERED_AT = "X-Shopify-Triggered-At"
EVENT_ID = "X-Shopify-Event-Id"

#: The topics Shopkeep subscribes to; any other topic is acknowledged and ignored.
TOPICS = frozenset({
    "products/create", "products/update", "products/delete", "inventory_levels/update",
    "orders/fulfilled", "fulfillments/create", "fulfillments/update",
})


class WebhookRejected(Exception):
    """A delivery that must not be applied. ``status`` is the HTTP answer (401 forged, 400 malformed)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class WebhookDelivery(BaseModel):
    """One verified delivery."""

    model_config = ConfigDict(frozen=True)

    topic: str
    shop_domain: str
    webhook_id: str
    api_version: str = ""
    triggered_at: datetime | None = None
    event_id: str = ""
    payload: dict[str, Any]

    @property
    def known(self) -> bool:
        return self.topic in TOPICS


def sign(body: bytes, secret: str) -> str:
    """The ``X-Shopify-Hmac-Sha256`` value for ``body``: base64 of HMAC-SHA256 keyed with ``secret``."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify(body: bytes, signature: str | None, secret: str) -> bool:
    """Whether ``signature`` is the body's HMAC under ``secret`` (constant-time compare)."""
    if not signature or not secret:
        return False
    try:
        given = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return hmac.compare_digest(given, expected)


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    return (value or "").strip()


def parse_delivery(headers: Mapping[str, str], body: bytes, *, secret: str, shop_domain: str = "") -> WebhookDelivery:
    """Verify and parse one delivery.

    Args:
        headers: the request headers (case-insensitive mappings such as Starlette's work as is).
        body: the raw request body, exactly as received.
        secret: the app's client secret (``SHOPIFY_WEBHOOK_SECRET``).
        shop_domain: when set, deliveries for another shop are refused.

    Raises:
        WebhookRejected: 401 for a missing or wrong signature; 400 for missing
            headers, another shop, a body that is not a JSON object.
    """
    if not verify(body, _header(headers, HMAC) or None, secret):
        raise WebhookRejected(401, "missing or invalid X-Shopify-Hmac-Sha256")
    topic = _header(headers, TOPIC)
    webhook_id = _header(headers, WEBHOOK_ID)
    domain = _header(headers, SHOP_DOMAIN).lower()
    missing = [name for name, value in ((TOPIC, topic), (WEBHOOK_ID, webhook_id), (SHOP_DOMAIN, domain)) if not value]
    if missing:
        raise WebhookRejected(400, f"missing header(s): {', '.join(missing)}")
    if shop_domain and _same_shop(domain, shop_domain) is False:
        raise WebhookRejected(400, f"delivery for another shop ({domain})")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise WebhookRejected(400, f"body is not JSON: {error}") from error
    if not isinstance(payload, dict):
        raise WebhookRejected(400, "body is not a JSON object")
    return WebhookDelivery(
        topic=topic,
        shop_domain=domain,
        webhook_id=webhook_id,
        api_version=_header(headers, API_VERSION),
        triggered_at=_timestamp(_header(headers, TRIGGERED_AT)),
        event_id=_header(headers, EVENT_ID),
        payload=payload,
    )


def _same_shop(domain: str, configured: str) -> bool:
    return shop_subdomain(domain) == shop_subdomain(configured)


def _timestamp(raw: str) -> datetime | None:
    """``X-Shopify-Triggered-At`` (ISO 8601, sometimes with nanoseconds); None when unreadable."""
    if not raw:
        return None
    text = raw.replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:  # Python reads at most microseconds: cut the fraction to 6 digits
        digits = rest[: len(rest) - len(rest.lstrip("0123456789"))]
        tail = rest[len(digits):]
        text = f"{head}.{digits[:6]}{tail}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
