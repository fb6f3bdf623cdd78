"""Handoff service: a rating button with an odd value is thanked, never an exception (fuzz class of bug)."""

from __future__ import annotations

import pytest

from core.handoff import RATE_PAYLOAD
from core.messages import IncomingMessage
from core.sessions import MemorySessionStore
from core.state import ConversationState
from tests.core.test_handoff import SHOPPER, RecordingOutbox, service


@pytest.mark.parametrize("value", ["²", "¹", "٣", "0", "6", "", "1" * 5000, "3.5"])
async def test_odd_rating_value_is_thanked_and_not_recorded(value: str) -> None:
    state = ConversationState(user_id="u42", data={"handoff": {"ticket": "t1", "awaiting": "rating"}})
    press = IncomingMessage(conversation=SHOPPER, user_id="u42", button_payload=f"{RATE_PAYLOAD}{value}")
    replies = await service(RecordingOutbox(), MemorySessionStore()).intercept(press, state)
    assert replies and "rating" in replies[0].text
    assert state.handoff is not None and state.handoff.rating is None


async def test_a_real_rating_is_recorded() -> None:
    state = ConversationState(user_id="u42", data={"handoff": {"ticket": "t1", "awaiting": "rating"}})
    press = IncomingMessage(conversation=SHOPPER, user_id="u42", button_payload=f"{RATE_PAYLOAD}4")
    await service(RecordingOutbox(), MemorySessionStore()).intercept(press, state)
    assert state.handoff is not None and state.handoff.rating == 4
