"""The shop bot's actions report searches, cart adds and checkouts (the engine's events: tests/core)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.dialogue import DialogueManager
from core.events import Event, EventKind
from core.sessions import MemorySessionStore
from tests.bots.shop_support import ShopParts, message, shop_parts


@pytest.fixture(scope="module")
def parts(artifacts_dir: Path) -> ShopParts:
    return shop_parts(artifacts_dir)


@pytest.fixture
def watched(parts: ShopParts) -> tuple[DialogueManager, list[Event]]:
    manager = parts.manager(MemorySessionStore())
    seen: list[Event] = []
    manager.event_observers.append(seen.append)
    return manager, seen


def kinds(events: list[Event]) -> list[EventKind]:
    return [e.kind for e in events]


async def test_a_search_its_results_a_view_a_cart_add_and_checkout_are_events(
        watched: tuple[DialogueManager, list[Event]], parts: ShopParts) -> None:
    manager, seen = watched
    await manager.handle(message("show me a hoodie"))
    search = [e for e in seen if e.kind is EventKind.SEARCH]
    assert len(search) == 1 and search[0].text == "show me a hoodie" and search[0].count >= 1
    assert search[0].embedding is not None  # the message's own vector, reused
    assert kinds(seen)[:2] == [EventKind.MESSAGE, EventKind.SESSION]
    sku = next(v.sku for p in parts.services.catalog.offered() for v in p.variants if v.buyable and v.sku)
    seen.clear()
    await manager.handle(message(payload=f"add:{sku}"))
    adds = [e for e in seen if e.kind is EventKind.CART_ADD]
    assert len(adds) == 1 and adds[0].count == 1 and adds[0].title
    seen.clear()
    await manager.handle(message("checkout please"))
    checkout = [e for e in seen if e.kind is EventKind.CHECKOUT]
    assert len(checkout) == 1 and checkout[0].count == 1 and checkout[0].value > 0
