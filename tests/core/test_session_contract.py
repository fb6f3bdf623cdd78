"""The SessionStore contract, run against MemorySessionStore and RedisSessionStore.

Tests that need to look at raw Redis (TTLs, stored bytes) use ``redis_store``
and ``raw_redis`` and run once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from bench.coldstart import RedisServer
from core.errors import LockTimeout, StorageError
from core.keys import KeyBuilder
from core.messages import ConversationKey, Platform
from core.protocols import SessionStore
from core.sessions import MemorySessionStore, RedisSessionStore, make_store
from core.settings import Settings
from core.state import ConversationState, Decision, Turn
from tests.core.conftest import StoreFactory


def conv(
    chat: str = "chat42", platform: Platform = Platform.TELEGRAM, bot: str = "shop_assistant"
) -> ConversationKey:
    return ConversationKey(platform=platform, bot=bot, chat=chat)


def state_of(user_id: str, **data: object) -> ConversationState:
    return ConversationState(user_id=user_id, data=dict(data))


async def test_implements_protocol(store: SessionStore) -> None:
    assert isinstance(store, SessionStore)
    assert await store.ping() is True


async def test_load_unknown_is_none(store: SessionStore) -> None:
    assert await store.load(conv("never-saved")) is None


async def test_save_load_round_trip_with_unicode(store: SessionStore) -> None:
    state = ConversationState(user_id="u1", lang="zh", slots={"size": "M", "colour": "красный"})
    state.add_turn(Turn(role="user", text="你好, ищу кроссовки 👟 size 42", intent="search"))
    state.add_turn(Turn(role="bot", text="Voilà: “Air” — 59,99 €", intent=None))
    state.last_decision = Decision(
        text="你好", intent="search", confidence=0.91, ranking=[("search", 0.91), ("greet", 0.05)]
    )
    state.data["cart"] = [{"sku": "SK-10045", "qty": 2, "title": "Tee 🐍"}]
    await store.save(conv(), state)

    loaded = await store.load(conv())

    assert loaded == state
    assert loaded is not state
    assert loaded.history[0].text == "你好, ищу кроссовки 👟 size 42"
    assert loaded.last_decision is not None and loaded.last_decision.ranking[0] == ("search", 0.91)


async def test_stored_state_is_a_copy_not_an_alias(store: SessionStore) -> None:
    state = state_of("u1", n=1)
    await store.save(conv(), state)
    state.data["n"] = 2
    first = await store.load(conv())
    assert first is not None and first.data["n"] == 1
    first.data["n"] = 3
    second = await store.load(conv())
    assert second is not None and second.data["n"] == 1


async def test_conversations_are_separate(store: SessionStore) -> None:
    await store.save(conv("a"), state_of("u1", who="a"))
    await store.save(conv("b"), state_of("u1", who="b"))
    await store.save(conv("a", platform=Platform.SLACK), state_of("u1", who="slack-a"))
    assert (await store.load(conv("a"))).data["who"] == "a"  # type: ignore[union-attr]
    assert (await store.load(conv("b"))).data["who"] == "b"  # type: ignore[union-attr]
    assert (await store.load(conv("a", platform=Platform.SLACK))).data["who"] == "slack-a"  # type: ignore[union-attr]


async def test_lock_prevents_lost_updates(store: SessionStore) -> None:
    key = conv()

    async def bump(times: int) -> None:
        for _ in range(times):
            async with store.lock(key):
                state = await store.load(key) or state_of("u1", n=0)
                await asyncio.sleep(0)  # give the other task every chance to interleave
                state.data["n"] += 1
                await store.save(key, state)

    await asyncio.gather(bump(50), bump(50))

    final = await store.load(key)
    assert final is not None and final.data["n"] == 100


async def test_second_locker_times_out(store_factory: StoreFactory) -> None:
    store = await store_factory(lock_wait_s=0.2)
    async with store.lock(conv()):
        with pytest.raises(LockTimeout) as caught:
            async with store.lock(conv()):
                pytest.fail("entered a lock someone else holds")
    assert caught.value.conversation == "telegram:shop_assistant:chat42"
    assert caught.value.waited_s >= 0.2
    async with store.lock(conv()):  # free again once the holder left
        pass


async def test_other_conversations_are_not_blocked(store_factory: StoreFactory) -> None:
    store = await store_factory(lock_wait_s=0.2)
    async with store.lock(conv("a")), store.lock(conv("b")):
        pass


async def test_lock_released_on_exception(store_factory: StoreFactory) -> None:
    store = await store_factory(lock_wait_s=0.2)
    with pytest.raises(RuntimeError, match="boom"):
        async with store.lock(conv()):
            raise RuntimeError("boom")
    async with store.lock(conv()):
        pass


async def test_lock_of_dead_holder_expires(store_factory: StoreFactory) -> None:
    store = await store_factory(lock_ttl_ms=200, lock_wait_s=5.0)
    abandoned = store.lock(conv())
    await abandoned.__aenter__()  # the holder "crashes": it never leaves the block
    async with store.lock(conv()):
        pass
    await abandoned.__aexit__(None, None, None)


async def test_release_never_deletes_someone_elses_lock(store_factory: StoreFactory) -> None:
    store = await store_factory(lock_ttl_ms=100, lock_wait_s=5.0)
    key = conv()
    took_over = asyncio.Event()
    finish = asyncio.Event()

    async def successor() -> None:
        async with store.lock(key):
            took_over.set()
            await finish.wait()

    async with store.lock(key):
        await asyncio.sleep(0.3)  # our 100 ms lease runs out while we still work
        store.lock_ttl_ms = 10_000  # the successor gets a long lease
        task = asyncio.create_task(successor())
        await asyncio.wait_for(took_over.wait(), timeout=5)
    # We left the block after losing the lease: the successor must still hold the lock.
    store.lock_wait_s = 0.3
    with pytest.raises(LockTimeout):
        async with store.lock(key):
            pass
    finish.set()
    await task


# --- hold: the dialogue's hot path (repeat check + lock + load; save + release) -------


async def test_hold_loads_saves_and_releases(store_factory: StoreFactory) -> None:
    store = await store_factory(lock_wait_s=0.2)
    await store.save(conv(), state_of("u1", n=1))
    async with store.hold(conv(), delivery_id="d-1") as held:
        assert held.duplicate is False
        assert held.state is not None and held.state.data == {"n": 1}
        with pytest.raises(LockTimeout):  # the lock is really held
            async with store.lock(conv()):
                pytest.fail("entered a held conversation")
        held.state.data["n"] = 2
        await held.save(held.state)
        async with store.lock(conv()):  # save released it, still inside the block
            pass
        with pytest.raises(StorageError):
            await held.save(held.state)  # a second save would write without the lock
    assert (await store.load(conv())).data == {"n": 2}  # type: ignore[union-attr]


async def test_hold_of_a_new_conversation_has_no_state(store: SessionStore) -> None:
    async with store.hold(conv("fresh")) as held:
        assert held.duplicate is False and held.state is None
        await held.save(state_of("u1", made=True))
    assert (await store.load(conv("fresh"))).data == {"made": True}  # type: ignore[union-attr]


async def test_hold_drops_a_repeated_delivery(store: SessionStore) -> None:
    async with store.hold(conv(), delivery_id="upd-7") as held:
        await held.save(state_of("u1"))
    async with store.hold(conv(), delivery_id="upd-7") as again:
        assert again.duplicate is True and again.state is None
    async with store.hold(conv("other"), delivery_id="upd-7") as elsewhere:
        assert elsewhere.duplicate is False  # marks are per conversation
    async with store.hold(conv(), delivery_id="upd-8") as next_one:
        assert next_one.duplicate is False


async def test_hold_concurrent_repeats_run_once(store: SessionStore) -> None:
    ran = 0

    async def deliver() -> None:
        nonlocal ran
        async with store.hold(conv(), delivery_id="storm-1") as held:
            if held.duplicate:
                return
            ran += 1
            await asyncio.sleep(0.01)
            await held.save(state_of("u1"))

    await asyncio.gather(*(deliver() for _ in range(8)))
    assert ran == 1


async def test_hold_without_save_releases_and_keeps_state(store_factory: StoreFactory) -> None:
    store = await store_factory(lock_wait_s=0.2)
    await store.save(conv(), state_of("u1", n=1))
    with pytest.raises(RuntimeError, match="boom"):
        async with store.hold(conv()) as held:
            assert held.state is not None
            held.state.data["n"] = 99  # never saved
            raise RuntimeError("boom")
    async with store.hold(conv()) as held:
        assert held.state is not None and held.state.data == {"n": 1}


async def test_hold_prevents_lost_updates(store: SessionStore) -> None:
    async def bump(times: int) -> None:
        for i in range(times):
            async with store.hold(conv(), delivery_id=f"{id(asyncio.current_task())}-{i}") as held:
                state = held.state or state_of("u1", n=0)
                await asyncio.sleep(0)
                state.data["n"] += 1
                await held.save(state)

    await asyncio.gather(bump(40), bump(40), bump(20))
    assert (await store.load(conv())).data["n"] == 100  # type: ignore[union-attr]


async def test_hold_that_lost_its_lock_stores_nothing(store_factory: StoreFactory) -> None:
    store = await store_factory(lock_ttl_ms=100, lock_wait_s=5.0)
    async with store.hold(conv()) as held:
        await asyncio.sleep(0.3)  # the lease lapses while we work
        async with store.hold(conv()) as successor:  # another holder comes and saves
            await successor.save(state_of("u1", who="successor"))
        with pytest.raises(StorageError, match="lost"):
            await held.save(state_of("u1", who="late"))
    assert (await store.load(conv())).data == {"who": "successor"}  # type: ignore[union-attr]


async def test_hold_indexes_the_user_for_forget(store: SessionStore) -> None:
    async with store.hold(conv(), delivery_id="d") as held:
        await held.save(state_of("u-forget"))
    assert await store.forget_user(Platform.TELEGRAM, "u-forget") >= 1
    assert await store.load(conv()) is None


async def test_first_delivery_true_once(store: SessionStore) -> None:
    assert await store.first_delivery("telegram:shop_assistant", "update-1") is True
    assert await store.first_delivery("telegram:shop_assistant", "update-1") is False
    assert await store.first_delivery("telegram:shop_assistant", "update-2") is True
    assert await store.first_delivery("slack:staff_helpdesk", "update-1") is True


async def test_first_delivery_forgets_after_ttl(store_factory: StoreFactory) -> None:
    store = await store_factory(dedup_ttl_s=1)
    assert await store.first_delivery("telegram:bot", "u-9") is True
    await asyncio.sleep(1.1)
    assert await store.first_delivery("telegram:bot", "u-9") is True


async def test_records_round_trip_and_delete(store: SessionStore) -> None:
    value = {"agent": "Ана", "note": "клиент ждёт 📦", "items": [1, 2.5, None, True]}
    await store.put_record("handoff", "h1", value, 60)
    value["agent"] = "changed after put"
    assert await store.get_record("handoff", "h1") == {
        "agent": "Ана",
        "note": "клиент ждёт 📦",
        "items": [1, 2.5, None, True],
    }
    assert await store.get_record("handoff", "h2") is None
    assert await store.get_record("other-namespace", "h1") is None
    await store.delete_record("handoff", "h1")
    assert await store.get_record("handoff", "h1") is None
    await store.delete_record("handoff", "h1")  # deleting twice is fine


async def test_records_expire(store: SessionStore) -> None:
    await store.put_record("payload", "p1", {"sku": "SK-1"}, ttl_s=1)
    await store.put_record("payload", "p2", {"sku": "SK-2"})  # default: the state TTL
    assert await store.get_record("payload", "p1") == {"sku": "SK-1"}
    await asyncio.sleep(1.1)
    assert await store.get_record("payload", "p1") is None
    assert await store.get_record("payload", "p2") == {"sku": "SK-2"}


async def test_bad_records_are_refused(store: SessionStore) -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        await store.put_record("payload", "p1", {"a": 1}, ttl_s=0)
    with pytest.raises(TypeError):
        await store.put_record("payload", "p1", {"when": object()})
    with pytest.raises(TypeError, match="dict"):
        await store.put_record("payload", "p1", ["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await store.put_record("", "p1", {"a": 1})
    assert await store.get_record("payload", "p1") is None


async def test_forget_user_removes_only_that_user(store: SessionStore) -> None:
    alice, bob = "1001", "2002"
    await store.save(conv("alice-dm"), state_of(alice))
    await store.save(conv("group-1"), state_of(alice))
    await store.put_record(
        "handoff", "alice-h", {"user": alice}, 60, user=(Platform.TELEGRAM, alice)
    )  # type: ignore[call-arg]
    await store.save(conv("bob-dm"), state_of(bob))
    await store.put_record("handoff", "bob-h", {"user": bob}, 60, user=(Platform.TELEGRAM, bob))  # type: ignore[call-arg]
    # Same user id on another platform is another person.
    await store.save(conv("alice-dm", platform=Platform.SLACK), state_of(alice))
    await store.put_record("handoff", "unowned", {"x": 1})

    removed = await store.forget_user(Platform.TELEGRAM, alice)

    assert removed == 3
    assert await store.load(conv("alice-dm")) is None
    assert await store.load(conv("group-1")) is None
    assert await store.get_record("handoff", "alice-h") is None
    assert await store.load(conv("bob-dm")) is not None
    assert await store.get_record("handoff", "bob-h") == {"user": bob}
    assert await store.load(conv("alice-dm", platform=Platform.SLACK)) is not None
    assert await store.get_record("handoff", "unowned") == {"x": 1}
    assert await store.forget_user(Platform.TELEGRAM, alice) == 0
    assert await store.forget_user(Platform.TELEGRAM, "never-seen") == 0


def shared_state(*speakers: tuple[str, str]) -> ConversationState:
    """A conversation whose lines were said by ``(user_id, text)`` in order, each answered by the bot."""
    state = ConversationState(user_id=speakers[0][0], data={"cart": [{"sku": "A", "qty": 1}]},
                              slots={"order_number": "#1001"})
    for user_id, text in speakers:
        state.join(user_id)
        state.add_turn(Turn(role="user", text=text, user_id=user_id))
        state.add_turn(Turn(role="bot", text=f"re: {text}", user_id=user_id))
    state.last_decision = Decision(intent="x", confidence=1.0, text=speakers[-1][1], user_id=speakers[-1][0])
    return state


async def test_forget_user_in_a_shared_conversation_keeps_the_others(store: SessionStore) -> None:
    group = conv("group-7")
    await store.save(group, shared_state(("ada", "hi all"), ("bob", "bob@example.com here"), ("ada", "anyone?")))
    await store.save(conv("bob-dm"), state_of("bob"))

    assert await store.forget_user(Platform.TELEGRAM, "bob") == 2

    kept = await store.load(group)
    assert kept is not None
    assert [(t.user_id, t.text) for t in kept.history] == [
        ("ada", "hi all"), ("ada", "re: hi all"), ("ada", "anyone?"), ("ada", "re: anyone?")]
    assert [p.user_id for p in kept.participants] == ["ada"] and kept.user_id == "ada"
    # Shared working memory may hold what bob typed or proved: cleared.
    assert (kept.data, kept.slots, kept.last_decision) == ({}, {}, None)
    assert await store.load(conv("bob-dm")) is None
    # Ada is still indexed for the group: her own /forget erases it.
    assert await store.forget_user(Platform.TELEGRAM, "ada") == 1
    assert await store.load(group) is None


async def test_the_first_speaker_forgetting_hands_the_conversation_to_the_others(store: SessionStore) -> None:
    group = conv("group-8")
    await store.save(group, shared_state(("ada", "hi"), ("bob", "hello")))
    await store.forget_user(Platform.TELEGRAM, "ada")
    kept = await store.load(group)
    assert kept is not None and kept.user_id == "bob" and [t.user_id for t in kept.history] == ["bob", "bob"]


async def test_a_participant_is_indexed_when_first_seen_not_on_every_save(store: SessionStore) -> None:
    group = conv("group-9")
    state = shared_state(("ada", "hi"))
    await store.save(group, state)
    state = await store.load(group)
    assert state is not None and state.participants[0].index_until > 0
    state.join("bob")
    state.add_turn(Turn(role="user", text="bob here", user_id="bob"))
    await store.save(group, state)
    reloaded = await store.load(group)
    assert reloaded is not None
    # A later save that brings nobody new leaves the participants' index marks alone.
    marks = [p.index_until for p in reloaded.participants]
    await store.save(group, reloaded)
    again = await store.load(group)
    assert again is not None and [p.index_until for p in again.participants] == marks
    assert await store.forget_user(Platform.TELEGRAM, "bob") == 1  # bob was indexed on his first line


async def test_forget_user_waits_for_a_shared_conversation_in_use(store: SessionStore) -> None:
    group = conv("group-10")
    await store.save(group, shared_state(("ada", "hi"), ("bob", "hello")))
    async with store.lock(group):
        forgetting = asyncio.create_task(store.forget_user(Platform.TELEGRAM, "bob"))
        await asyncio.sleep(0.2)
        assert not forgetting.done()  # it must not rewrite the state under a holder's feet
        state = await store.load(group)
        assert state is not None
        state.add_turn(Turn(role="user", text="ada again", user_id="ada"))
        await store.save(group, state)
    assert await forgetting == 1
    kept = await store.load(group)
    assert kept is not None and [t.text for t in kept.history] == ["hi", "re: hi", "ada again"]


def test_index_marks_are_refreshed_once_per_half_lifetime() -> None:
    state = shared_state(("ada", "hi"))
    assert state.due_for_index(1000.0, 100) == ["ada"]
    assert state.due_for_index(1010.0, 100) == []
    assert state.due_for_index(1049.0, 100) == []
    state.join("bob")
    assert state.due_for_index(1050.0, 100) == ["bob"]
    # Ada keeps quiet while bob talks on: her index is refreshed before it could lapse.
    assert state.due_for_index(1051.0, 100) == ["ada"]


async def test_schedule_due_and_unschedule(store: SessionStore) -> None:
    await store.schedule("handoff-timeout", "t2", 200.0)
    await store.schedule("handoff-timeout", "t1", 100.0)
    await store.schedule("handoff-timeout", "t3", 300.0)
    await store.schedule("other-queue", "t0", 50.0)

    assert await store.due("handoff-timeout", 99.0) == []
    assert await store.due("handoff-timeout", 200.0) == ["t1", "t2"]
    assert await store.due("handoff-timeout", 1e12, limit=1) == ["t1"]

    await store.schedule("handoff-timeout", "t1", 400.0)  # re-scheduling moves it
    assert await store.due("handoff-timeout", 350.0) == ["t2", "t3"]
    assert await store.unschedule("handoff-timeout", "t2") is True
    assert await store.unschedule("handoff-timeout", "t2") is False  # only one caller claims it
    assert await store.due("handoff-timeout", 1e12) == ["t3", "t1"]
    assert await store.due("other-queue", 1e12) == ["t0"]


async def test_concurrent_unschedule_claims_once(store: SessionStore) -> None:
    await store.schedule("handoff-timeout", "t1", 1.0)
    results = await asyncio.gather(*(store.unschedule("handoff-timeout", "t1") for _ in range(8)))
    assert sorted(results) == [False] * 7 + [True]


# --- Redis only: what the raw server holds -----------------------------------


async def _keys_under(raw: aioredis.Redis, keys: KeyBuilder) -> list[bytes]:
    return [name async for name in raw.scan_iter(match=f"{keys.prefix}:*", count=500)]


async def test_every_redis_key_has_a_ttl(
    redis_store: RedisSessionStore, raw_redis: aioredis.Redis
) -> None:
    await redis_store.save(conv(), state_of("u1"))
    await redis_store.put_record("handoff", "h1", {"a": 1}, user=(Platform.TELEGRAM, "u1"))
    await redis_store.put_record("payload", "p1", {"a": 1}, ttl_s=30)
    await redis_store.first_delivery("telegram:shop_assistant", "upd-1")
    await redis_store.schedule("handoff-timeout", "t1", 1.0)
    async with redis_store.lock(conv()):
        names = await _keys_under(raw_redis, redis_store.keys)
        ttls = {name: await raw_redis.pttl(name) for name in names}

    assert len(names) == 7  # state, lock, user index, two records, dedup mark, schedule
    assert all(ttl > 0 for ttl in ttls.values()), ttls
    index = redis_store.keys.user_index(Platform.TELEGRAM, "u1").encode()
    assert ttls[index] > 29 * 24 * 3600 * 1000  # the index outlives its longest member


async def test_redis_values_are_json_not_pickle(
    redis_store: RedisSessionStore, raw_redis: aioredis.Redis
) -> None:
    await redis_store.save(conv(), state_of("u1", emoji="🛒"))
    await redis_store.put_record("handoff", "h1", {"note": "中文"})
    raw_state = await raw_redis.get(redis_store.keys.state(conv()))
    raw_record = await raw_redis.get(redis_store.keys.record("handoff", "h1"))
    assert json.loads(raw_state)["data"] == {"emoji": "🛒"}
    assert json.loads(raw_record) == {"note": "中文"}


async def test_forget_user_leaves_no_key_behind(
    redis_store: RedisSessionStore, raw_redis: aioredis.Redis
) -> None:
    await redis_store.save(conv("a"), state_of("u1"))
    await redis_store.save(conv("b"), state_of("u1"))
    await redis_store.put_record("handoff", "h", {"a": 1}, user=(Platform.TELEGRAM, "u1"))
    await redis_store.save(conv("c"), state_of("u2"))
    await redis_store.forget_user(Platform.TELEGRAM, "u1")

    left = {name.decode() for name in await _keys_under(raw_redis, redis_store.keys)}

    assert left == {
        redis_store.keys.state(conv("c")),
        redis_store.keys.user_index(Platform.TELEGRAM, "u2"),
    }


async def test_forget_user_in_a_shared_conversation_keeps_its_ttl_and_no_key_of_the_user(
    redis_store: RedisSessionStore, raw_redis: aioredis.Redis
) -> None:
    group = conv("group-11")
    await redis_store.save(group, shared_state(("ada", "hi"), ("bob", "hello")))
    await raw_redis.expire(redis_store.keys.state(group), 5000)
    await redis_store.forget_user(Platform.TELEGRAM, "bob")
    left = {name.decode() for name in await _keys_under(raw_redis, redis_store.keys)}
    assert left == {redis_store.keys.state(group), redis_store.keys.user_index(Platform.TELEGRAM, "ada")}
    assert 4000 < await raw_redis.ttl(redis_store.keys.state(group)) <= 5000
    assert b"bob" not in await raw_redis.get(redis_store.keys.state(group))


async def test_a_save_bringing_nobody_new_leaves_the_index_alone(
    redis_store: RedisSessionStore, raw_redis: aioredis.Redis
) -> None:
    state = state_of("u1")
    await redis_store.save(conv(), state)
    index = redis_store.keys.user_index(Platform.TELEGRAM, "u1")
    await raw_redis.delete(index)
    await redis_store.save(conv(), state)  # u1 is indexed already: the index is not written again
    assert await raw_redis.exists(index) == 0


async def test_corrupt_state_is_a_storage_error(
    redis_store: RedisSessionStore, raw_redis: aioredis.Redis
) -> None:
    await raw_redis.set(redis_store.keys.state(conv()), b"\x80\x04not json", ex=60)
    with pytest.raises(StorageError, match="not a valid conversation state"):
        await redis_store.load(conv())


async def test_unreachable_redis_is_a_storage_error() -> None:
    client = aioredis.Redis(
        host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0), socket_connect_timeout=1
    )
    store = RedisSessionStore(client)
    with pytest.raises(StorageError) as caught:
        await store.load(conv())
    assert isinstance(caught.value.__cause__, aioredis.ConnectionError)
    with pytest.raises(StorageError):
        async with store.lock(conv()):
            pass
    assert await store.ping() is False
    await client.aclose()


async def test_make_store_follows_settings(redis_url: str) -> None:
    memory = make_store(Settings(redis_url=None, lock_wait_s=1.5))
    on_redis = make_store(Settings(redis_url=redis_url, state_ttl_s=120))
    try:
        assert isinstance(memory, MemorySessionStore) and memory.lock_wait_s == 1.5
        assert isinstance(on_redis, RedisSessionStore) and on_redis.state_ttl_s == 120
        assert await on_redis.ping() is True
    finally:
        await memory.aclose()
        await on_redis.aclose()


# --- memory only: TTLs on an injected monotonic clock ------------------------


async def test_memory_ttls_follow_its_clock(key_builder: KeyBuilder) -> None:
    now = [1000.0]
    store = MemorySessionStore(
        keys=key_builder, state_ttl_s=60, dedup_ttl_s=10, clock=lambda: now[0]
    )
    await store.save(conv(), state_of("u1"))
    await store.put_record("handoff", "h", {"a": 1}, ttl_s=30, user=(Platform.TELEGRAM, "u1"))
    assert await store.first_delivery("s", "d") is True
    now[0] += 11
    assert await store.first_delivery("s", "d") is True  # dedup mark expired
    now[0] += 20
    assert await store.get_record("handoff", "h") is None
    await store.save(conv(), state_of("u1"))  # a save refreshes the state TTL
    now[0] += 59
    assert await store.load(conv()) is not None
    now[0] += 2
    assert await store.load(conv()) is None
    assert await store.forget_user(Platform.TELEGRAM, "u1") == 0
    await store.aclose()
    with pytest.raises(StorageError, match="closed"):
        await store.load(conv())


# --- redis only: the lease watchdog and releases retried after an outage -------


@pytest.fixture
async def private_redis() -> AsyncIterator[RedisServer]:
    """A redis-server of this test's own (AOF on), so it can be stopped; never the shared one."""
    server = RedisServer()
    await asyncio.to_thread(server.start)
    yield server
    await asyncio.to_thread(server.cleanup)


async def test_redis_lock_held_across_a_long_action_is_not_stolen(
    key_builder: KeyBuilder, redis_url: str, raw_redis: aioredis.Redis
) -> None:
    # The action lasts many heartbeats: only the watchdog's renewals keep the lock.
    store = RedisSessionStore.from_url(redis_url, keys=key_builder, lock_heartbeat_ms=150, lock_wait_s=0.2)
    rival = RedisSessionStore.from_url(redis_url, keys=key_builder, lock_wait_s=0.2)  # another process
    try:
        async with store.lock(conv()):
            for _ in range(5):  # 5 x >= 0.2 s waiting: >= 1 s, about 7 heartbeats
                with pytest.raises(LockTimeout):
                    async with rival.lock(conv()):
                        pytest.fail("took a lock whose holder is still working")
            assert 0 < await raw_redis.pttl(store.keys.lock(conv())) <= 150
        async with rival.lock(conv()):  # released on exit
            pass
    finally:
        await store.aclose()
        await rival.aclose()


async def test_redis_renewals_stop_at_lock_ttl(
    key_builder: KeyBuilder, redis_url: str, raw_redis: aioredis.Redis
) -> None:
    store = RedisSessionStore.from_url(
        redis_url, keys=key_builder, lock_ttl_ms=500, lock_heartbeat_ms=100, lock_wait_s=5.0
    )
    try:
        wedged = store.lock(conv())
        await wedged.__aenter__()  # a holder that never finishes loses the lock after lock_ttl_ms
        async with store.lock(conv()):
            pass
        await wedged.__aexit__(None, None, None)
    finally:
        await store.aclose()


async def test_release_that_failed_during_an_outage_is_retried_when_redis_returns(
    private_redis: RedisServer,
) -> None:
    # Leases far longer than the test: only the retried release can free the lock.
    store = RedisSessionStore.from_url(
        private_redis.url, lock_ttl_ms=120_000, lock_heartbeat_ms=60_000, lock_wait_s=0.5
    )
    raw = aioredis.Redis.from_url(private_redis.url)
    name = store.keys.lock(conv())
    try:
        async with store.lock(conv()):
            await asyncio.to_thread(private_redis.stop)
        # The release failed quietly (the body's outcome stands); AOF kept the lock.
        await asyncio.to_thread(private_redis.start)
        for _ in range(100):  # up to 10 s, against a 60 s lease
            if not await raw.exists(name):
                break
            await asyncio.sleep(0.1)
        assert not await raw.exists(name)
        async with store.lock(conv()):
            pass
    finally:
        await store.aclose()
        await raw.aclose()


async def test_next_message_is_not_locked_out_after_an_outage(private_redis: RedisServer) -> None:
    store = RedisSessionStore.from_url(
        private_redis.url, lock_ttl_ms=120_000, lock_heartbeat_ms=60_000, lock_wait_s=2.0
    )
    try:
        async with store.lock(conv()):
            await asyncio.to_thread(private_redis.stop)
        with pytest.raises(StorageError):  # while Redis is away: a storage error, not a hang
            async with store.lock(conv()):
                pytest.fail("locked without Redis")
        await asyncio.to_thread(private_redis.start)
        async with store.lock(conv()):  # within lock_wait_s, not after the 60 s lease
            pass
    finally:
        await store.aclose()


async def test_redis_burst_beyond_the_pool_waits_instead_of_failing(
    redis_url: str, key_builder: KeyBuilder, raw_redis: aioredis.Redis
) -> None:
    """More concurrent conversations than pooled connections: every one is served, none apologises."""
    store = RedisSessionStore.from_url(redis_url, keys=key_builder, max_connections=4)
    try:
        keys = [ConversationKey(platform=Platform.TELEGRAM, bot="shop", chat=f"burst{i}") for i in range(200)]

        async def one(key: ConversationKey) -> None:
            async with store.lock(key):
                state = await store.load(key) or ConversationState(user_id=key.chat)
                state.slots["n"] = 1
                await store.save(key, state)

        await asyncio.gather(*(one(k) for k in keys))
        loaded = await asyncio.gather(*(store.load(k) for k in keys))
        assert all(s is not None and s.slots["n"] == 1 for s in loaded)
    finally:
        await store.aclose()
