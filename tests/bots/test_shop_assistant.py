"""The shopping assistant's capabilities, end to end on the real stack (memory store)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from bots.shop_assistant.actions import checkout_url
from bots.shop_assistant.memory import CartLine, cart_lines
from core.dialogue import DialogueManager
from core.sessions import MemorySessionStore
from tests.bots.shop_support import ShopParts, message, shop_parts


@pytest.fixture(scope="module")
def parts(artifacts_dir: Path) -> ShopParts:
    return shop_parts(artifacts_dir)


@pytest.fixture
def store() -> MemorySessionStore:
    return MemorySessionStore()


@pytest.fixture
def manager(parts: ShopParts, store: MemorySessionStore) -> DialogueManager:
    return parts.manager(store)


async def test_search_applies_entity_filters_and_builds_cards(manager: DialogueManager, parts: ShopParts) -> None:
    replies = await manager.handle(message("black hoodies under $70"))
    cards = replies[0].cards
    assert cards
    catalog = parts.services.catalog
    for card in cards:
        product = catalog.get(card.handle)
        assert product is not None and product.product_type == "Hoodies"
        assert card.price <= Decimal(70)
        assert card.url == f"{parts.settings.shop_url}/products/{card.handle}"
        assert card.sku and card.sku.startswith("NW-")
        assert [b.payload.split(":")[0] for b in card.buttons][:1] == ["details"]
    black = [c for c in cards if c.variant_title and "Black" in c.variant_title]
    assert black, "cards show the variant matching the colour filter"


async def test_refinements_keep_the_previous_search(manager: DialogueManager, store: MemorySessionStore) -> None:
    first = await manager.handle(message("hoodies"))
    first_prices = [c.price for c in first[0].cards]
    cheaper = await manager.handle(message("anything cheaper?"))
    prices = [c.price for c in cheaper[0].cards]
    assert prices and all(c.subtitle == "Hoodies" for c in cheaper[0].cards)
    assert max(prices) < min(first_prices) and prices == sorted(prices)
    size = await manager.handle(message("size XL"))
    assert size[0].cards and all(c.subtitle == "Hoodies" for c in size[0].cards)
    assert all(c.variant_title and c.variant_title.endswith("XL") for c in size[0].cards)
    assert all(c.price < min(first_prices) for c in size[0].cards), "the cheaper cap outlives the next refinement"
    state = await store.load(message().conversation)
    assert state is not None and state.data["search"]["filters"]["sizes"] == ["XL"]
    assert Decimal(state.data["search"]["filters"]["price_max"]) < min(first_prices)
    more = await manager.handle(message("show me more"))
    assert all(c.price < min(first_prices) for c in more[0].cards)


async def test_details_by_position_and_similar_products(manager: DialogueManager, store: MemorySessionStore) -> None:
    listed = await manager.handle(message("show me some jeans"))
    second = listed[0].cards[1].handle
    details = await manager.handle(message("the second one"))
    assert details[0].cards[0].handle == second
    assert {b.payload for b in details[0].buttons} == {f"similar:{second}", f"goes_with:{second}"}
    similar = await manager.handle(message(payload=f"similar:{second}"))
    assert similar[0].cards and second not in [c.handle for c in similar[0].cards]
    pairing = await manager.handle(message(payload=f"goes_with:{second}"))
    assert pairing[0].cards and all(c.subtitle != "Jeans" for c in pairing[0].cards)


async def test_add_asks_for_the_variant_and_never_adds_an_unbuyable_one(
    manager: DialogueManager, store: MemorySessionStore, parts: ShopParts
) -> None:
    choose = await manager.handle(message(payload="add:organic-cotton-ringer-tee"))
    offered = {b.payload for b in choose[0].buttons}
    assert "variant:NW-TEE-001-NVY-M" in offered
    assert "variant:NW-TEE-001-BLK-XS" not in offered, "out-of-stock variants are not offered"
    refused = await manager.handle(message(payload="variant:NW-TEE-001-BLK-XS"))
    assert "out of stock" in refused[0].text
    added = await manager.handle(message("add the navy one in size M to my cart"))
    assert "Added" in added[0].text
    state = await store.load(message().conversation)
    assert state is not None
    assert [(line.sku, line.qty) for line in cart_lines(state)] == [("NW-TEE-001-NVY-M", 1)]
    removed = await manager.handle(message("remove the tee from my cart"))
    assert "Removed" in removed[0].text
    state = await store.load(message().conversation)
    assert state is not None and cart_lines(state) == []


def test_checkout_link_uses_variant_ids_when_every_line_has_one() -> None:
    cart = [CartLine(sku="A-1", variant_id="111", title="A", price=Decimal(5), qty=2),
            CartLine(sku="B-2", variant_id="222", title="B", price=Decimal(7), qty=1)]
    assert checkout_url(cart, shop_url="https://s.example", template="{shop_url}/x?{items}") == (
        "https://s.example/cart/111:2,222:1"
    )
    cart[1].variant_id = None
    assert checkout_url(cart, shop_url="https://s.example", template="{shop_url}/cart/add?sku={items}") == (
        "https://s.example/cart/add?sku=A-1:2,B-2:1"
    )


async def test_order_status_in_one_message_and_wrong_email_leaks_nothing(manager: DialogueManager) -> None:
    ok = await manager.handle(message("status of order #1001, my email is ava.cohen@example.com"))
    assert "#1001" in ok[-1].text and "delivered" in ok[-1].text
    wrong = await manager.handle(message("status of order #1002, email ava.cohen@example.com", chat="other"))
    missing = await manager.handle(message("status of order #9999, email ava.cohen@example.com", chat="third"))
    assert wrong[-1].text == missing[-1].text, "an existing and a missing order get the same answer"
    assert "Sprint" not in wrong[-1].text


async def test_return_outside_the_window_is_refused(manager: DialogueManager, parts: ShopParts,
                                                   store: MemorySessionStore) -> None:
    book = parts.services.backend.orders
    today = parts.services.backend.today()
    window = parts.services.policies.returns.window_days
    old = next(o for o in book.orders if o.delivered_at is not None and not o.within_return_window(today, window))
    await manager.handle(message(f"I want to return an item from order {order_no(old.number)}"))
    replies = await manager.handle(message(old.customer.email))
    assert f"{window}-day" in replies[0].text
    state = await store.load(message().conversation)
    assert state is not None and state.form is None and not state.data.get("returns")


def order_no(number: str) -> str:
    return "#" + re.sub(r"\D", "", number)


async def test_policy_below_the_confidence_floor_offers_a_human(manager: DialogueManager) -> None:
    replies = await manager.handle(message(payload="intent:policy_question"))
    assert "not sure" in replies[0].text
    assert [b.payload for b in replies[0].buttons] == ["cmd:human"]


async def test_size_help_answers_from_the_sizing_guide(manager: DialogueManager, store: MemorySessionStore) -> None:
    await manager.handle(message(payload="intent:size_help"))
    state = await store.load(message().conversation)
    assert state is not None and state.last_decision is not None
    assert state.last_decision.sources == ["policy:sizing_guide"]


async def test_return_form_keeps_no_email_in_the_stored_state(manager: DialogueManager,
                                                              store: MemorySessionStore) -> None:
    await manager.handle(message("I want to return something from order #1001"))
    replies = await manager.handle(message("ava.cohen@example.com"))
    assert any(b.payload.startswith("form:value:") for b in replies[0].buttons)
    state = await store.load(message().conversation)
    assert state is not None and state.form == "return"
    assert "ava.cohen" not in state.model_dump_json()


async def test_order_and_email_in_one_message_store_no_email(manager: DialogueManager,
                                                             store: MemorySessionStore) -> None:
    replies = await manager.handle(message("return from order #1001, email ava.cohen@example.com"))
    assert any(b.payload.startswith("form:value:") for b in replies[-1].buttons)
    state = await store.load(message().conversation)
    assert state is not None and set(state.form_slots) == {"number", "identity", "returnable"}
    assert state.form_slots["identity"] == "verified"
    assert {line["sku"] for line in state.form_slots["returnable"]} >= {"NW-SNK-061-GRY-7"}
    assert "ava.cohen" not in state.model_dump_json()


# --- store hours: the store's own clock, special days from stores.yaml ------------------------
HOURS = "intent:store_hours"  # the intent's button: no classifier in the way


async def test_store_hours_say_today_on_the_stores_clock_not_the_demo_date(manager: DialogueManager) -> None:
    # Mon 30 Nov 2026, 10:30 in Seattle/Portland. The demo's orders think it is Sat 28 Nov; the hours must not.
    replies = await manager.handle(message(payload=HOURS, at=datetime(2026, 11, 30, 18, 30, tzinfo=UTC)))
    text = replies[0].text
    assert text.startswith("Opening hours today (Mon 30 Nov):"), text
    assert "• Northwind Harbourfront: 10:00–20:00 (open now)" in text
    assert "• Northwind Midtown: 09:00–19:00 (open now)" in text
    assert "• Northwind Riverside Outlet: closed" in text  # closed on Mondays


async def test_store_hours_late_in_utc_is_still_the_evening_before_in_the_store(manager: DialogueManager) -> None:
    # 05:00 UTC on Tue 1 Dec is 21:00 on Mon 30 Nov in the stores' time zone.
    replies = await manager.handle(message(payload=HOURS, at=datetime(2026, 12, 1, 5, 0, tzinfo=UTC)))
    text = replies[0].text
    assert "(Mon 30 Nov)" in text and "Harbourfront: 10:00–20:00 (closed now)" in text


async def test_store_hours_announce_special_days_and_use_them_on_the_day(manager: DialogueManager) -> None:
    # Wed 23 Dec, 08:00 local: before opening; Christmas Eve's short hours and Christmas closures are ahead.
    replies = await manager.handle(message(payload=HOURS, at=datetime(2026, 12, 23, 16, 0, tzinfo=UTC)))
    today, ahead = replies[0].text, replies[1].text
    assert "Midtown: 09:00–19:00 (opens at 09:00)" in today
    assert ahead.startswith("Special hours in the next two weeks:")
    assert ("• Thu 24 Dec Christmas Eve: Northwind Harbourfront 10:00–16:00, Northwind Midtown 09:00–15:00"
            in ahead), ahead
    assert "• Fri 25 Dec Christmas Day: Northwind Harbourfront closed, Northwind Midtown closed, " \
           "Northwind Riverside Outlet closed" in ahead
    assert "• Thu 31 Dec New Year's Eve: Northwind Harbourfront 10:00–17:00" in ahead
    assert "• Fri 01 Jan New Year's Day: " in ahead
    assert "Thanksgiving" not in ahead and "Black Friday" not in ahead  # past special days are not listed

    # Christmas Eve, 15:30 local: the special hours are today's hours.
    eve = await manager.handle(message(payload=HOURS, chat="eve", at=datetime(2026, 12, 24, 23, 30, tzinfo=UTC)))
    assert eve[0].text.startswith("Opening hours today (Thu 24 Dec):")
    assert "• Northwind Harbourfront: 10:00–16:00 (open now, Christmas Eve)" in eve[0].text
    assert "• Northwind Midtown: 09:00–15:00 (closed now, Christmas Eve)" in eve[0].text
    assert "Thu 24 Dec" not in eve[1].text and "• Fri 25 Dec Christmas Day" in eve[1].text


async def test_store_hours_in_chinese(manager: DialogueManager) -> None:
    # 10:00 local on Christmas Eve.
    replies = await manager.handle(message(payload=HOURS, locale="zh",
                                           at=datetime(2026, 12, 24, 18, 0, tzinfo=UTC)))
    assert replies[0].text.startswith("今天（12月24日）的营业时间：")
    assert "• Northwind Harbourfront: 10:00–16:00（营业中，平安夜）" in replies[0].text
    assert replies[1].text.startswith("未来两周的特别营业时间：") and "• 12月25日 圣诞节: " in replies[1].text
