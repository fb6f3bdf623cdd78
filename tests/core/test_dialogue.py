"""The dialogue manager on the tiny inline bot and a scripted classifier: no trained model.

``store`` (tests/core/conftest.py) runs each test on the memory store, on Redis
and on a Redis Cluster.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re

import pytest
import redis.asyncio as aioredis

from core.actions import ActionContext, ActionRegistry
from core.keys import KeyBuilder
from core.protocols import SessionStore
from core.sessions import MemorySessionStore, RedisSessionStore
from tests.core.engine_support import ANSWERS, ScriptedClassifier, says, tiny_bot, tiny_manager

_CJK_TEXT = re.compile(r"[\u4e00-\u9fff]")


async def test_repeated_delivery_is_dropped(store: SessionStore) -> None:
    manager = tiny_manager(store)
    first = await manager.handle(says("hello", delivery_id="d-1"))
    again = await manager.handle(says("hello", delivery_id="d-1"))
    assert [r.text for r in first] == ["Hello!"]
    assert again == []
    state = await store.load(says().conversation)
    assert state is not None and [t.role for t in state.history] == ["user", "bot"]


async def test_history_and_the_decision_are_masked(store: SessionStore) -> None:
    manager = tiny_manager(store)
    await manager.handle(says("hello"))
    replies = await manager.handle(says("my phone is +44 7700 900123"))
    assert [r.text for r in replies] == ["Noted (1)."]
    state = await store.load(says().conversation)
    assert state is not None
    assert [(t.role, t.intent) for t in state.history if t.role == "user"] == [("user", "greet"), ("user", "note")]
    joined = " ".join(t.text for t in state.history)
    assert "7700 900123" not in joined and "900123" not in joined
    assert state.last_decision is not None and "900123" not in state.last_decision.text


async def test_out_of_scope_offers_a_human_then_hands_over_on_the_second(store: SessionStore) -> None:
    manager = tiny_manager(store)
    first = await manager.handle(says("can you fix my car engine"))
    assert first[0].text == "I can't help with that." and not first[0].handoff
    assert [b.payload for b in first[0].buttons] == ["cmd:human"]
    second = await manager.handle(says("what is the capital of australia"))
    assert second[0].text == "Still lost; a person will take over." and second[0].handoff
    state = await store.load(says().conversation)
    assert state is not None and state.handoff is not None and state.handoff.reason == "repeated_fallback"


async def test_an_understood_message_resets_the_fallback_count(store: SessionStore) -> None:
    manager = tiny_manager(store)
    await manager.handle(says("gibberish one"))
    await manager.handle(says("hello"))
    again = await manager.handle(says("gibberish two"))
    assert not again[0].handoff and again[0].text == "I can't help with that."


async def test_ambiguous_message_gets_clarifying_buttons_then_runs_the_choice_on_the_typed_text(
    store: SessionStore,
) -> None:
    manager = tiny_manager(store)
    replies = await manager.handle(says("notes"))
    assert replies[0].text == "Which did you mean?"
    # clarify_max_options (3) intents offered, labelled from the bot's intent_<name> templates.
    assert [(b.label, b.payload) for b in replies[0].buttons] == [
        ("Show the notes", "intent:list_notes"), ("Take a note", "intent:note"), ("Greet", "intent:greet")]
    chosen = await manager.handle(says(payload="intent:note"))
    assert chosen[0].text == "Noted (1)."
    state = await store.load(says().conversation)
    assert state is not None and state.data["notes"] == ["notes"], "the choice runs on the text typed before"
    assert "clarify" not in state.data


async def test_an_ambiguous_guess_below_the_floor_is_answered_as_out_of_scope(store: SessionStore) -> None:
    bot = tiny_bot()
    bot = dataclasses.replace(bot, fallback=dataclasses.replace(bot.fallback, clarify_min_confidence=0.6))
    manager = tiny_manager(store, bot=bot)
    replies = await manager.handle(says("notes"))  # ambiguous at 0.5
    assert replies[0].text == "I can't help with that." and not any(
        b.payload.startswith("intent:") for b in replies[0].buttons)


async def test_language_from_locale_script_and_the_lang_command(store: SessionStore) -> None:
    manager = tiny_manager(store)
    by_locale = await manager.handle(says("hello", chat="zh-chat").model_copy(update={"locale": "zh-Hans"}))
    assert by_locale[0].text == "你好！"
    switched = await manager.handle(says("/lang en", chat="zh-chat").model_copy(update={"locale": "zh-Hans"}))
    assert switched[0].text == "English it is."
    after = await manager.handle(says("hello", chat="zh-chat").model_copy(update={"locale": "zh-Hans"}))
    assert after[0].text == "Hello!", "a chosen language outranks the locale"
    by_script = await manager.handle(says("你好", chat="script"))
    assert by_script[0].text == "这个我帮不上。"  # out of scope, but answered in the script's language
    bad = await manager.handle(says("/lang fr"))
    assert bad[0].text == "I speak en, zh."


async def test_an_email_link_or_code_keeps_the_conversation_language(store: SessionStore) -> None:
    manager = tiny_manager(store)
    assert (await manager.handle(says("你好", chat="zh")))[0].text == "这个我帮不上。"
    for text in ("ava.cohen@example.com", "https://shop.example.com/orders/1001", "NW-TEE-001-NVY-S SK-1001"):
        replies = await manager.handle(says(text, chat="zh"))
        assert _CJK_TEXT.search(replies[0].text), f"{text!r} switched the reply to {replies[0].text!r}"
    english = await manager.handle(says("fix my car", chat="zh"))
    assert english[0].text == "I can't help with that.", "English words still switch to English"


async def test_why_explains_the_last_decision_and_is_not_itself_one(store: SessionStore) -> None:
    manager = tiny_manager(store)
    assert (await manager.handle(says("/why")))[0].text == "Nothing to explain yet."
    await manager.handle(says("buy milk"))
    why = (await manager.handle(says("/why")))[0].text
    assert why == ("intent note (0.95); ranking note 0.95; flags -; entities first_word=buy; "
                   "action note; sources note:1")
    assert (await manager.handle(says("/why")))[0].text == why


async def test_human_command_records_the_handoff(store: SessionStore) -> None:
    manager = tiny_manager(store)
    replies = await manager.handle(says("/human"))
    assert replies[0].handoff
    state = await store.load(says().conversation)
    assert state is not None and state.handoff is not None and state.handoff.requested_at


async def test_empty_message_is_polite_and_never_classified(store: SessionStore) -> None:
    classifier = ScriptedClassifier(ANSWERS)
    manager = tiny_manager(store, classifier=classifier)
    replies = await manager.handle(says("   "))
    assert replies[0].text == "I only read text." and classifier.calls == []


async def test_forget_leaves_no_key_in_redis(key_builder: KeyBuilder, redis_url: str,
                                             raw_redis: aioredis.Redis) -> None:
    store = RedisSessionStore.from_url(redis_url, keys=key_builder)
    try:
        manager = tiny_manager(store)
        await manager.handle(says("buy milk"))
        await manager.handle(says("hello", chat="second-chat"))
        assert [k async for k in raw_redis.scan_iter(match=f"{key_builder.prefix}:*")]
        replies = await manager.handle(says("/forget"))
        assert replies[0].text == "Deleted what I stored about you."
        assert [k async for k in raw_redis.scan_iter(match=f"{key_builder.prefix}:*")] == []
    finally:
        await store.aclose()


async def test_failing_action_gives_polite_error_and_keeps_state(store: SessionStore,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    registry = ActionRegistry()

    @registry.intent("greet")
    async def broken(ctx: ActionContext) -> None:
        ctx.state.data["half_done"] = True
        raise RuntimeError("boom for jane.doe@example.com")

    manager = tiny_manager(store, bot=dataclasses.replace(tiny_bot(), registry=registry))
    replies = await manager.handle(says("hello"))
    assert replies[0].text == "Something went wrong; type /human."
    state = await store.load(says().conversation)
    assert state is not None
    assert "half_done" not in state.data
    assert [t.role for t in state.history] == ["user", "bot"]
    failures = [r for r in caplog.records if r.getMessage().startswith("action failed")]
    assert len(failures) == 1
    logged = failures[0].getMessage()
    assert "action=broken" in logged and "intent=greet" in logged and "jane.doe@example.com" not in logged


async def test_lock_timeout_becomes_a_polite_reply() -> None:
    store = MemorySessionStore(lock_wait_s=0.05)
    manager = tiny_manager(store)
    async with store.lock(says().conversation):
        replies = await manager.handle(says("hello"))
    assert [r.text for r in replies] == ["Try again in a moment."]


async def test_concurrent_messages_in_one_conversation_are_serialised(store: SessionStore) -> None:
    manager = tiny_manager(store)
    await asyncio.gather(*(manager.handle(says(t)) for t in ("hello", "buy milk", "call the plumber")))
    state = await store.load(says().conversation)
    assert state is not None
    assert sorted(t.intent for t in state.history if t.role == "user") == ["greet", "note", "note"]
    assert sorted(state.data["notes"]) == ["buy milk", "call the plumber"]  # neither write was lost
