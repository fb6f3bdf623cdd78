"""``/forget`` in a shared conversation: the second participant's data goes, the first's stays.

The real dialogue manager and handoff service on the real Redis, with the tiny
inline bot and a scripted classifier. After Bob's ``/forget`` no Redis key and
no stored value names him or holds what he wrote; Ada's part is intact.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis

from core.handoff import HandoffService
from core.keys import KeyBuilder
from core.messages import ConversationKey, Platform, Reply
from core.sessions import RedisSessionStore
from tests.core.engine_support import says as _says
from tests.core.engine_support import tiny_manager

ADA, BOB = "u-ada-1001", "u-bob-2002"
GROUP = "-100777"  # a Telegram group chat
STAFF = ConversationKey(platform=Platform.SLACK, bot="staff_helpdesk", workspace="T1", chat="C1")
BOB_WORDS = ("buy milk", "my phone is +44 7700 900123", "i want a person")


_UPDATES = itertools.count(5000)


def says(text: str = "", **kwargs: Any) -> Any:
    """A message as a platform delivers it: with a delivery id, whose repeat mark the store keeps."""
    return _says(text, delivery_id=f"telegram:tiny:{next(_UPDATES)}", **kwargs)


class Outbox:
    """Accepts what the handoff service posts (the staff card); the dialogue is under test."""

    def __init__(self) -> None:
        self.sent: list[Reply] = []

    async def send(self, conversation: ConversationKey, replies: Sequence[Reply]) -> list[str]:
        self.sent += replies
        return [f"1700000000.{len(self.sent):06d}" for _ in replies]

    async def update(self, conversation: ConversationKey, message_id: str, reply: Reply) -> None:
        self.sent.append(reply)


async def _everything(raw: aioredis.Redis, keys: KeyBuilder) -> dict[str, str]:
    """Every key under the test's prefix with a text dump of its value."""
    dump: dict[str, str] = {}
    async for name in raw.scan_iter(match=f"{keys.prefix}:*", count=500):
        kind = (await raw.type(name)).decode()
        if kind == "string":
            value = await raw.get(name)
        elif kind == "set":
            value = b" ".join(sorted(await raw.smembers(name)))
        elif kind == "zset":
            value = b" ".join(await raw.zrange(name, 0, -1))
        else:
            value = kind.encode()
        dump[name.decode()] = (value or b"").decode()
    return dump


async def test_second_participant_forgets_and_nothing_of_theirs_remains(
    redis_store: RedisSessionStore, raw_redis: aioredis.Redis
) -> None:
    manager = tiny_manager(redis_store)
    manager.interceptor = HandoffService(store=redis_store, outbox=Outbox(), staff_channel=STAFF)
    group = says(chat=GROUP).conversation

    await manager.handle(says("hello", user=ADA, chat=GROUP, user_name="ada"))
    await manager.handle(says("call the plumber", user=ADA, chat=GROUP, user_name="ada"))
    for text in BOB_WORDS[:2]:
        await manager.handle(says(text, user=BOB, chat=GROUP, user_name="bob"))
    await manager.handle(says("hello", user=BOB, chat=BOB))  # Bob's own DM with the bot
    await manager.handle(says("/human ring me on 07700 900123", user=BOB, chat=GROUP, user_name="bob"))
    before = await _everything(raw_redis, redis_store.keys)
    assert any(BOB in name for name in before) and any("buy milk" in value for value in before.values())
    assert any(":seen:" in name and BOB in name for name in before)  # repeat marks of Bob's DM deliveries
    ticket_id = (await redis_store.load(group)).handoff.ticket  # type: ignore[union-attr]
    assert await redis_store.get_record("handoff", ticket_id) is not None

    replies = await manager.handle(says("/forget", user=BOB, chat=GROUP, user_name="bob"))
    assert [r.text for r in replies] == ["Deleted what I stored about you."]

    after = await _everything(raw_redis, redis_store.keys)
    for name, value in after.items():
        assert BOB not in name and BOB not in value, (name, value)
        assert "bob" not in value, (name, value)
        for words in (*BOB_WORDS, "buy milk", "07700"):
            assert words not in value, (name, value)
    assert await redis_store.get_record("handoff", ticket_id) is None
    assert await redis_store.load(says(chat=BOB).conversation) is None

    kept = await redis_store.load(group)
    assert kept is not None
    assert {t.user_id for t in kept.history} == {ADA}
    assert [t.text for t in kept.history if t.role == "user"] == ["hello", "call the plumber"]
    assert [p.user_id for p in kept.participants] == [ADA] and kept.user_id == ADA
    assert redis_store.keys.user_index(Platform.TELEGRAM, ADA) in after

    # The conversation goes on for Ada; her own /forget then removes it entirely.
    assert [r.text for r in await manager.handle(says("hello", user=ADA, chat=GROUP))] == ["Hello!"]
    await manager.handle(says("/forget", user=ADA, chat=GROUP))
    assert await redis_store.load(group) is None
    left = await _everything(raw_redis, redis_store.keys)
    assert all(ADA not in name and ADA not in value for name, value in left.items()), left


async def test_forget_in_a_dm_deletes_the_conversation(
    redis_store: RedisSessionStore, raw_redis: aioredis.Redis
) -> None:
    manager = tiny_manager(redis_store)
    await manager.handle(says("buy milk", user=BOB, chat=BOB))
    await manager.handle(says("/forget", user=BOB, chat=BOB))
    assert await redis_store.load(says(chat=BOB).conversation) is None
    left = await _everything(raw_redis, redis_store.keys)
    assert all(BOB not in name and BOB not in value for name, value in left.items()), left
