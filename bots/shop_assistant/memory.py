"""What the shopping assistant remembers in ``state.data``, as typed records.

``state.data`` stays JSON (the session store writes it as it is). These models read
it back and write it in the very shape earlier versions wrote, so a conversation
stored before them loads unchanged; a record that no longer parses is dropped with
a warning rather than breaking the conversation.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from core.commerce.search import SearchFilters
from core.state import ConversationState

logger = logging.getLogger(__name__)

CART = "cart"
SEARCH = "search"


class CartLine(BaseModel):
    """One line of the cart: a variant and how many."""

    sku: str
    #: The shop's variant id (Shopify cart permalinks need it); lines stored before it was kept lack it.
    variant_id: str | None = None
    handle: str = ""
    title: str
    #: The variant's title, or ``-`` for a product with a single variant.
    variant: str = "-"
    price: Decimal
    qty: int

    @property
    def subtotal(self) -> Decimal:
        return self.price * self.qty


class Filters(BaseModel):
    """A search's constraints as the conversation remembers them (refined by follow-ups)."""

    colors: list[str] = []
    sizes: list[str] = []
    product_types: list[str] = []
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    in_stock: bool = False
    sort: Literal["relevance", "price_asc", "price_desc"] = "relevance"

    def for_search(self) -> SearchFilters:
        return SearchFilters(
            sort=self.sort,
            colors=tuple(self.colors),
            sizes=tuple(self.sizes),
            product_types=tuple(self.product_types),
            price_min=self.price_min,
            price_max=self.price_max,
            in_stock=self.in_stock,
        )


class SearchContext(BaseModel):
    """The last search, so that follow-ups ("cheaper", "in blue", "show more") refine or page it."""

    query: str
    filters: Filters = Field(default_factory=Filters)
    offset: int = 0


def cart_lines(state: ConversationState) -> list[CartLine]:
    """The cart, oldest line first (a fresh list: change it, then :func:`save_cart`)."""
    lines = []
    for raw in state.data.get(CART) or []:
        try:
            lines.append(CartLine.model_validate(raw))
        except ValidationError as e:
            logger.warning("dropping a stored cart line that does not parse: %s", e.errors(include_input=False))
    return lines


def save_cart(state: ConversationState, lines: list[CartLine]) -> None:
    state.data[CART] = [line.model_dump(mode="json") for line in lines]


def last_search(state: ConversationState) -> SearchContext | None:
    raw: Any = state.data.get(SEARCH)
    if not raw:
        return None
    try:
        return SearchContext.model_validate(raw)
    except ValidationError as e:
        logger.warning("forgetting a stored search that does not parse: %s", e.errors(include_input=False))
        return None


def remember_search(state: ConversationState, search: SearchContext) -> None:
    # Only the filters actually set, as before: stored states stay small and in their old shape.
    state.data[SEARCH] = {"query": search.query, "filters": search.filters.model_dump(mode="json", exclude_defaults=True),
                          "offset": search.offset}
