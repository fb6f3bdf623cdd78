"""The offline commerce backend: the demo shop's files (the default for ``make demo`` and tests).

Products come from a Shopify product export (CSV or JSON), orders and stores
from YAML, stock per location from a Shopify inventory export when one is
given. A cancellation is kept in memory for the life of the process; a
return gets a return number and is not remembered (every conversation of the
demo can return the same delivered line). Nothing leaves the machine.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Sequence
from datetime import UTC, date, datetime

from core.commerce.backend import CancelReceipt, ReturnableItem, ReturnReceipt
from core.commerce.catalog import Catalog
from core.commerce.errors import CommerceRejected
from core.commerce.inventory import Inventory, StockLevel
from core.commerce.shopdata import Order, OrderBook, OrderStatus, Store

_RMA_ALPHABET = string.ascii_uppercase + string.digits


def new_rma() -> str:
    """A return number the shopper can quote (``RMA-7KQ2XA``)."""
    return "RMA-" + "".join(secrets.choice(_RMA_ALPHABET) for _ in range(6))


class OfflineBackend:
    """:class:`~core.commerce.backend.CommerceBackend` over the demo files.

    Args:
        catalog: the product export, loaded.
        orders: the order book (``orders.yaml``).
        stores: the physical stores (``stores.yaml``).
        inventory: per-location stock (a Shopify inventory export), when there is one.
        today: the date return windows count from (a setting; else the book's demo date, else today).
    """

    name = "offline"

    def __init__(self, *, catalog: Catalog, orders: OrderBook, stores: Sequence[Store] = (),
                 inventory: Inventory | None = None, today: date | None = None) -> None:
        self._catalog = catalog
        self.orders = orders
        self._stores = tuple(stores)
        self.inventory = inventory
        self._today = today
        self._cancelled: dict[str, datetime] = {}

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    @property
    def problem(self) -> str | None:
        return None

    def stores(self) -> Sequence[Store]:
        return self._stores

    def today(self) -> date:
        return self.orders.today(self._today)

    async def find_order(self, number: str) -> Order | None:
        order = self.orders.find(number)
        if order is None:
            return None
        if order.number in self._cancelled:
            return order.model_copy(update={"status": OrderStatus.CANCELLED,
                                            "cancelled_at": self._cancelled[order.number]})
        return order

    async def cancel_order(self, order: Order, *, reason: str = "CUSTOMER", note: str = "") -> CancelReceipt:
        current = await self.find_order(order.number)
        if current is None:
            raise CommerceRejected("orderCancel", ["Order does not exist"], codes=["NOT_FOUND"])
        if current.status not in (OrderStatus.PENDING, OrderStatus.PAID):
            raise CommerceRejected("orderCancel", [f"Order is {current.status.value}"], codes=["INVALID"])
        self._cancelled[current.number] = datetime.now(UTC)
        return CancelReceipt(order=current.number)

    async def returnable_items(self, order: Order) -> list[ReturnableItem]:
        if order.status != OrderStatus.DELIVERED:
            return []
        return [ReturnableItem(sku=li.sku, title=li.title, variant_title=li.variant_title, quantity=li.quantity,
                               line_item_id=li.id) for li in order.line_items]

    async def request_return(self, order: Order, item: ReturnableItem, *, reason: str, quantity: int = 1,
                             note: str = "") -> ReturnReceipt:
        if quantity < 1 or quantity > item.quantity:
            raise CommerceRejected("returnRequest", [f"{quantity} of {item.title} cannot be returned"],
                                   codes=["INVALID"])
        rma = new_rma()
        return ReturnReceipt(id=rma, name=rma, status="OPEN")

    async def stock_levels(self, sku: str) -> list[StockLevel]:
        if self.inventory is None:
            return []
        item = self.inventory.for_sku(sku)
        return list(item.levels) if item is not None else []

