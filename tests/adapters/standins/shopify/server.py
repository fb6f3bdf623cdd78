"""A stand-in for Shopify's Admin GraphQL API (2025-01) and its webhook deliveries.

``POST /admin/api/2025-01/graphql.json`` answers like Shopify:

* the ``X-Shopify-Access-Token`` must match (else HTTP 401 with Shopify's body);
* every document is parsed and validated against Shopify's published 2025-01
  schema; a validation error is answered as Shopify does (HTTP 200,
  ``errors`` with ``locations``), and a query over 1,000 points gets
  ``MAX_COST_EXCEEDED``;
* documents run with graphql-core over :class:`~.data.FakeShop` (cursor
  pagination on every connection, ``orders(query: "name:#1001")``,
  ``orderCancel``, ``returnableFulfillments``, ``returnRequest``...);
* each answer carries ``extensions.cost`` with the bucket's ``throttleStatus``;
  a query the bucket cannot pay gets ``THROTTLED``.

Tests inject trouble: ``latency_s``, ``fail(status, times, retry_after)`` (429 /
5xx), ``revoke()`` (401), ``throttle(times)``. :func:`deliver` sends a webhook
signed exactly as Shopify signs it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
from aiohttp import web
from graphql import GraphQLError, execute, parse, validate
from graphql.type import GraphQLResolveInfo, get_named_type

from core.commerce.shopify.webhooks import sign
from tests.adapters.standins.recorder import Call, StandinServer
from tests.adapters.standins.shopify.data import FakeShop, gid, now_iso
from tests.adapters.standins.shopify.schema import admin_schema, requested_cost

API_PATH = "/admin/api/2025-01/graphql.json"
MAX_QUERY_COST = 1000
_INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"


def _cursor(index: int) -> str:
    return base64.b64encode(json.dumps({"last_id": index}).encode()).decode()


def _index(cursor: str | None) -> int:
    if not cursor:
        return -1
    try:
        return int(json.loads(base64.b64decode(cursor))["last_id"])
    except (ValueError, KeyError, TypeError) as error:
        raise GraphQLError("Invalid cursor for current pagination sort.") from error


def _connection(items: Sequence[Any], args: Mapping[str, Any]) -> dict[str, Any]:
    first, last, after, before = args.get("first"), args.get("last"), args.get("after"), args.get("before")
    if first is None and last is None:
        raise GraphQLError("you must provide one of first or last")
    if (first or 0) > 250 or (last or 0) > 250:
        raise GraphQLError("The first argument cannot exceed 250.")
    items = list(reversed(items)) if args.get("reverse") else list(items)
    start = _index(after) + 1
    end = _index(before) if before else len(items)
    window = list(enumerate(items))[start:end]
    if first is not None:
        page = window[:first]
    else:
        page = window[-last:] if last else []
    return {
        "nodes": [item for _, item in page],
        "edges": [{"node": item, "cursor": _cursor(i)} for i, item in page],
        "pageInfo": {
            "hasNextPage": bool(page) and page[-1][0] < len(items) - 1,
            "hasPreviousPage": bool(page) and page[0][0] > 0,
            "startCursor": _cursor(page[0][0]) if page else None,
            "endCursor": _cursor(page[-1][0]) if page else None,
        },
    }


def _resolve(source: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    """Read the field from a dict; call it with the arguments when it is callable; paginate lists."""
    name = info.field_name
    value = source.get(name) if isinstance(source, Mapping) else getattr(source, name, None)
    if callable(value):
        value = value(**args)
    named = get_named_type(info.return_type)
    if isinstance(value, list) and named.name.endswith("Connection"):
        return _connection(value, args)
    if isinstance(value, list) and "first" in args and args["first"] is not None:
        return value[: args["first"]]
    return value


class ShopifyAdminStandin(StandinServer):
    """The Admin API for one :class:`FakeShop`; records every document it runs.

    Args:
        shop: the data served (tests change it, then send webhooks).
        token: the access token it accepts.
        bucket_max / restore_rate: the cost bucket (Shopify's Standard plan restores 100 points/s).
    """

    def __init__(self, shop: FakeShop, *, token: str, bucket_max: float = 2000.0,
                 restore_rate: float = 100.0) -> None:
        super().__init__()
        self.shop = shop
        self.token = token
        self.bucket_max = bucket_max
        self.restore_rate = restore_rate
        self._available = bucket_max
        self._at = time.monotonic()
        self.latency_s = 0.0
        self._failures: list[tuple[int, float | None]] = []
        self._throttles = 0
        self.invalid: list[list[str]] = []  # validation errors answered, per document
        self.app.router.add_post(API_PATH, self._handle)
        self.schema = admin_schema()

    @property
    def api_url(self) -> str:
        return f"{self.url}{API_PATH}"

    # --- trouble ------------------------------------------------------------------------
    def fail(self, status: int, times: int = 1, *, retry_after: float | None = None) -> None:
        """Answer the next ``times`` requests with ``status`` (429 with ``Retry-After``, 5xx...)."""
        self._failures.extend([(status, retry_after)] * times)

    def throttle(self, times: int = 1) -> None:
        """Answer the next ``times`` queries with ``THROTTLED`` (the bucket drained)."""
        self._throttles += times

    def revoke(self) -> None:
        """The merchant uninstalled the app: every request is refused from now on."""
        self.token = f"revoked-{uuid.uuid4().hex}"

    # --- the endpoint ------------------------------------------------------------------------
    def _bucket(self) -> float:
        now = time.monotonic()
        self._available = min(self.bucket_max, self._available + (now - self._at) * self.restore_rate)
        self._at = now
        return self._available

    def _cost(self, requested: int, actual: int | None) -> dict[str, Any]:
        return {"cost": {"requestedQueryCost": requested, "actualQueryCost": actual,
                         "throttleStatus": {"maximumAvailable": self.bucket_max,
                                            "currentlyAvailable": round(self._bucket(), 1),
                                            "restoreRate": self.restore_rate}}}

    async def _handle(self, request: web.Request) -> web.Response:
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            return web.json_response({"errors": "Bad Request"}, status=400)
        document_text = str(body.get("query") or "")
        variables = body.get("variables") or {}
        await self.recorder.record(Call(method=_operation_name(document_text), params=body,
                                        headers=dict(request.headers)))
        if request.headers.get("X-Shopify-Access-Token") != self.token:
            return web.json_response({"errors": _INVALID_TOKEN}, status=401)
        if self._failures:
            status, retry_after = self._failures.pop(0)
            headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
            return web.json_response({"errors": "Exceeded 2 calls per second for api client. Reduce request rates "
                                                "to resume uninterrupted service."
                                      if status == 429 else "Internal Server Error"}, status=status, headers=headers)
        try:
            document = parse(document_text)
        except GraphQLError as error:
            self.invalid.append([error.message])
            return web.json_response({"errors": [error.formatted]})
        errors = validate(self.schema, document)
        if errors:
            self.invalid.append([e.message for e in errors])
            return web.json_response({"errors": [e.formatted for e in errors]})
        requested = requested_cost(self.schema, document, variables)
        if requested > MAX_QUERY_COST:
            return web.json_response({"errors": [{
                "message": f"Query cost is {requested}, which exceeds the single query max cost limit "
                           f"({MAX_QUERY_COST}).",
                "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested, "maxCost": MAX_QUERY_COST}}]})
        if self._throttles or requested > self._bucket():
            self._throttles = max(self._throttles - 1, 0)
            return web.json_response({"errors": [{"message": "Throttled", "extensions": {
                "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
                "extensions": self._cost(requested, None)})
        self._available -= requested
        result = execute(self.schema, document, root_value=self._root(), variable_values=variables,
                         field_resolver=_resolve)
        if asyncio.iscoroutine(result):
            result = await result
        answer: dict[str, Any] = {"data": result.data}
        if result.errors:
            answer["errors"] = [e.formatted for e in result.errors]
        answer["extensions"] = self._cost(requested, requested)
        return web.json_response(answer)

    # --- resolvers over the shop -------------------------------------------------------------
    def _root(self) -> dict[str, Any]:
        shop = self.shop
        return {
            "shop": {"name": shop.name, "currencyCode": "USD", "myshopifyDomain": shop.domain,
                     "ianaTimezone": "America/New_York", "url": f"https://{shop.domain}"},
            "products": lambda **a: sorted(shop.products, key=lambda p: p["id"]),
            "productVariants": lambda **a: sorted(shop.variants(), key=lambda v: v["id"]),
            "orders": lambda **a: _orders(shop, a.get("query") or ""),
            "inventoryItem": lambda id: shop.find(id) if "InventoryItem" in id else None,
            "productVariant": lambda id: shop.find(id) if "ProductVariant" in id else None,
            "returnableFulfillments": lambda **a: _returnable(shop, a["orderId"]),
            "orderCancel": lambda **a: _cancel(shop, a),
            "returnRequest": lambda input: _return_request(shop, input),
        }


def _operation_name(document: str) -> str:
    words = document.replace("{", " { ").replace("(", " ( ").split()
    for i, word in enumerate(words[:-1]):
        if word in ("query", "mutation") and words[i + 1] not in ("{", "("):
            return words[i + 1]
    return "anonymous"


def _orders(shop: FakeShop, query: str) -> list[dict[str, Any]]:
    """``orders(query:)``: the ``name:`` filter Shopkeep uses (``name:#1001``)."""
    found = list(shop.orders)
    for term in query.split():
        field, _, value = term.partition(":")
        if field == "name":
            value = value.strip("'\"")
            found = [o for o in found if o["name"].lower() == value.lower()]
    return found


def _returned(shop: FakeShop, fli_id: str) -> int:
    return sum(li["quantity"] for r in shop.returns for li in r["lines"] if li["fulfillmentLineItemId"] == fli_id)


def _returnable(shop: FakeShop, order_id: str) -> list[dict[str, Any]]:
    order = shop.find(order_id)
    if order is None or "Order" not in order_id:
        raise GraphQLError("Order does not exist")
    out = []
    for f in order["fulfillments"]:
        lines = [{"quantity": fl["quantity"] - _returned(shop, fl["id"]),
                  "fulfillmentLineItem": {"id": fl["id"], "lineItem": fl["lineItem"], "quantity": fl["quantity"]}}
                 for fl in f["lines"] if fl["quantity"] - _returned(shop, fl["id"]) > 0]
        if lines:
            out.append({"id": f["id"].replace("Fulfillment", "ReturnableFulfillment"), "fulfillment": f,
                        "returnableFulfillmentLineItems": lines})
    return out


def _cancel(shop: FakeShop, args: Mapping[str, Any]) -> dict[str, Any]:
    order = shop.find(args["orderId"])
    if order is None:
        return {"job": None, "orderCancelUserErrors": [
            {"field": ["orderId"], "message": "Order does not exist", "code": "NOT_FOUND"}], "userErrors": []}
    if order["cancelledAt"] or order["fulfillments"]:
        message = "Order has already been cancelled" if order["cancelledAt"] else \
            "Cannot cancel an order that has fulfillments"
        return {"job": None, "orderCancelUserErrors": [
            {"field": ["orderId"], "message": message, "code": "INVALID"}], "userErrors": []}
    order["cancelledAt"] = now_iso()
    order["cancelReason"] = args["reason"]
    order["staffNote"] = args.get("staffNote")
    return {"job": {"id": gid("Job", abs(hash(order["id"])) % 10**9), "done": False},
            "orderCancelUserErrors": [], "userErrors": []}


def _return_request(shop: FakeShop, data: Mapping[str, Any]) -> dict[str, Any]:
    order = shop.find(data["orderId"])
    if order is None:
        return {"return": None, "userErrors": [{"field": ["input", "orderId"], "message": "Order does not exist",
                                                "code": "NOT_FOUND"}]}
    returnable = {fl["fulfillmentLineItem"]["id"]: fl["quantity"]
                  for rf in _returnable(shop, data["orderId"]) for fl in rf["returnableFulfillmentLineItems"]}
    for i, line in enumerate(data["returnLineItems"]):
        if line["quantity"] > returnable.get(line["fulfillmentLineItemId"], 0):
            return {"return": None, "userErrors": [{
                "field": ["input", "returnLineItems", str(i), "quantity"],
                "message": "Quantity is not available for return", "code": "INVALID"}]}
    record = {"id": gid("Return", 5000 + len(shop.returns)), "name": f"{order['name']}-R{len(shop.returns) + 1}",
              "status": "REQUESTED", "order": order["id"], "lines": [dict(li) for li in data["returnLineItems"]],
              "requestedAt": datetime.now(UTC).isoformat()}
    shop.returns.append(record)
    return {"return": record, "userErrors": []}


# --- webhooks ------------------------------------------------------------------------------------


def webhook_headers(topic: str, body: bytes, *, secret: str, shop_domain: str,
                    webhook_id: str | None = None) -> dict[str, str]:
    """The headers Shopify sends with a delivery, signed with ``secret``."""
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": sign(body, secret),
        "X-Shopify-Shop-Domain": shop_domain,
        "X-Shopify-API-Version": "2025-01",
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Triggered-At": datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "X-Shopify-Event-Id": str(uuid.uuid4()),
    }


async def deliver(client: httpx.AsyncClient, path: str, topic: str, payload: Mapping[str, Any], *, secret: str,
                  shop_domain: str, times: int = 1, webhook_id: str | None = None) -> list[int]:
    """POST one webhook ``times`` times (Shopify redelivers with the same id); returns the statuses."""
    body = json.dumps(payload).encode()
    headers = webhook_headers(topic, body, secret=secret, shop_domain=shop_domain, webhook_id=webhook_id)
    statuses = []
    for _ in range(times):
        response = await client.post(path, content=body, headers=headers)
        statuses.append(response.status_code)
    return statuses
