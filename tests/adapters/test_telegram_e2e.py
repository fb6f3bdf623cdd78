"""Telegram end to end: webhook and polling into the real app, Bot API calls out to the stand-in."""

from __future__ import annotations

import asyncio
import json

from adapters.telegram import TelegramAdapter
from core.sessions import MemorySessionStore
from core.settings import Settings
from tests.adapters.conftest import (
    LONG_PAYLOAD,
    ScriptedHandler,
    Served,
    tg_callback,
    tg_headers,
    tg_message,
)
from tests.adapters.standins import TelegramApiStandin


async def post_update(served: Served, update: object, *, secret: str | None = None) -> int:
    headers = tg_headers() if secret is None else tg_headers(secret)
    response = await served.client.post("/telegram/webhook", content=json.dumps(update), headers=headers)
    return response.status_code


async def test_start_up_checks_the_token(served: Served, telegram_api: TelegramApiStandin) -> None:
    assert telegram_api.recorder.of("getMe")


async def test_text_update_via_webhook(
    served: Served, telegram_api: TelegramApiStandin, handler: ScriptedHandler
) -> None:
    assert await post_update(served, tg_message(1001, "hello")) == 200
    (call,) = await telegram_api.recorder.wait_for("sendMessage")
    assert call.params["chat_id"] == "777" and call.params["text"] == "echo: hello"
    (message,) = handler.messages
    assert message.delivery_id == "telegram:shop_assistant:1001"
    assert message.locale == "en" and message.user_id == "777"


async def test_commands_pass_through_as_text(served: Served, telegram_api: TelegramApiStandin,
                                             handler: ScriptedHandler) -> None:
    assert await post_update(served, tg_message(1002, "/cart@shopkeep_test_bot")) == 200
    await telegram_api.recorder.wait_for("sendMessage")
    assert handler.messages[0].text == "/cart"


async def test_repeated_update_is_answered_once(
    served: Served, telegram_api: TelegramApiStandin, handler: ScriptedHandler
) -> None:
    for _ in range(3):
        assert await post_update(served, tg_message(1003, "once")) == 200
    await served.app.state.serving.telegram.drain()
    assert len(telegram_api.recorder.of("sendMessage")) == 1
    assert [m.text for m in handler.messages] == ["once"]


async def test_callback_query_is_answered_and_followed_up(
    served: Served, telegram_api: TelegramApiStandin, handler: ScriptedHandler
) -> None:
    assert await post_update(served, tg_callback(1004, "add:wool-coat:m")) == 200
    (answer,) = await telegram_api.recorder.wait_for("answerCallbackQuery")
    assert answer.params["callback_query_id"] == "cbq1004"
    (sent,) = await telegram_api.recorder.wait_for("sendMessage")
    assert sent.params["text"] == "pressed add:wool-coat:m"
    assert handler.messages[0].button_payload == "add:wool-coat:m"


async def test_long_payload_round_trips_through_the_store(
    served: Served, telegram_api: TelegramApiStandin, handler: ScriptedHandler
) -> None:
    assert await post_update(served, tg_message(1005, "longbutton")) == 200
    (sent,) = await telegram_api.recorder.wait_for("sendMessage")
    (button,) = sent.params["reply_markup"]["inline_keyboard"][0]
    data = button["callback_data"]
    assert len(data.encode()) <= 64 and data != LONG_PAYLOAD
    assert await post_update(served, tg_callback(1006, data)) == 200
    await telegram_api.recorder.wait_for("sendMessage", 2)
    assert handler.messages[-1].button_payload == LONG_PAYLOAD


async def test_expired_payload_is_answered_politely(
    served: Served, telegram_api: TelegramApiStandin, handler: ScriptedHandler
) -> None:
    assert await post_update(served, tg_callback(1007, "~doesnotexist0000")) == 200
    (answer,) = await telegram_api.recorder.wait_for("answerCallbackQuery")
    assert "expired" in answer.params["text"]
    await served.app.state.serving.telegram.drain()
    assert handler.messages == []


async def test_own_contact_is_passed_and_foreign_one_refused(
    served: Served, telegram_api: TelegramApiStandin, handler: ScriptedHandler
) -> None:
    own = {"phone_number": "+15550100", "first_name": "Ada", "user_id": 777}
    assert await post_update(served, tg_message(1008, contact=own)) == 200
    (sent,) = await telegram_api.recorder.wait_for("sendMessage")
    assert sent.params["text"] == "thanks, +15550100"
    assert handler.messages[0].contact is not None and handler.messages[0].contact.user_id == "777"
    foreign = {"phone_number": "+15550199", "first_name": "Bob", "user_id": 999}
    assert await post_update(served, tg_message(1009, contact=foreign)) == 200
    calls = await telegram_api.recorder.wait_for("sendMessage", 2)
    assert calls[1].params["reply_markup"]["keyboard"][0][0]["request_contact"] is True
    assert len(handler.messages) == 1


async def test_request_contact_shows_a_reply_keyboard(served: Served, telegram_api: TelegramApiStandin) -> None:
    assert await post_update(served, tg_message(1010, "phone")) == 200
    (sent,) = await telegram_api.recorder.wait_for("sendMessage")
    assert sent.params["reply_markup"]["keyboard"][0][0]["request_contact"] is True


async def test_product_card_is_sent_as_a_photo(served: Served, telegram_api: TelegramApiStandin) -> None:
    assert await post_update(served, tg_message(1011, "card")) == 200
    (photo,) = await telegram_api.recorder.wait_for("sendPhoto")
    assert photo.params["photo"] == "https://cdn.example.com/coat.jpg"
    assert "<s>$199.00</s>" in photo.params["caption"] and photo.params["parse_mode"] == "HTML"
    assert photo.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "add:wool-coat:m"
    (text,) = await telegram_api.recorder.wait_for("sendMessage")
    assert text.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "checkout"


async def test_long_reply_is_split_in_two(served: Served, telegram_api: TelegramApiStandin) -> None:
    assert await post_update(served, tg_message(1012, "long")) == 200
    first, second = await telegram_api.recorder.wait_for("sendMessage", 2)
    assert len(first.params["text"]) <= 4096 and len(second.params["text"]) <= 4096
    assert first.params["text"].endswith("end.") and second.params["text"].startswith("word")
    assert len(first.params["text"]) + len(second.params["text"]) >= 5003 - 4


async def test_wrong_secret_is_forbidden(served: Served, handler: ScriptedHandler) -> None:
    assert await post_update(served, tg_message(1013, "hi"), secret="guess") == 403
    response = await served.client.post("/telegram/webhook", content="{}")
    assert response.status_code == 403
    assert handler.messages == []


async def test_malformed_json_is_a_short_400(served: Served) -> None:
    for body in ("{not json", "[1, 2]", json.dumps({"update_id": "x"})):
        response = await served.client.post("/telegram/webhook", content=body, headers=tg_headers())
        assert response.status_code == 400
        assert response.json()["ok"] is False
        assert "Traceback" not in response.text and len(response.text) < 200


async def test_polling_delivers_updates(settings: Settings, telegram_api: TelegramApiStandin) -> None:
    handler = ScriptedHandler()
    adapter = TelegramAdapter(settings=settings, handler=handler.handle, bot="shop_assistant",
                              store=MemorySessionStore(), polling=True)
    stop = asyncio.Event()
    telegram_api.queue_update(tg_message(2001, "polled hello"))
    polling = asyncio.create_task(adapter.run_polling(stop))
    try:
        (sent,) = await telegram_api.recorder.wait_for("sendMessage")
    finally:
        stop.set()
        await polling
    assert sent.params["text"] == "echo: polled hello"
    assert telegram_api.recorder.of("getUpdates")
    assert handler.messages[0].delivery_id == "telegram:shop_assistant:2001"
