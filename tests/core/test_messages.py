"""The boundary model cleans what platforms may legally send but the core cannot store."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.messages import MAX_TEXT_CHARS, ConversationKey, IncomingMessage, Platform
from core.state import ConversationState, Turn

KEY = ConversationKey(platform=Platform.TELEGRAM, bot="shop_assistant", chat="42")


def test_lone_surrogate_is_replaced_so_state_can_be_saved() -> None:
    message = IncomingMessage(conversation=KEY, user_id="7", text="hi \ud800 there")
    assert "\ud800" not in message.text
    state = ConversationState()
    state.add_turn(Turn(role="user", text=message.text))
    assert "hi" in ConversationState.model_validate_json(state.model_dump_json()).history[0].text


def test_oversized_text_is_capped() -> None:
    message = IncomingMessage(conversation=KEY, user_id="7", text="a" * (MAX_TEXT_CHARS * 10))
    assert len(message.text) == MAX_TEXT_CHARS


def test_ordinary_text_is_untouched() -> None:
    text = "红色卫衣 under $60 🙂 مرحبا"
    assert IncomingMessage(conversation=KEY, user_id="7", text=text).text == text


def test_messages_are_frozen_and_strict() -> None:
    message = IncomingMessage(conversation=KEY, user_id="7", text="hi")
    with pytest.raises(ValidationError):
        message.text = "changed"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        IncomingMessage(conversation=KEY, user_id="7", text="hi", unknown_field=1)  # type: ignore[call-arg]


def test_conversation_tag_names_platform_bot_and_thread() -> None:
    key = ConversationKey(platform=Platform.SLACK, bot="staff_helpdesk", workspace="T1", chat="C2", thread="171.5")
    assert key.tag == "slack:staff_helpdesk:T1/C2/171.5"
