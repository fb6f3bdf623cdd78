"""The commerce backend port: what the bots need from a shop, whoever keeps its data.

Two implementations, chosen by settings (:func:`backend_kind`):

* :class:`~core.commerce.offline.OfflineBackend` — the demo: a product CSV/JSON
  export and YAML files for orders and stores (the default; ``make demo`` and
  the tests use it);
* :class:`~core.commerce.shopify.backend.ShopifyBackend` — a real shop through
  the Admin GraphQL API, its catalogue synced and kept fresh by webhooks.

Every call may raise :class:`~core.commerce.errors.CommerceError`; the bots
answer that politely.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol, runtime_checkable

from core.commerce.catalog import Catalog
from core.commerce.inventory import StockLevel
from core.commerce.shopdata import Order, Store
from core.errors import ConfigError
from core.settings import Settings

#: Keys under which the runtime hands a connected backend and the notifier to bots (``SetupContext.shared``).
SHARED_BACKEND = ("commerce", "backend")
SHARED_NOTIFIER = ("commerce", "notifier")

#: The bot's return reasons → Shopify's ``ReturnReason`` enum (others become ``OTHER`` with a note).
RETURN_REASONS = {"damaged": "DEFECTIVE", "not_as_described": "NOT_AS_DESCRIBED", "changed_mind": "UNWANTED",
                  "wrong_item": "WRONG_ITEM", "size_small": "SIZE_TOO_SMALL", "size_large": "SIZE_TOO_LARGE",
                  "style": "STYLE", "color": "COLOR"}


@dataclass(frozen=True, kw_only=True)
class ReturnableItem:
    """One order line that can still be returned, and how many of it."""

    sku: str
    title: str
    variant_title: str = ""
    quantity: int
    line_item_id: str | None = None
    fulfillment_line_item_id: str | None = None  # Shopify: what returnRequest names


@dataclass(frozen=True, kw_only=True)
class ReturnReceipt:
    """A return the shop now knows about."""

    id: str
    name: str  # what the shopper is told ("#1001-R1", "RMA-7KQ2XA")
    status: str  # "REQUESTED" (the shop reviews it) or "OPEN"


@dataclass(frozen=True, kw_only=True)
class CancelReceipt:
    """A cancellation the shop accepted (Shopify runs it as a job: refund and restock follow)."""

    order: str
    job_id: str | None = None


@runtime_checkable
class CommerceBackend(Protocol):
    """A shop as the bots see it. Implementations: ``OfflineBackend``, ``ShopifyBackend``."""

    name: str

    @property
    def catalog(self) -> Catalog:
        """The products (only ``offered()`` ones are ever shown to shoppers)."""
        ...

    def stores(self) -> Sequence[Store]:
        """The physical stores (hours, addresses)."""
        ...

    def today(self) -> date:
        """The date return windows are counted against."""
        ...

    async def find_order(self, number: str) -> Order | None:
        """The order named ``number`` (``#1001``, ``1001``...), or None when there is none."""
        ...

    async def cancel_order(self, order: Order, *, reason: str = "CUSTOMER", note: str = "") -> CancelReceipt:
        """Cancel an unfulfilled order (refund and restock).

        Raises:
            CommerceRejected: the shop refused (already fulfilled or cancelled...).
        """
        ...

    async def returnable_items(self, order: Order) -> list[ReturnableItem]:
        """Lines of a fulfilled order that can still be returned."""
        ...

    async def request_return(self, order: Order, item: ReturnableItem, *, reason: str, quantity: int = 1,
                             note: str = "") -> ReturnReceipt:
        """Ask the shop for a return of ``quantity`` of ``item``.

        Raises:
            CommerceRejected: the shop refused the request.
        """
        ...

    async def stock_levels(self, sku: str) -> list[StockLevel]:
        """One variant's stock per location (empty when unknown)."""
        ...

    @property
    def problem(self) -> str | None:
        """What is wrong with the backend now (``/readyz``), or None."""
        ...


def backend_kind(settings: Settings) -> str:
    """``"shopify"`` or ``"offline"``, and every Shopify setting present when it is Shopify.

    ``SHOPKEEP_COMMERCE_BACKEND`` decides when set; unset, a set
    ``SHOPIFY_SHOP_DOMAIN`` means Shopify.

    Raises:
        ConfigError: an unknown backend, or a Shopify setting missing (named).
    """
    kind = settings.commerce_backend.strip().lower() or ("shopify" if settings.shopify_shop_domain else "offline")
    if kind not in ("offline", "shopify"):
        raise ConfigError("SHOPKEEP_COMMERCE_BACKEND", f"must be 'offline' or 'shopify', not {kind!r}")
    if kind == "shopify":
        for field in ("shopify_shop_domain", "shopify_admin_token", "shopify_webhook_secret"):
            settings.require(field)
    return kind
