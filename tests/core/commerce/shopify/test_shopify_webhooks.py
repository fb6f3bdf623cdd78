"""Webhook verification and parsing: forged deliveries refused, bad input answered clearly."""

from __future__ import annotations

import json

import pytest

from core.commerce.shopify.webhooks import WebhookRejected, parse_delivery, sign, verify
from tests.adapters.standins.shopify import webhook_headers

SECRET = "hush"
DOMAIN = "standin-shop.myshopify.com"


def test_signature_is_base64_hmac_sha256_of_the_raw_body() -> None:
    # Shopify's documented example values: HMAC-SHA256 of the body keyed with the app secret, base64.
    import base64
    import hashlib
    import hmac

    body = b'{"id":1}'
    expected = base64.b64encode(hmac.new(b"hush", body, hashlib.sha256).digest()).decode()
    assert sign(body, SECRET) == expected
    assert verify(body, expected, SECRET)
    assert not verify(body + b" ", expected, SECRET)  # one byte more: refused
    assert not verify(body, expected, "other secret")
    assert not verify(body, "not base64!!", SECRET)
    assert not verify(body, None, SECRET)
    assert not verify(body, expected, "")


def test_a_verified_delivery_carries_its_headers() -> None:
    body = json.dumps({"id": 42}).encode()
    headers = webhook_headers("products/update", body, secret=SECRET, shop_domain=DOMAIN, webhook_id="wh-1")
    delivery = parse_delivery(headers, body, secret=SECRET, shop_domain="standin-shop")
    assert (delivery.topic, delivery.webhook_id, delivery.shop_domain) == ("products/update", "wh-1", DOMAIN)
    assert delivery.api_version == "2025-01"
    assert delivery.triggered_at is not None and delivery.triggered_at.tzinfo is not None
    assert delivery.payload == {"id": 42} and delivery.known


@pytest.mark.parametrize(
    ("mutate", "status"),
    [
        (lambda h, b: ({**h, "X-Shopify-Hmac-Sha256": sign(b, "wrong")}, b), 401),
        (lambda h, b: ({k: v for k, v in h.items() if k != "X-Shopify-Hmac-Sha256"}, b), 401),
        (lambda h, b: (h, b.replace(b"42", b"43")), 401),  # body changed after signing
        (lambda h, b: ({k: v for k, v in h.items() if k != "X-Shopify-Topic"}, b), 400),
        (lambda h, b: ({k: v for k, v in h.items() if k != "X-Shopify-Webhook-Id"}, b), 400),
        (lambda h, b: ({**h, "X-Shopify-Shop-Domain": "someone-else.myshopify.com"}, b), 400),
    ],
)
def test_forged_or_incomplete_deliveries_are_refused(mutate, status: int) -> None:
    body = json.dumps({"id": 42}).encode()
    headers, body = mutate(webhook_headers("products/update", body, secret=SECRET, shop_domain=DOMAIN), body)
    with pytest.raises(WebhookRejected) as caught:
        parse_delivery(headers, body, secret=SECRET, shop_domain=DOMAIN)
    assert caught.value.status == status


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"\xff\xfe", b""])
def test_signed_bodies_that_are_not_json_objects_get_400(body: bytes) -> None:
    headers = webhook_headers("products/update", body, secret=SECRET, shop_domain=DOMAIN)
    with pytest.raises(WebhookRejected) as caught:
        parse_delivery(headers, body, secret=SECRET)
    assert caught.value.status == 400


def test_unknown_topics_parse_but_are_not_known() -> None:
    body = b"{}"
    headers = webhook_headers("customers/create", body, secret=SECRET, shop_domain=DOMAIN)
    assert not parse_delivery(headers, body, secret=SECRET).known


def test_triggered_at_with_nanoseconds_is_read() -> None:
    body = b"{}"
    headers = {**webhook_headers("products/update", body, secret=SECRET, shop_domain=DOMAIN),
               "X-Shopify-Triggered-At": "2025-01-02T03:04:05.123456789Z"}
    moment = parse_delivery(headers, body, secret=SECRET).triggered_at
    assert moment is not None and moment.microsecond == 123456
