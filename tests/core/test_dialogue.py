"""The dialogue manager with the real encoder, the trained head and real stores.

``store`` (tests/core/conftest.py) runs each test once on the memory store and
once on Redis.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from core.actions import ActionContext, ActionRegistry
from core.dialogue import DialogueManager
from core.keys import KeyBuilder
from core.protocols import IntentClassifier, IntentPrediction, SessionStore
from core.sessions import MemorySessionStore
from tests.bots.shop_support import ShopParts, message, shop_parts

OUT_OF_SCOPE = ("can you fix my car engine tomorrow", "what is the capital of australia")


@pytest.fixture(scope="module")
def parts(artifacts_dir: Path) -> ShopParts:
    return shop_parts(artifacts_dir)


@pytest.fixture
def manager(parts: ShopParts, store: SessionStore) -> DialogueManager:
    return parts.manager(store)


async def test_repeated_delivery_is_dropped(manager: DialogueManager) -> None:
    first = await manager.handle(message("hello", delivery_id="d-1"))
    again = await manager.handle(message("hello", delivery_id="d-1"))
    assert first and first[0].text
    assert again == []


async def test_greeting_is_answered_and_history_is_masked(manager: DialogueManager, store: SessionStore) -> None:
    replies = await manager.handle(message("hi there"))
    assert "Northwind" in replies[0].text or "Hello" in replies[0].text
    await manager.handle(message("my email is jane.doe@example.com and phone +1 206 555 0199"))
    state = await store.load(message().conversation)
    assert state is not None
    assert state.history[0].role == "user" and state.history[0].intent == "greet"
    joined = " ".join(t.text for t in state.history)
    assert "jane.doe@example.com" not in joined and "555 0199" not in joined
    assert state.last_decision is not None and "jane.doe" not in state.last_decision.text


async def test_out_of_scope_twice_offers_a_human(manager: DialogueManager, store: SessionStore,
                                                 parts: ShopParts) -> None:
    floor = parts.bot.fallback.clarify_min_confidence
    predictions = parts.classifier.predict_batch_sync(OUT_OF_SCOPE)
    assert all(p.out_of_scope or (p.ambiguous and p.confidence < floor) for p in predictions), [
        (p.label, p.confidence) for p in predictions
    ]
    first = await manager.handle(message(OUT_OF_SCOPE[0]))
    assert not first[0].handoff
    assert any(b.payload == "cmd:human" for b in first[0].buttons)
    second = await manager.handle(message(OUT_OF_SCOPE[1]))
    assert second[0].handoff
    state = await store.load(message().conversation)
    assert state is not None and state.handoff is not None and state.handoff.reason == "repeated_fallback"


class AlwaysAmbiguous:
    """The real classifier, with every prediction marked ambiguous (forces the clarify path)."""

    def __init__(self, inner: IntentClassifier) -> None:
        self._inner = inner
        self.labels = inner.labels

    async def predict(self, text: str) -> IntentPrediction:
        return dataclasses.replace(await self._inner.predict(text), ambiguous=True, out_of_scope=False)

    def predict_batch_sync(self, texts: Sequence[str]) -> list[IntentPrediction]:
        return self._inner.predict_batch_sync(texts)


async def test_ambiguous_message_gets_clarifying_buttons_then_runs_the_choice(
    parts: ShopParts, store: SessionStore
) -> None:
    manager = parts.manager(store, classifier=AlwaysAmbiguous(parts.classifier))
    replies = await manager.handle(message("black hoodie"))
    payloads = [b.payload for b in replies[0].buttons]
    assert 2 <= len(payloads) <= 3 and all(p.startswith("intent:") for p in payloads)
    assert "intent:product_search" in payloads
    chosen = await manager.handle(message(payload="intent:product_search"))
    assert chosen[0].cards, "the clarified intent runs on the text typed before"
    assert all(c.subtitle == "Hoodies" for c in chosen[0].cards)


async def test_language_from_locale_and_lang_command(manager: DialogueManager) -> None:
    zh = await manager.handle(message("hi", locale="zh-hans", chat="zh-chat"))
    assert any("\u4e00" <= ch <= "\u9fff" for ch in zh[0].text)
    switched = await manager.handle(message("/lang en", locale="zh-hans", chat="zh-chat"))
    assert switched[0].text == "OK, I'll answer in English."
    after = await manager.handle(message("hello", locale="zh-hans", chat="zh-chat"))
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in after[0].text)
    bad = await manager.handle(message("/lang fr"))
    assert "/lang en" in bad[0].text


async def test_why_explains_the_last_decision(manager: DialogueManager) -> None:
    empty = await manager.handle(message("/why"))
    assert empty[0].text == "There's no decision to explain yet."
    await manager.handle(message("show me black hoodies under $80"))
    why = await manager.handle(message("/why"))
    text = why[0].text
    assert "product_search" in text and "product:" in text and "price_max=80" in text
    assert (await manager.handle(message("/why")))[0].text == text, "/why does not replace the decision"


async def test_human_command_records_the_handoff(manager: DialogueManager, store: SessionStore) -> None:
    replies = await manager.handle(message("/human"))
    assert replies[0].handoff
    state = await store.load(message().conversation)
    assert state is not None and state.handoff is not None and state.handoff.requested_at


async def test_unknown_command_and_empty_message_are_polite(manager: DialogueManager) -> None:
    unknown = await manager.handle(message("/frobnicate"))
    assert "/help" in unknown[0].text
    empty = await manager.handle(message("   "))
    assert empty[0].text.startswith("I can only read text")


async def test_forget_leaves_no_key_in_redis(parts: ShopParts, key_builder: KeyBuilder, redis_url: str,
                                             raw_redis: aioredis.Redis) -> None:
    from core.sessions import RedisSessionStore

    store = RedisSessionStore.from_url(redis_url, keys=key_builder)
    try:
        manager = parts.manager(store)
        await manager.handle(message("show me hoodies"))
        await manager.handle(message("hi", chat="second-chat"))
        assert [k async for k in raw_redis.scan_iter(match=f"{key_builder.prefix}:*")]
        replies = await manager.handle(message("/forget"))
        assert replies[0].text.startswith("Done")
        left = [k async for k in raw_redis.scan_iter(match=f"{key_builder.prefix}:*")]
        assert left == []
    finally:
        await store.aclose()


async def test_failing_action_gives_polite_error_and_keeps_state(parts: ShopParts, store: SessionStore,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    registry = ActionRegistry()

    @registry.intent("greet")
    async def broken(ctx: ActionContext) -> None:
        ctx.state.data["half_done"] = True
        raise RuntimeError("boom for jane.doe@example.com")

    manager = parts.manager(store, bot=dataclasses.replace(parts.bot, registry=registry))
    replies = await manager.handle(message("hello"))
    assert replies[0].text.startswith("Sorry, something went wrong")
    state = await store.load(message().conversation)
    assert state is not None
    assert "half_done" not in state.data
    assert [t.role for t in state.history] == ["user", "bot"]
    failures = [r for r in caplog.records if r.getMessage().startswith("action failed")]
    assert len(failures) == 1
    logged = failures[0].getMessage()
    assert "action=broken" in logged and "intent=greet" in logged and "jane.doe@example.com" not in logged


async def test_lock_timeout_becomes_a_polite_reply(parts: ShopParts) -> None:
    store = MemorySessionStore(lock_wait_s=0.05)
    manager = parts.manager(store)
    async with store.lock(message().conversation):
        replies = await manager.handle(message("hello"))
    assert replies[0].text == "I'm having trouble right now. Please try again in a moment."


async def test_concurrent_messages_in_one_conversation_are_serialised(manager: DialogueManager,
                                                                     store: SessionStore) -> None:
    await asyncio.gather(*(manager.handle(message(t)) for t in ("hi", "thanks", "bye")))
    state = await store.load(message().conversation)
    assert state is not None
    assert sorted(t.intent for t in state.history if t.role == "user") == ["goodbye", "greet", "thanks"]
