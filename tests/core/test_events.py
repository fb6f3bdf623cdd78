"""Events from the real dialogue manager and shop bot; sessions; erasure on /forget."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis.asyncio as aioredis

from core.analytics import AnalyticsReader, RedisEventRecorder
from core.dialogue import DialogueManager
from core.events import SESSION_IDLE_S, Event, EventKind, track_session
from core.keys import KeyBuilder
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


def test_sessions_start_after_idle_and_keep_one_status() -> None:
    mark, changes = track_session(None, now=1000.0, handoff=False, open_fallback=False)
    assert changes == [("", "resolved", 1000.0)] and mark.status == "resolved"
    mark, changes = track_session(mark, now=1010.0, handoff=False, open_fallback=True)
    assert changes == [("resolved", "unresolved", 1000.0)]
    mark, changes = track_session(mark, now=1020.0, handoff=True, open_fallback=False)
    assert changes == [("unresolved", "handoff", 1000.0)]
    mark, changes = track_session(mark, now=1030.0, handoff=False, open_fallback=False)
    assert changes == [] and mark.status == "handoff"  # a handoff stays for the session
    mark, changes = track_session(mark, now=1030.0 + SESSION_IDLE_S, handoff=False, open_fallback=False)
    assert changes == [("", "resolved", 1030.0 + SESSION_IDLE_S)]  # a new session


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


async def test_out_of_scope_twice_is_unresolved_then_a_handoff(watched: tuple[DialogueManager, list[Event]]) -> None:
    manager, seen = watched
    await manager.handle(message("what is the capital of australia, ask bob@example.org"))
    first = [e for e in seen if e.kind in (EventKind.OUT_OF_SCOPE, EventKind.FALLBACK)]
    assert len(first) == 1
    assert "bob@example.org" not in first[0].text and "b***@e***.org" in first[0].text  # masked
    assert first[0].embedding is None  # masked text differs from what was embedded
    statuses = [(e.previous, e.status) for e in seen if e.kind is EventKind.SESSION]
    assert statuses == [("", "resolved"), ("resolved", "unresolved")]
    seen.clear()
    await manager.handle(message("can you fix my car engine tomorrow"))
    assert EventKind.HANDOFF_REQUESTED in kinds(seen)
    assert [(e.previous, e.status) for e in seen if e.kind is EventKind.SESSION] == [("unresolved", "handoff")]


async def test_a_failing_action_keeps_its_message_but_drops_its_reports(
        watched: tuple[DialogueManager, list[Event]], monkeypatch: pytest.MonkeyPatch) -> None:
    manager, seen = watched
    search = manager.services.search

    async def broken(*args, **kwargs):
        raise RuntimeError("search index gone")

    monkeypatch.setattr(search, "search", broken)
    await manager.handle(message("show me a hoodie"))
    assert EventKind.MESSAGE in kinds(seen) and EventKind.SEARCH not in kinds(seen)


async def test_forget_erases_the_users_stored_examples(parts: ShopParts, redis_url: str) -> None:
    keys = KeyBuilder(prefix="sktest-forget-events")
    client = aioredis.Redis.from_url(redis_url)
    recorder = RedisEventRecorder(client, keys=keys)
    manager = parts.manager(MemorySessionStore(keys=keys))
    manager.event_observers.append(recorder)
    manager.user_erasers.append(recorder.forget_user)
    reader = AnalyticsReader(client, keys=keys)
    try:
        await manager.handle(message("can you fix my car engine tomorrow", user="ada", chat="c-ada"))
        await manager.handle(message("what is the capital of australia", user="bob", chat="c-bob"))
        await recorder.flush()
        assert len(await reader.unanswered()) == 2
        await manager.handle(message("/forget", user="ada", chat="c-ada"))
        assert [e.text for e in await reader.unanswered()] == ["what is the capital of australia"]
        left = [m async for m, _ in client.zscan_iter(keys.index("unanswered-users"))]
        assert len(left) == 1  # only bob's entry is still indexed
    finally:
        async for key in client.scan_iter(match=f"{keys.prefix}:*"):
            await client.delete(key)
        await client.aclose()

