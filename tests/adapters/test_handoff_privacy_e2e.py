"""Personal data never leaves the shopper's chat: the staff card, its edits and the queue are masked.

Shoppers on Telegram and on Slack ask for a person with a phone number and
an e-mail address in their words (and one Slack shopper's user name is an
e-mail address); the real runtime on Redis, both platforms stood in.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
import redis.asyncio as aioredis

from core.settings import Settings
from tests.adapters.conftest import serve, slack_headers
from tests.adapters.staff_support import (
    HANDOFF_CHANNEL,
    LEAD,
    Drive,
    buttons,
    new_prefix,
    open_runtime,
    staff_settings,
    text_of,
)
from tests.adapters.standins import Call, SlackApiStandin, TelegramApiStandin

REQUEST = "please call me back on +44 7700 900123 or e-mail ada@example.com"
SECRETS = ("7700", "900123", "ada@example.com", "ada.lovelace@example.org")


@pytest.fixture
async def prefix(redis_url: str) -> AsyncIterator[str]:
    value = new_prefix()
    yield value
    raw = aioredis.Redis.from_url(redis_url)
    async for name in raw.scan_iter(match=f"{value}:*", count=500):
        await raw.delete(name)
    await raw.aclose()


def _clean(call: Call) -> bool:
    wire = json.dumps(call.params, ensure_ascii=False)
    return not any(secret in wire for secret in SECRETS)


async def _slack_shopper(drive: Drive, text: str) -> None:
    body = urlencode({
        "token": "legacy", "team_id": "T0001", "team_domain": "example", "channel_id": "D0SHOPPER",
        "channel_name": "directmessage", "user_id": "U0SHOPPER", "user_name": "ada.lovelace@example.org",
        "command": "/shop", "text": text, "api_app_id": "A0001",
        "response_url": "https://hooks.slack.com/commands/T0001/1/abc", "trigger_id": f"t-{uuid.uuid4().hex[:8]}",
    })
    response = await drive.served.client.post("/slack/events", content=body, headers=slack_headers(
        body, content_type="application/x-www-form-urlencoded"))
    assert response.status_code == 200


async def test_the_card_its_edits_and_the_queue_carry_no_personal_data(
    settings: Settings, artifacts_dir: Path, redis_url: str, prefix: str,
    slack_api: SlackApiStandin, telegram_api: TelegramApiStandin,
) -> None:
    config = staff_settings(settings, artifacts_dir=artifacts_dir)
    runtime = await open_runtime(config, redis_url, prefix)
    try:
        async for served in serve(config, runtime):
            drive = Drive(served=served, slack=slack_api, telegram=telegram_api)
            await drive.shopper_says(f"/human {REQUEST}")
            await _slack_shopper(drive, f"human {REQUEST}")

            def cards() -> list[Call]:
                return [c for c in drive.slack_posts() if c.params.get("channel") == HANDOFF_CHANNEL]

            # Two cards, and the reply to the Slack shopper in their DM.
            await slack_api.recorder.wait_for("chat.postMessage", 3)
            assert len(cards()) == 2
            for card in cards():
                assert "reason: please call me back on [phone ••23] or e-mail a***@e***.com" in text_of(card)
                assert _clean(card), text_of(card)
            assert "a***@e***.org" in text_of(cards()[1])  # the Slack shopper's user name

            # Claiming edits the card: still nothing personal in it.
            claim = [v for v in buttons(cards()[0]) if v.startswith("handoff:claim:")][0]
            await drive.staff_presses(claim, expect_posts=4)
            (update,) = await slack_api.recorder.wait_for("chat.update")
            assert "Status: claimed by" in text_of(update) and _clean(update)

            # The staff queue lists both tickets, masked.
            posts = await drive.staff_command("queue", user=LEAD, expect_posts=5)
            listing = posts[-1]
            assert "(2)" in text_of(listing) and "call me back on [phone ••23]" in text_of(listing)
            assert _clean(listing), text_of(listing)

            # What is stored for staff is masked too.
            assert runtime.handoff is not None
            for ticket in await runtime.handoff.open_tickets():
                assert not any(secret in ticket.model_dump_json() for secret in SECRETS)
    finally:
        await runtime.aclose()
