"""An async client for Shopify's Admin GraphQL API, pinned to one API version.

Every request carries ``X-Shopify-Access-Token`` and goes to
``https://{shop}.myshopify.com/admin/api/2025-01/graphql.json`` (or
``SHOPIFY_API_URL``). The client keeps within Shopify's limits instead of
learning about them from failures:

* **cost-based throttle**: each response's ``extensions.cost.throttleStatus``
  (``maximumAvailable``, ``currentlyAvailable``, ``restoreRate``) is kept; before
  a query whose last requested cost is known, the client waits until the bucket
  has refilled enough. A ``THROTTLED`` error is retried once the bucket holds the
  query's ``requestedQueryCost``;
* **HTTP 429** waits ``Retry-After`` seconds, then retries;
* **5xx and dropped connections** are retried with exponential backoff, then
  raise :class:`~core.commerce.errors.CommerceUnavailable`;
* **401/403** (a revoked token) raise :class:`~core.commerce.errors.CommerceAuthError`
  at once; the first one is logged in one clear line and :attr:`ShopifyClient.problem`
  says what is wrong (``/readyz`` shows it) until a request succeeds again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Self

import httpx

from core.commerce.errors import CommerceAuthError, CommerceQueryError, CommerceUnavailable

logger = logging.getLogger(__name__)

API_VERSION = "2025-01"
TOKEN_HEADER = "X-Shopify-Access-Token"
DEFAULT_COST = 50.0  # assumed for a document never sent before
_MAX_RETRY_AFTER_S = 60.0


def shop_subdomain(domain: str) -> str:
    """``"my-shop"``, ``"my-shop.myshopify.com"`` or ``"https://my-shop.myshopify.com/"`` → ``"my-shop"``."""
    host = domain.strip().lower().removeprefix("https://").removeprefix("http://").split("/", 1)[0]
    return host.removesuffix(".myshopify.com")


def endpoint_for(shop_domain: str, api_url: str | None = None) -> str:
    """The GraphQL endpoint: ``api_url`` when given (a local stand-in), else the shop's own."""
    if api_url:
        return api_url
    return f"https://{shop_subdomain(shop_domain)}.myshopify.com/admin/api/{API_VERSION}/graphql.json"


@dataclass(frozen=True)
class ThrottleStatus:
    """The cost bucket as Shopify last reported it, and when (monotonic seconds)."""

    maximum_available: float
    currently_available: float
    restore_rate: float
    seen_at: float

    def available_at(self, now: float) -> float:
        """Points in the bucket at ``now``, counting the refill since it was reported."""
        refilled = self.currently_available + (now - self.seen_at) * self.restore_rate
        return min(self.maximum_available, refilled)

    def wait_for(self, cost: float, now: float) -> float:
        """Seconds until the bucket holds ``cost`` points (0 when it does already)."""
        missing = min(cost, self.maximum_available) - self.available_at(now)
        if missing <= 0 or self.restore_rate <= 0:
            return 0.0
        return missing / self.restore_rate


def _throttle_from(extensions: Any, now: float) -> tuple[ThrottleStatus | None, float | None]:
    """``(throttle status, requested cost)`` from a response's ``extensions``."""
    cost = extensions.get("cost") if isinstance(extensions, Mapping) else None
    if not isinstance(cost, Mapping):
        return None, None
    status = cost.get("throttleStatus")
    requested = cost.get("requestedQueryCost")
    requested_f = float(requested) if isinstance(requested, (int, float)) else None
    if not isinstance(status, Mapping):
        return None, requested_f
    try:
        throttle = ThrottleStatus(
            maximum_available=float(status["maximumAvailable"]),
            currently_available=float(status["currentlyAvailable"]),
            restore_rate=float(status["restoreRate"]),
            seen_at=now,
        )
    except (KeyError, TypeError, ValueError):
        return None, requested_f
    return throttle, requested_f


class ShopifyClient:
    """Admin GraphQL API client for one shop.

    Args:
        endpoint: the GraphQL URL (see :func:`endpoint_for`).
        token: the Admin API access token of the shop's custom app.
        timeout_s: per request.
        max_attempts: tries per query (throttling, 429s, 5xx, dropped connections).
        backoff_s: first backoff; doubles per try, capped at 8 s, with jitter.
        transport: an httpx transport (tests); the default opens real connections.
        sleep: how to wait (tests may count the waits).
    """

    def __init__(
        self,
        *,
        endpoint: str,
        token: str,
        timeout_s: float = 10.0,
        max_attempts: int = 6,
        backoff_s: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.endpoint = endpoint
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            timeout=timeout_s,
            transport=transport,
            headers={TOKEN_HEADER: token, "Content-Type": "application/json", "Accept": "application/json"},
        )
        self.throttle: ThrottleStatus | None = None
        self._costs: dict[str, float] = {}
        self._bucket_lock = asyncio.Lock()
        #: What is wrong with the API right now (``None`` when the last request worked); ``/readyz`` shows it.
        self.problem: str | None = None
        self.waited_s = 0.0  # total time spent waiting for the bucket, Retry-After and backoff

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def query(self, document: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run a query or mutation and return its ``data``.

        Raises:
            CommerceAuthError: the token was refused (401/403); not retried.
            CommerceQueryError: the API answered with errors other than throttling.
            CommerceUnavailable: still throttled, 429, 5xx or unreachable after every try.
        """
        key = hashlib.sha1(document.encode()).hexdigest()
        body = json.dumps({"query": document, "variables": dict(variables or {})})
        last_reason = "no attempt made"
        for attempt in range(self.max_attempts):
            await self._wait_for_bucket(self._costs.get(key, DEFAULT_COST))
            try:
                response = await self._http.post(self.endpoint, content=body)
            except httpx.TransportError as error:
                last_reason = f"{type(error).__name__}: {error}"
                await self._backoff(attempt, last_reason)
                continue
            if response.status_code in (401, 403):
                self._refused(response)
            if response.status_code == 429:
                last_reason = "HTTP 429 Too Many Requests"
                await self._pause(self._retry_after(response, attempt), last_reason)
                continue
            if response.status_code >= 500:
                last_reason = f"HTTP {response.status_code}"
                await self._backoff(attempt, last_reason)
                continue
            try:
                doc = response.json()
            except ValueError:
                last_reason = f"HTTP {response.status_code} with a body that is not JSON"
                await self._backoff(attempt, last_reason)
                continue
            if not isinstance(doc, dict):
                raise CommerceQueryError([f"HTTP {response.status_code}: unexpected body"])
            now = time.monotonic()
            throttle, requested = _throttle_from(doc.get("extensions"), now)
            if throttle is not None:
                self.throttle = throttle
            if requested is not None:
                self._costs[key] = requested
            errors = doc.get("errors")
            if response.status_code >= 400 and not errors:
                raise CommerceQueryError([f"HTTP {response.status_code}"])
            if errors:
                if isinstance(errors, str):
                    errors = [{"message": errors}]
                codes = [str((e.get("extensions") or {}).get("code", "")) for e in errors if isinstance(e, dict)]
                if "THROTTLED" in codes:
                    last_reason = "THROTTLED"
                    wait = throttle.wait_for(requested or DEFAULT_COST, now) if throttle else 0.0
                    await self._pause(max(wait, self._backoff_delay(attempt) / 4), last_reason)
                    continue
                messages = [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors]
                raise CommerceQueryError(messages, codes=[c for c in codes if c])
            data = doc.get("data")
            if not isinstance(data, dict):
                raise CommerceQueryError(["the response has no data"])
            if self.problem is not None:
                logger.info("shopify: the Admin API answers again")
            self.problem = None
            return data
        self.problem = f"Admin API unavailable: {last_reason}"
        raise CommerceUnavailable(last_reason)

    def _refused(self, response: httpx.Response) -> None:
        try:
            detail = response.json().get("errors", "")
        except (ValueError, AttributeError):
            detail = response.text[:200]
        reason = str(detail or response.reason_phrase or "refused")
        if self.problem is None or not self.problem.startswith("access token"):
            # One line, once per outage: the operator must issue a new token.
            logger.error("shopify: the Admin API refused the access token (HTTP %d: %s); "
                         "set a valid SHOPIFY_ADMIN_TOKEN", response.status_code, reason)
        self.problem = f"access token refused (HTTP {response.status_code}): {reason}"
        raise CommerceAuthError(response.status_code, reason)

    def _retry_after(self, response: httpx.Response, attempt: int) -> float:
        raw = response.headers.get("Retry-After", "")
        try:
            return min(max(float(raw), 0.0), _MAX_RETRY_AFTER_S)
        except ValueError:
            return self._backoff_delay(attempt)

    def _backoff_delay(self, attempt: int) -> float:
        return min(self.backoff_s * (2.0 ** attempt), 8.0) * random.uniform(0.75, 1.0)

    async def _backoff(self, attempt: int, reason: str) -> None:
        if attempt + 1 < self.max_attempts:
            await self._pause(self._backoff_delay(attempt), reason)

    async def _pause(self, seconds: float, reason: str) -> None:
        logger.info("shopify: %s; waiting %.2f s before trying again", reason, seconds)
        self.waited_s += seconds
        await self._sleep(seconds)

    async def _wait_for_bucket(self, cost: float) -> None:
        """Wait until the last known bucket holds ``cost`` points (one waiter at a time)."""
        if self.throttle is None:
            return
        async with self._bucket_lock:
            wait = self.throttle.wait_for(cost, time.monotonic())
            if wait > 0:
                self.waited_s += wait
                await self._sleep(wait)
            # Spend the points locally too, so concurrent queries queue here instead of being THROTTLED.
            now = time.monotonic()
            spent = max(self.throttle.available_at(now) - cost, 0.0)
            self.throttle = replace(self.throttle, currently_available=spent, seen_at=now)
