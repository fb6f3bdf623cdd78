"""The Admin API client against the stand-in: schema-checked documents, throttling, 429s, outages, revoked tokens."""

from __future__ import annotations

import logging

import pytest

from core.commerce.errors import CommerceAuthError, CommerceQueryError, CommerceUnavailable
from core.commerce.shopify import queries
from core.commerce.shopify.client import API_VERSION, ShopifyClient, endpoint_for
from tests.adapters.standins.shopify import ShopifyAdminStandin
from tests.core.commerce.shopify.conftest import TOKEN, SleepLog


def test_the_endpoint_is_pinned_to_2025_01() -> None:
    assert API_VERSION == "2025-01"
    assert endpoint_for("my-shop") == "https://my-shop.myshopify.com/admin/api/2025-01/graphql.json"
    assert endpoint_for("https://My-Shop.myshopify.com/") == endpoint_for("my-shop")
    assert endpoint_for("my-shop", "http://127.0.0.1:9/x") == "http://127.0.0.1:9/x"


@pytest.mark.parametrize("name", sorted(queries.ALL))
def test_every_document_is_valid_against_shopify_2025_01(name: str) -> None:
    from graphql import parse, validate

    from tests.adapters.standins.shopify.schema import admin_schema, requested_cost

    schema = admin_schema()
    document = parse(queries.ALL[name])
    assert validate(schema, document) == []
    size = {"first": queries.PRODUCT_PAGE_SIZE if name == "PRODUCTS_PAGE" else queries.VARIANT_PAGE_SIZE}
    assert requested_cost(schema, document, size) <= 1000, "over Shopify's single-query cost limit"


async def test_a_query_sends_the_token_and_reads_the_cost_bucket(client: ShopifyClient,
                                                                 shopify_api: ShopifyAdminStandin) -> None:
    data = await client.query(queries.VARIANTS_PAGE, {"first": 2})
    assert len(data["productVariants"]["nodes"]) == 2
    call = shopify_api.recorder.of("ShopkeepVariants")[0]
    assert call.headers["X-Shopify-Access-Token"] == TOKEN
    assert client.throttle is not None and client.throttle.maximum_available == shopify_api.bucket_max
    assert client.throttle.restore_rate == shopify_api.restore_rate
    assert client.problem is None


async def test_a_misspelt_field_fails_as_on_shopify(client: ShopifyClient, shopify_api: ShopifyAdminStandin) -> None:
    with pytest.raises(CommerceQueryError) as caught:
        await client.query("query { products(first: 1) { nodes { titel } } }")
    assert "Cannot query field 'titel' on type 'Product'" in caught.value.messages[0]
    with pytest.raises(CommerceQueryError):
        await client.query("query { products(frist: 1) { nodes { title } } }")
    assert len(shopify_api.invalid) == 2


async def test_throttled_queries_wait_for_the_bucket_then_succeed(client: ShopifyClient,
                                                                  shopify_api: ShopifyAdminStandin,
                                                                  sleeps: SleepLog) -> None:
    shopify_api.throttle(2)
    data = await client.query(queries.SHOP)
    assert data["shop"]["myshopifyDomain"] == shopify_api.shop.domain
    assert len(shopify_api.recorder.of("ShopkeepShop")) == 3
    assert len(sleeps.waits) == 2


async def test_a_drained_bucket_is_waited_for_before_sending(shopify_api: ShopifyAdminStandin) -> None:
    import asyncio

    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(seconds)

    shopify_api.bucket_max, shopify_api.restore_rate = 1000.0, 500.0
    shopify_api._available = 1000.0
    async with ShopifyClient(endpoint=shopify_api.api_url, token=TOKEN, sleep=sleep) as client:
        await client.query(queries.VARIANTS_PAGE, {"first": 200})  # ~800 of 1000 points
        await client.query(queries.VARIANTS_PAGE, {"first": 200})  # waits for the refill, is not THROTTLED
    assert len(shopify_api.recorder.of("ShopkeepVariants")) == 2, "no request was THROTTLED"
    assert waits and waits[0] > 0.5, "the second page waited for the bucket before it was sent"


async def test_429_waits_retry_after(client: ShopifyClient, shopify_api: ShopifyAdminStandin,
                                     sleeps: SleepLog) -> None:
    shopify_api.fail(429, retry_after=2.0)
    await client.query(queries.SHOP)
    assert 2.0 in sleeps.waits


async def test_outage_retries_with_backoff_then_says_unavailable(client: ShopifyClient,
                                                                 shopify_api: ShopifyAdminStandin,
                                                                 sleeps: SleepLog) -> None:
    shopify_api.fail(503, times=2)
    await client.query(queries.SHOP)  # two 503s, then an answer
    shopify_api.fail(502, times=client.max_attempts)
    with pytest.raises(CommerceUnavailable):
        await client.query(queries.SHOP)
    assert client.problem is not None and "502" in client.problem
    assert sleeps.waits == sorted(sleeps.waits[:2]) + sleeps.waits[2:]


async def test_unreachable_api_is_unavailable(sleeps: SleepLog) -> None:
    async with ShopifyClient(endpoint="http://127.0.0.1:9/admin/api/2025-01/graphql.json", token=TOKEN,
                             sleep=sleeps, max_attempts=2) as client:
        with pytest.raises(CommerceUnavailable):
            await client.query(queries.SHOP)


async def test_a_revoked_token_is_one_log_line_and_a_clear_problem(client: ShopifyClient,
                                                                   shopify_api: ShopifyAdminStandin,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    await client.query(queries.SHOP)
    shopify_api.revoke()
    with caplog.at_level(logging.ERROR, logger="core.commerce.shopify.client"):
        for _ in range(3):
            with pytest.raises(CommerceAuthError) as caught:
                await client.query(queries.SHOP)
    assert caught.value.status == 401
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
    assert client.problem is not None and "access token refused" in client.problem
    assert len(shopify_api.recorder.of("ShopkeepShop")) == 4, "a refused token is not retried"
