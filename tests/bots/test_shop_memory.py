"""The shopping assistant's typed memory: cart lines and the last search, read from and written to ``state.data``."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any

import pytest

from bots.shop_assistant.memory import (
    CartLine,
    Filters,
    SearchContext,
    cart_lines,
    last_search,
    remember_search,
    save_cart,
)
from core.state import ConversationState

#: ``data`` as earlier versions stored it (a line from before variant ids were kept, then a newer one).
OLD_DATA: dict[str, Any] = {
    "cart": [
        {"sku": "NW-MUG-001", "handle": "mug", "title": "Mug", "variant": "-", "price": "12.5", "qty": 1},
        {"sku": "NW-TEE-001-NVY-M", "variant_id": "4101", "handle": "tee", "title": "Tee", "variant": "Navy / M",
         "price": "25.00", "qty": 2},
    ],
    "search": {"query": "tee under 30", "filters": {"sizes": ["M"], "price_max": "30", "sort": "price_asc"},
               "offset": 5},
}


def _stored(data: dict[str, Any]) -> ConversationState:
    """A state as a session store hands it back: parsed from its JSON."""
    return ConversationState.model_validate_json(json.dumps({"user_id": "u1", "data": data}))


def test_an_old_cart_and_search_load_typed() -> None:
    state = _stored(OLD_DATA)
    mug, tee = cart_lines(state)
    assert mug == CartLine(sku="NW-MUG-001", handle="mug", title="Mug", price=Decimal("12.5"), qty=1)
    assert mug.variant_id is None and tee.variant_id == "4101" and tee.subtotal == Decimal("50.00")
    search = last_search(state)
    assert search == SearchContext(query="tee under 30", offset=5,
                                   filters=Filters(sizes=["M"], price_max=Decimal(30), sort="price_asc"))


def test_writing_back_keeps_the_stored_shape() -> None:
    state = _stored(OLD_DATA)
    save_cart(state, cart_lines(state))
    search = last_search(state)
    assert search is not None
    remember_search(state, search)
    written = json.loads(state.model_dump_json())["data"]
    assert written["cart"][1] == OLD_DATA["cart"][1]
    assert written["cart"][0] == {**OLD_DATA["cart"][0], "variant_id": None}
    assert written["search"] == {"query": "tee under 30", "offset": 5,
                                 "filters": {"sizes": ["M"], "price_max": "30", "sort": "price_asc"}}


def test_a_record_that_no_longer_parses_is_dropped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    state = _stored({"cart": [{"sku": "A", "qty": "many"}, OLD_DATA["cart"][1]],
                     "search": {"filters": {}}})
    with caplog.at_level(logging.WARNING, logger="bots.shop_assistant.memory"):
        assert [line.sku for line in cart_lines(state)] == ["NW-TEE-001-NVY-M"]
        assert last_search(state) is None
    assert "cart line" in caplog.text and "search" in caplog.text


def test_no_cart_and_no_search_yet() -> None:
    state = ConversationState()
    assert cart_lines(state) == [] and last_search(state) is None
