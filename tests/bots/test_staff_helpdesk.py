"""Staff data stays with staff: the shop assistant never answers staff intents; the helpdesk checks its allowlist."""

from __future__ import annotations

from pathlib import Path

import pytest

from bots.staff_helpdesk.actions import allowlist, short_location, stock_table
from core.commerce.inventory import InventoryItem, StockLevel
from core.messages import Platform
from core.sessions import MemorySessionStore
from core.settings import Settings
from tests.bots.shop_support import message, shop_parts

STAFF_QUESTIONS = [
    "look up order #1001 for jane@example.com",
    "how many hoodies in the downtown store",
    "show the handoff queue",
    "what's the procedure for a return without a receipt at the till?",
    "stock of NW-TEE-001-NVY-XS at midtown",
]


@pytest.mark.parametrize("text", STAFF_QUESTIONS)
async def test_shop_assistant_never_reveals_staff_data(artifacts_dir: Path, text: str) -> None:
    manager = shop_parts(artifacts_dir).manager(MemorySessionStore())
    replies = await manager.handle(message(text, platform=Platform.TELEGRAM, chat="c-staffq", user="u-x"))
    said = " ".join(r.text for r in replies)
    assert replies
    # Order #1001 belongs to Ava Cohen, not jane@: nothing of it may show.
    assert "Ava" not in said and "753164682674150" not in said and "Speckled" not in said
    # Stock-room figures and staff-only material never appear.
    for leak in ("Harbourfront  Midtown", "Variant / SKU", "SOP", "handoff queue", "waiting for or talking"):
        assert leak not in said, said


def test_allowlist_parses_team_channel_and_user_ids() -> None:
    settings = Settings(redis_url=None, staff_allowlist=" T0001, C0STAFF ,,U0LEAD ")
    assert allowlist(settings) == frozenset({"T0001", "C0STAFF", "U0LEAD"})
    assert allowlist(Settings(redis_url=None)) == frozenset()


def test_stock_table_has_a_row_per_variant_and_a_column_per_store() -> None:
    stores = ("Northwind Harbourfront", "Northwind Midtown")
    item = InventoryItem(handle="cap", title="Cap", sku="CAP-1", options=(("Color", "Red"),),
                         levels=(StockLevel(location=stores[0], available=3, on_hand=3),))
    table = stock_table([item], stores, stores).splitlines()
    assert table[0].split() == ["Variant", "/", "SKU", "Harbourfront", "Midtown"]
    assert table[1].split() == ["Red", "CAP-1", "3", "-"]
    assert short_location("Northwind Midtown", stores) == "Midtown"
