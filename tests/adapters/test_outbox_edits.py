"""The outboxes edit messages they sent (the handoff card) in each platform's real wire format."""

from __future__ import annotations

import pytest

from adapters.slack import SlackOutbox
from adapters.telegram import TelegramOutbox
from core.messages import Button, ConversationKey, Mention, Platform, Reply
from core.outbox import OutboxError
from core.settings import Settings
from tests.adapters.standins import SlackApiStandin, TelegramApiStandin

CHANNEL = ConversationKey(platform=Platform.SLACK, bot="staff_helpdesk", workspace="T0001", chat="C0HANDOFF")
CHAT = ConversationKey(platform=Platform.TELEGRAM, bot="shop_assistant", chat="777")
CARD = Reply(text="Handoff t1", buttons=(Button(label="Claim", payload="handoff:claim:t1"),
                                         Button(label="Close", payload="handoff:close:t1")))


async def test_slack_updates_the_card_with_chat_update(settings: Settings, slack_api: SlackApiStandin) -> None:
    outbox = SlackOutbox(settings=settings)
    (ts,) = await outbox.send(CHANNEL, [CARD])
    edited = Reply(text="Handoff t1\nStatus: claimed by lee", mentions=(Mention(start=30, end=33, markup="<@U0LEE>"),),
                   buttons=(Button(label="Close", payload="handoff:close:t1"),))
    await outbox.update(CHANNEL, ts, edited)
    slack_api.recorder.assert_received_request_count("chat.update", 1)
    (call,) = slack_api.recorder.of("chat.update")
    assert (call.params["channel"], call.params["ts"]) == ("C0HANDOFF", ts)
    assert call.params["text"] == "Handoff t1\nStatus: claimed by <@U0LEE>"
    assert [b["type"] for b in call.params["blocks"]] == ["section", "actions"]
    assert slack_api.messages[("C0HANDOFF", ts)]["blocks"][1]["elements"][0]["value"] == "handoff:close:t1"
    await outbox.update(CHANNEL, ts, Reply(text="Handoff t1\nStatus: closed"))
    assert [b["type"] for b in slack_api.messages[("C0HANDOFF", ts)]["blocks"]] == ["section"]  # buttons gone
    with pytest.raises(OutboxError, match="message_not_found"):
        await outbox.update(CHANNEL, "1.000001", edited)


async def test_telegram_edits_with_edit_message_text(settings: Settings, telegram_api: TelegramApiStandin) -> None:
    outbox = TelegramOutbox(settings=settings, bot="shop_assistant")
    try:
        (message_id,) = await outbox.send(CHAT, [CARD])
        await outbox.update(CHAT, message_id, Reply(text="Handoff t1: closed"))
        (call,) = telegram_api.recorder.of("editMessageText")
        assert (call.params["chat_id"], call.params["message_id"]) == ("777", message_id)
        assert call.params["text"] == "Handoff t1: closed" and "reply_markup" not in call.params
        with pytest.raises(OutboxError, match="(?i)message to edit not found"):
            await outbox.update(CHAT, "999999", Reply(text="x"))
    finally:
        await outbox.aclose()
