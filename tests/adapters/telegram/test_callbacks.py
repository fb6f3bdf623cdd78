"""Callback data codec: long payloads round-trip; odd data is an expired button, never an exception."""

from __future__ import annotations

import json

import pytest

from adapters.telegram.callbacks import MAX_CALLBACK_BYTES, CallbackCodec, CallbackExpired
from core.sessions import MemorySessionStore
from tests.adapters.conftest import Served, tg_callback, tg_headers
from tests.adapters.standins import TelegramApiStandin

ODD_DATA = [
    "",  # no data at all (a game button)
    "~",  # the fuzz finding: an empty token reached the key builder
    "~~",
    "~ ",
    "~short",
    "~" + "a" * 15,
    "~" + "a" * 17,
    "~{tag}:injection:ab",  # 16 characters, but not a token we mint
    "~\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f",
    "~ÿþýüûúùø÷öõôóòñð",
    "~" + "🙂" * 15,
    "~" + "x" * 63,
]


@pytest.fixture
async def codec() -> CallbackCodec:
    return CallbackCodec(store=MemorySessionStore(), ttl_s=60)


@pytest.mark.parametrize("data", ODD_DATA)
async def test_odd_data_reads_as_expired(codec: CallbackCodec, data: str) -> None:
    with pytest.raises(CallbackExpired) as caught:
        await codec.decode(data)
    assert caught.value.data == data


@pytest.mark.parametrize("data", ["~doesnotexist0000", "~AAAAAAAAAAAAAAA-"])
async def test_well_formed_unknown_token_is_expired(codec: CallbackCodec, data: str) -> None:
    with pytest.raises(CallbackExpired):
        await codec.decode(data)


@pytest.mark.parametrize("data", ["add:wool-coat:m", "x" * MAX_CALLBACK_BYTES, "ÿ\x00binary\x7f", "订单 #1001", " "])
async def test_plain_data_is_the_payload(codec: CallbackCodec, data: str) -> None:
    assert await codec.decode(data) == data


@pytest.mark.parametrize("payload", ["variant:" + "x" * 80, "~starts-with-the-prefix", "🙂" * 17])
async def test_payloads_that_do_not_fit_round_trip_as_tokens(codec: CallbackCodec, payload: str) -> None:
    data = await codec.encode(payload)
    assert data is not None and data.startswith("~") and len(data.encode("utf-8")) <= MAX_CALLBACK_BYTES
    assert await codec.decode(data) == payload


async def test_token_without_a_store_is_expired() -> None:
    codec = CallbackCodec(store=None, ttl_s=60)
    assert await codec.encode("p" * 100) is None
    with pytest.raises(CallbackExpired):
        await codec.decode("~doesnotexist0000")


@pytest.mark.parametrize("data", ["~", "", "~" + "x" * 63])
async def test_webhook_answers_odd_data_as_expired(
    served: Served, telegram_api: TelegramApiStandin, data: str
) -> None:
    update = tg_callback(2001, data)
    response = await served.client.post("/telegram/webhook", content=json.dumps(update), headers=tg_headers())
    assert response.status_code == 200
    (answer,) = await telegram_api.recorder.wait_for("answerCallbackQuery")
    assert answer.params["callback_query_id"] == "cbq2001"
    assert "expired" in answer.params["text"]
    await served.app.state.serving.telegram.drain()
    assert not telegram_api.recorder.of("sendMessage")
