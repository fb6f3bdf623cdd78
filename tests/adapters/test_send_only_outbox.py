"""Live handoff with Telegram on long polling: send-only outboxes bridge the two processes.

``shopkeep telegram-poll`` (the polling adapter, a send-only Slack outbox) and
``shopkeep serve`` (Slack, a send-only Telegram outbox) run on two runtimes
sharing one Redis, as two processes would. Only the platform APIs are stand-ins.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adapters.telegram import TelegramOutbox
from bots.commands.serve import poll_telegram
from core.messages import Platform
from core.settings import Settings
from tests.adapters.conftest import serve, tg_message
from tests.adapters.staff_support import (
    HANDOFF_CHANNEL,
    Drive,
    buttons,
    open_runtime,
    staff_settings,
    text_of,
)
from tests.adapters.standins import SlackApiStandin, TelegramApiStandin

FORBIDDEN = {"getUpdates", "setWebhook", "deleteWebhook"}


@pytest.fixture
def polling_settings(settings: Settings, artifacts_dir: Path) -> Settings:
    return staff_settings(settings, artifacts_dir=artifacts_dir, telegram_mode="polling")




async def test_serve_in_polling_mode_registers_send_only_telegram(
    polling_settings: Settings, redis_url: str, prefix: str, telegram_api: TelegramApiStandin,
) -> None:
    runtime = await open_runtime(polling_settings, redis_url, prefix)
    try:
        async for served in serve(polling_settings, runtime):
            serving = served.app.state.serving
            assert serving.telegram is None  # no webhook adapter
            assert runtime.outbox.platforms == {Platform.SLACK, Platform.TELEGRAM}
            assert isinstance(runtime.outbox._outboxes[Platform.TELEGRAM], TelegramOutbox)
            assert (await served.client.post("/telegram/webhook", content="{}")).status_code == 404
        assert runtime.outbox.platforms == frozenset()
        assert telegram_api.recorder.calls == []  # starting and stopping touched nothing on Telegram
    finally:
        await runtime.aclose()


async def test_handoff_across_polling_and_serve_processes(
    polling_settings: Settings, redis_url: str, prefix: str,
    slack_api: SlackApiStandin, telegram_api: TelegramApiStandin,
) -> None:
    serve_runtime = await open_runtime(polling_settings, redis_url, prefix)
    poll_runtime = await open_runtime(polling_settings, redis_url, prefix)
    stop = asyncio.Event()
    poller = asyncio.create_task(poll_telegram(polling_settings, poll_runtime, stop))
    try:
        async for served in serve(polling_settings, serve_runtime):
            drive = Drive(served=served, slack=slack_api, telegram=telegram_api)

            # The shopper's /human arrives by getUpdates; the poller posts the card in Slack.
            telegram_api.queue_update(tg_message(9001, "/human"))
            card = (await slack_api.recorder.wait_for("chat.postMessage", 1))[-1]
            assert card.params["channel"] == HANDOFF_CHANNEL
            assert "telegram" in text_of(card) and "ada" in text_of(card)
            claim = [v for v in buttons(card) if v.startswith("handoff:claim:")]
            assert claim
            ticket_id = claim[0].rsplit(":", 1)[1]
            assert poll_runtime.outbox.platforms == {Platform.SLACK, Platform.TELEGRAM}
            await telegram_api.recorder.wait_for("sendMessage", 1)
            assert "I've asked a member of our team" in text_of(drive.tg_sent()[-1])

            # From here on only the serve process talks to Telegram.
            stop.set()
            await asyncio.wait_for(poller, 15)
            assert telegram_api.recorder.of("getUpdates")
            mark = len(telegram_api.recorder.calls)
            sent_before = len(drive.tg_sent())

            assert serve_runtime.handoff is not None
            ticket = await serve_runtime.handoff.get(ticket_id)
            assert ticket is not None and ticket.staff is not None
            thread = ticket.staff.thread
            await drive.staff_presses(f"handoff:claim:{ticket_id}", expect_posts=2)
            await telegram_api.recorder.wait_for("sendMessage", sent_before + 1)
            assert "lee from our team has joined" in text_of(drive.tg_sent()[-1])

            await drive.staff_says("Hi Ada, I'm Lee.", channel=HANDOFF_CHANNEL, thread=thread, expect_posts=2)
            await telegram_api.recorder.wait_for("sendMessage", sent_before + 2)
            last = drive.tg_sent()[-1]
            assert text_of(last) == "lee: Hi Ada, I'm Lee." and last.params["chat_id"] in (777, "777")

            later = {c.method for c in telegram_api.recorder.calls[mark:]}
            assert "sendMessage" in later and not later & FORBIDDEN
    finally:
        stop.set()
        if not poller.done():
            await asyncio.wait_for(poller, 15)
        await serve_runtime.aclose()
        await poll_runtime.aclose()
