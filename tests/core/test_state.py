"""Conversation state: typed handoff flags, and states stored before they had a field of their own."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis
from pydantic import ValidationError

from core.keys import KeyBuilder
from core.messages import ConversationKey, Platform
from core.sessions import RedisSessionStore
from core.state import ConversationState, HandoffFlags

KEY = ConversationKey(platform=Platform.TELEGRAM, bot="shop_assistant", chat="4242")

#: A state as the store wrote it before the handoff flags left ``data`` (field for field what the
#: shopping assistant and the handoff service wrote then).
OLD_STATE = {
    "version": 1,
    "user_id": "u1",
    "lang": "en",
    "history": [{"role": "user", "text": "/human", "intent": None, "user_id": "u1", "at": "2026-11-30T10:00:00Z"}],
    "data": {
        "cart": [{"sku": "NW-TEE-001-NVY-M", "variant_id": "4101", "handle": "tee", "title": "Tee",
                  "variant": "Navy / M", "price": "25.00", "qty": 2}],
        "search": {"query": "tee", "filters": {"sizes": ["M"]}, "offset": 0},
        "handoff": {"requested_at": "2026-11-30T10:00:01.5+00:00", "reason": "user_request", "ticket": "ab12cd34ef",
                    "active": True, "awaiting": "email", "user_id": "u1"},
    },
    "updated_at": "2026-11-30T10:00:02Z",
}


async def test_a_state_stored_with_handoff_in_data_loads_with_typed_flags(
    redis_url: str, key_builder: KeyBuilder, raw_redis: aioredis.Redis
) -> None:
    await raw_redis.set(key_builder.state(KEY), json.dumps(OLD_STATE))
    store = RedisSessionStore.from_url(redis_url, keys=key_builder)
    try:
        state = await store.load(KEY)
        assert state is not None
        assert state.handoff == HandoffFlags(
            requested_at=datetime(2026, 11, 30, 10, 0, 1, 500000, tzinfo=UTC), reason="user_request",
            ticket="ab12cd34ef", active=True, awaiting="email", user_id="u1",
        )
        assert "handoff" not in state.data
        assert state.data["cart"][0]["qty"] == 2 and state.data["search"]["query"] == "tee"  # the bot's data as it was

        await store.save(KEY, state)  # saved in the new form, it loads the same
        raw = json.loads(await raw_redis.get(key_builder.state(KEY)))
        assert raw["handoff"]["ticket"] == "ab12cd34ef" and "handoff" not in raw["data"]
        again = await store.load(KEY)
        assert again is not None and again.handoff == state.handoff
    finally:
        await store.aclose()


def test_handoff_flags_refuse_what_they_cannot_mean() -> None:
    stored = {**OLD_STATE, "data": {"handoff": {"ticket": "t1", "awaiting": "a shoe size"}}}
    with pytest.raises(ValidationError, match="awaiting"):
        ConversationState.model_validate(stored)


def test_erasing_a_participant_keeps_a_handoff_only_someone_else_opened() -> None:
    state = ConversationState.model_validate(OLD_STATE)
    state.join("u2")
    assert state.handoff is not None and state.handoff.user_id == "u1"
    kept = state.without_participant("u2")
    assert kept is not None and kept.handoff == state.handoff and kept.data == {}
    kept = state.without_participant("u1")
    assert kept is not None and kept.handoff is None and kept.data == {}
