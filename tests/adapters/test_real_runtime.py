"""Whole shopping conversations over each platform with the REAL runtime.

Real encoder and intent head from the built artifacts (``make models``), the
real dialogue manager and the shop assistant's catalogue; only the platforms
are local stand-ins. Also: a retry storm against the real manager on Redis.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bots.runtime import Runtime, build_runtime
from core.keys import KeyBuilder
from core.sessions import MemorySessionStore, RedisSessionStore
from core.settings import Settings
from tests.adapters.conftest import (
    Served,
    dm_event,
    event_body,
    serve,
    slack_headers,
    tg_callback,
    tg_headers,
    tg_message,
)
from tests.adapters.standins import Call, SlackApiStandin, TelegramApiStandin


@pytest.fixture
def real_settings(settings: Settings, artifacts_dir: Path) -> Settings:
    return settings.model_copy(update={"artifacts_dir": artifacts_dir})


@pytest.fixture
async def memory_runtime(real_settings: Settings) -> AsyncIterator[Runtime]:
    runtime = await build_runtime(real_settings, bot="shop_assistant", store=MemorySessionStore())
    try:
        yield runtime
    finally:
        await runtime.aclose()


@pytest.fixture
async def redis_runtime(real_settings: Settings, redis_url: str) -> AsyncIterator[Runtime]:
    store = RedisSessionStore.from_url(redis_url, keys=KeyBuilder(prefix=f"test-adapters-{uuid.uuid4().hex[:8]}"))
    runtime = await build_runtime(real_settings, bot="shop_assistant", store=store)
    try:
        yield runtime
    finally:
        await runtime.aclose()


def telegram_buttons(calls: list[Call]) -> Iterator[str]:
    for call in calls:
        markup = call.params.get("reply_markup") or {}
        for row in markup.get("inline_keyboard", []):
            for button in row:
                yield button["callback_data"]


def telegram_texts(calls: list[Call]) -> list[str]:
    return [str(c.params.get("text") or c.params.get("caption") or "") for c in calls]


def slack_buttons(calls: list[Call]) -> Iterator[str]:
    for call in calls:
        for block in call.params.get("blocks") or []:
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                yield element["value"]


def slack_action(value: str, n: int) -> str:
    from urllib.parse import urlencode

    payload = {
        "type": "block_actions", "user": {"id": "U0001", "username": "ada", "team_id": "T0001"},
        "container": {"type": "message", "message_ts": f"1700000100.{n:06d}", "channel_id": "D0001"},
        "trigger_id": f"trigger-{n}", "team": {"id": "T0001"}, "channel": {"id": "D0001"},
        "message": {"type": "message", "ts": f"1700000100.{n:06d}", "text": "results"},
        "actions": [{"action_id": "shopkeep:0", "value": value, "type": "button",
                     "text": {"type": "plain_text", "text": "press"}, "action_ts": f"1700000200.{n:06d}"}],
    }
    return urlencode({"payload": json.dumps(payload)})


async def test_shopping_over_telegram(
    real_settings: Settings, memory_runtime: Runtime, telegram_api: TelegramApiStandin
) -> None:
    rec = telegram_api.recorder
    sent = lambda: [c for c in rec.calls if c.method in ("sendMessage", "sendPhoto")]
    async for served in serve(real_settings, memory_runtime):
        adapter = served.app.state.serving.telegram

        async def say(update: dict[str, Any], *, served: Served = served, adapter: Any = adapter) -> None:
            response = await served.client.post("/telegram/webhook", content=json.dumps(update), headers=tg_headers())
            assert response.status_code == 200
            await adapter.drain()

        await say(tg_message(5001, "show me a hoodie"))
        assert rec.of("sendPhoto") or any("<b>" in t for t in telegram_texts(rec.of("sendMessage")))
        update_id = 5002
        for _ in range(3):  # add → (choose a variant) → added
            if any(t.startswith("Added") for t in telegram_texts(sent())):
                break
            choices = [d for d in telegram_buttons(sent()) if d.startswith(("add:", "variant:"))]
            assert choices, telegram_texts(sent())
            await say(tg_callback(update_id, choices[-1]))
            update_id += 1
        assert any(t.startswith("Added") for t in telegram_texts(sent())), telegram_texts(sent())
        await say(tg_message(update_id, "checkout please"))
        assert "Check out here:" in telegram_texts(sent())[-1]
        assert len(rec.of("answerCallbackQuery")) >= 1


async def test_shopping_over_slack(real_settings: Settings, memory_runtime: Runtime, slack_api: SlackApiStandin) -> None:
    rec = slack_api.recorder
    async for served in serve(real_settings, memory_runtime):

        async def post(body: str, wait_for: int, *, served: Served = served) -> list[Call]:
            content_type = "application/json" if body.startswith("{") else "application/x-www-form-urlencoded"
            headers = slack_headers(body, content_type=content_type)
            assert (await served.client.post("/slack/events", content=body, headers=headers)).status_code == 200
            return await rec.wait_for("chat.postMessage", wait_for)

        calls = await post(event_body(dm_event("show me a hoodie"), event_id="EvShop1"), 1)
        assert any(b.get("accessory") or b.get("fields") for c in calls for b in c.params.get("blocks", []))
        n = 1
        while not any(str(c.params["text"]).startswith("Added") for c in calls) and n <= 3:
            choices = [v for v in slack_buttons(calls) if v.startswith(("add:", "variant:"))]
            assert choices, [c.params["text"] for c in calls]
            calls = await post(slack_action(choices[-1], n), len(calls) + 1)
            n += 1
        assert any(str(c.params["text"]).startswith("Added") for c in calls)
        calls = await post(event_body(dm_event("checkout please", ts="1700000300.000100"), event_id="EvShop9"),
                           len(calls) + 1)
        assert "Check out here:" in calls[-1].params["text"]
        # What the dialogue understood reaches /metrics (intents counted per bot).
        metrics = (await served.client.get("/metrics")).text
        assert 'shopkeep_intents_total{bot="shop_assistant",intent="product_search"}' in metrics
        assert 'shopkeep_intents_total{bot="shop_assistant",intent="checkout"}' in metrics
        # The encoder's embedding cache is exported, with at least the texts above looked up.
        misses = re.search(r"^shopkeep_embedding_cache_misses_total ([0-9.e+]+)$", metrics, re.MULTILINE)
        assert misses is not None and float(misses.group(1)) >= 1
        assert "shopkeep_embedding_cache_hit_ratio" in metrics


async def test_retry_storm_with_the_real_manager_on_redis(
    real_settings: Settings, redis_runtime: Runtime, slack_api: SlackApiStandin, telegram_api: TelegramApiStandin
) -> None:
    async for served in serve(real_settings, redis_runtime):
        body = event_body(dm_event("hi there"), event_id=f"EvStorm{uuid.uuid4().hex[:6]}")

        async def deliver(attempt: int, *, served: Served = served, body: str = body) -> int:
            headers = slack_headers(body)
            if attempt:
                headers |= {"X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": "http_timeout"}
            return (await served.client.post("/slack/events", content=body, headers=headers)).status_code

        assert await asyncio.gather(*(deliver(i) for i in range(4))) == [200] * 4
        await slack_api.recorder.wait_for("chat.postMessage")
        assert len(slack_api.recorder.of("chat.postMessage")) == 1

        update = json.dumps(tg_message(6001, "hello"))
        statuses = await asyncio.gather(*(
            served.client.post("/telegram/webhook", content=update, headers=tg_headers()) for _ in range(4)
        ))
        assert [r.status_code for r in statuses] == [200] * 4
        await served.app.state.serving.telegram.drain()
        assert len(telegram_api.recorder.of("sendMessage")) == 1
