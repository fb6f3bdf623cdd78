"""Events the dialogue manager emits (tiny inline bot, scripted classifier); sessions; erasure on /forget."""

from __future__ import annotations

from decimal import Decimal

import pytest
import redis.asyncio as aioredis

from core.actions import ActionContext
from core.analytics import AnalyticsReader, RedisEventRecorder
from core.bot import Bot
from core.dialogue import DialogueManager
from core.events import (
    SESSION_IDLE_S,
    AddedToCart,
    CheckoutLinked,
    Event,
    EventKind,
    ItemViewed,
    NotSure,
    Searched,
    track_session,
)
from core.keys import KeyBuilder
from core.messages import Reply
from core.sessions import MemorySessionStore
from tests.core.engine_support import ANSWERS, ScriptedClassifier, says, tiny_bot, tiny_manager

SHOPPING = {**ANSWERS, "find a hoodie for bob@example.org": "find", "find a hoodie": "find", "add it": "add",
            "check out": "checkout", "is the hoodie warm": "unsure"}


def shopping_bot() -> Bot:
    """The tiny bot plus actions that report what only an action knows (its registry is fresh per call)."""
    bot = tiny_bot()
    registry = bot.registry

    @registry.intent("find")
    async def find(ctx: ActionContext) -> None:
        ctx.report(Searched(query=ctx.understanding.text, results=2))
        ctx.report(ItemViewed(item_id="hoodie", title="Hoodie"))
        ctx.reply(Reply(text="2 found"))

    @registry.intent("add")
    async def add(ctx: ActionContext) -> None:
        ctx.report(AddedToCart(item_id="hoodie", title="Hoodie", quantity=2))
        ctx.reply(Reply(text="added"))

    @registry.intent("checkout")
    async def checkout(ctx: ActionContext) -> None:
        ctx.report(CheckoutLinked(items=2, total=Decimal("59.90")))
        ctx.reply(Reply(text="https://shop.example/checkout"))

    @registry.intent("unsure")
    async def unsure(ctx: ActionContext) -> None:
        ctx.report(NotSure(score=0.31))
        ctx.reply(Reply(text="not sure"))

    @registry.intent("broken")
    async def broken(ctx: ActionContext) -> None:
        ctx.report(Searched(query="lost", results=0))
        raise RuntimeError("index gone")

    return bot


@pytest.fixture
def watched() -> tuple[DialogueManager, list[Event]]:
    manager = tiny_manager(MemorySessionStore(), bot=shopping_bot(),
                           classifier=ScriptedClassifier({**SHOPPING, "find nothing": "broken"}))
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


async def test_what_actions_report_becomes_events(watched: tuple[DialogueManager, list[Event]]) -> None:
    manager, seen = watched
    await manager.handle(says("find a hoodie"))
    assert kinds(seen) == [EventKind.MESSAGE, EventKind.SESSION, EventKind.INTENT, EventKind.SEARCH,
                           EventKind.ITEM_VIEWED]
    search = seen[3]
    assert search.text == "find a hoodie" and search.count == 2
    assert search.embedding is not None  # the message's own vector, reused
    assert seen[2].intent == "find" and seen[2].score == pytest.approx(0.95)
    seen.clear()
    await manager.handle(says("add it"))
    adds = [e for e in seen if e.kind is EventKind.CART_ADD]
    assert len(adds) == 1 and adds[0].count == 2 and adds[0].title == "Hoodie"
    seen.clear()
    await manager.handle(says("check out"))
    checkout = [e for e in seen if e.kind is EventKind.CHECKOUT]
    assert len(checkout) == 1 and checkout[0].count == 2 and checkout[0].value == pytest.approx(59.90)
    seen.clear()
    await manager.handle(says("is the hoodie warm"))
    unsure = [e for e in seen if e.kind is EventKind.NOT_SURE]
    assert len(unsure) == 1 and unsure[0].score == pytest.approx(0.31) and unsure[0].text == "is the hoodie warm"


async def test_a_searched_query_is_masked_and_then_keeps_no_embedding(
        watched: tuple[DialogueManager, list[Event]]) -> None:
    manager, seen = watched
    await manager.handle(says("find a hoodie for bob@example.org"))
    (search,) = [e for e in seen if e.kind is EventKind.SEARCH]
    assert "bob@example.org" not in search.text and "b***@e***.org" in search.text
    assert search.embedding is None  # the masked text is not what was embedded


async def test_out_of_scope_twice_is_unresolved_then_a_handoff(watched: tuple[DialogueManager, list[Event]]) -> None:
    manager, seen = watched
    await manager.handle(says("what is the capital of australia, ask bob@example.org"))
    first = [e for e in seen if e.kind in (EventKind.OUT_OF_SCOPE, EventKind.FALLBACK)]
    assert kinds(first) == [EventKind.OUT_OF_SCOPE]
    assert "bob@example.org" not in first[0].text and "b***@e***.org" in first[0].text  # masked
    assert first[0].embedding is None  # masked text differs from what was embedded
    statuses = [(e.previous, e.status) for e in seen if e.kind is EventKind.SESSION]
    assert statuses == [("", "resolved"), ("resolved", "unresolved")]
    seen.clear()
    await manager.handle(says("can you fix my car engine tomorrow"))
    assert EventKind.HANDOFF_REQUESTED in kinds(seen)
    assert [(e.previous, e.status) for e in seen if e.kind is EventKind.SESSION] == [("unresolved", "handoff")]


async def test_a_clarifying_question_is_a_low_confidence_event(watched: tuple[DialogueManager, list[Event]]) -> None:
    manager, seen = watched
    manager.classifier = ScriptedClassifier(SHOPPING, ambiguous={"notes": ("list_notes", "note")})
    await manager.handle(says("notes"))
    (low,) = [e for e in seen if e.kind is EventKind.LOW_CONFIDENCE]
    assert low.intent == "list_notes" and low.text == "notes"


async def test_commands_are_messages_but_not_decisions(watched: tuple[DialogueManager, list[Event]]) -> None:
    manager, seen = watched
    await manager.handle(says("/help"))
    assert kinds(seen) == [EventKind.MESSAGE, EventKind.SESSION]


async def test_a_failing_action_keeps_its_message_but_drops_its_reports(
        watched: tuple[DialogueManager, list[Event]]) -> None:
    manager, seen = watched
    replies = await manager.handle(says("find nothing"))
    assert replies[0].text.startswith("Something went wrong")
    assert EventKind.MESSAGE in kinds(seen) and EventKind.SEARCH not in kinds(seen)


async def test_forget_erases_the_users_stored_examples(redis_url: str) -> None:
    keys = KeyBuilder(prefix="sktest-forget-events")
    client = aioredis.Redis.from_url(redis_url)
    recorder = RedisEventRecorder(client, keys=keys)
    manager = tiny_manager(MemorySessionStore(keys=keys))
    manager.event_observers.append(recorder)
    manager.user_erasers.append(recorder.forget_user)
    reader = AnalyticsReader(client, keys=keys)
    try:
        await manager.handle(says("can you fix my car engine tomorrow", user="ada", chat="c-ada"))
        await manager.handle(says("what is the capital of australia", user="bob", chat="c-bob"))
        await recorder.flush()
        assert len(await reader.unanswered()) == 2
        await manager.handle(says("/forget", user="ada", chat="c-ada"))
        assert [e.text for e in await reader.unanswered()] == ["what is the capital of australia"]
        left = [m async for m, _ in client.zscan_iter(keys.index("unanswered-users"))]
        assert len(left) == 1  # only bob's entry is still indexed
    finally:
        async for key in client.scan_iter(match=f"{keys.prefix}:*"):
            await client.delete(key)
        await client.aclose()
