"""Drivers for the staff and handoff end-to-end tests: the real runtime on Redis, both platforms stood in."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bots.runtime import Runtime, build_runtimes
from core.dialogue import DialogueManager
from core.handoff import HandoffService
from core.keys import KeyBuilder
from core.sessions import MemorySessionStore, RedisSessionStore
from core.settings import Settings
from tests.adapters.conftest import (
    Served,
    event_body,
    slack_headers,
    tg_callback,
    tg_headers,
    tg_message,
)
from tests.adapters.standins import Call, SlackApiStandin, TelegramApiStandin

HANDOFF_CHANNEL = "C0HANDOFF"
STAFF_CHANNEL = "C0STAFF"
LEAD = "U0LEAD"


def staff_settings(base: Settings, **overrides: Any) -> Settings:
    return base.model_copy(update={
        "staff_channels": STAFF_CHANNEL,
        "handoff_channel": f"T0001/{HANDOFF_CHANNEL}",
        "staff_allowlist": LEAD,
        **overrides,
    })


@functools.cache
def _loaded(artifacts_dir: Path) -> Runtime:
    """Both bots built once per test process (embedding the catalogue twice takes ~10 s)."""
    settings = Settings(artifacts_dir=artifacts_dir, redis_url=None)
    build = build_runtimes(settings, bots=["shop_assistant", "staff_helpdesk"], store=MemorySessionStore())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, build).result()


async def open_runtime(settings: Settings, redis_url: str, prefix: str) -> Runtime:
    """A fresh runtime on Redis, as a new server process would build it.

    Everything holding conversation or handoff state is new (store client,
    managers, handoff service, outbox router); only the read-only parts (models,
    catalogue indexes) are shared between tests, to keep them fast.
    """
    loaded = _loaded(settings.artifacts_dir)
    store = RedisSessionStore.from_url(redis_url, keys=KeyBuilder(prefix=prefix))
    runtime = Runtime(settings=settings, store=store, encoder=loaded.encoder)
    for name, manager in loaded.managers.items():
        runtime.managers[name] = DialogueManager(bot=manager.bot, store=store, classifier=manager.classifier,
                                                 settings=settings, services=manager.services)
        runtime.classifiers[name] = manager.classifier
    runtime.handoff = HandoffService.from_settings(settings, store=store, outbox=runtime.outbox)
    for manager in runtime.managers.values():
        manager.interceptor = runtime.handoff
    return runtime


def new_prefix() -> str:
    return f"test-staff-{uuid.uuid4().hex[:8]}"


def buttons(call: Call) -> list[str]:
    """Button payloads of one Slack or Telegram call."""
    values = []
    for block in call.params.get("blocks") or []:
        if block.get("type") == "actions":
            values += [e["value"] for e in block.get("elements", [])]
    for row in (call.params.get("reply_markup") or {}).get("inline_keyboard", []):
        values += [b["callback_data"] for b in row]
    return values


def text_of(call: Call) -> str:
    return str(call.params.get("text") or call.params.get("caption") or "")


@dataclass
class Drive:
    """Sends platform requests into a served app and waits for the calls they cause."""

    served: Served
    slack: SlackApiStandin
    telegram: TelegramApiStandin
    update_id: int = 9000
    n: int = 0
    runtime: Runtime | None = None

    def slack_posts(self) -> list[Call]:
        return self.slack.recorder.of("chat.postMessage")

    def tg_sent(self) -> list[Call]:
        return [c for c in self.telegram.recorder.calls if c.method in ("sendMessage", "sendPhoto")]

    async def telegram_update(self, update: dict[str, Any]) -> None:
        response = await self.served.client.post("/telegram/webhook", content=json.dumps(update), headers=tg_headers())
        assert response.status_code == 200
        await self.served.app.state.serving.telegram.drain()

    async def shopper_says(self, text: str) -> None:
        self.update_id += 1
        await self.telegram_update(tg_message(self.update_id, text))

    async def shopper_presses(self, data: str) -> None:
        self.update_id += 1
        await self.telegram_update(tg_callback(self.update_id, data))

    async def _slack(self, body: str, *, expect_posts: int) -> list[Call]:
        content_type = "application/json" if body.startswith("{") else "application/x-www-form-urlencoded"
        response = await self.served.client.post("/slack/events", content=body,
                                                  headers=slack_headers(body, content_type=content_type))
        assert response.status_code == 200
        return await self.slack.recorder.wait_for("chat.postMessage", expect_posts)

    async def staff_says(self, text: str, *, channel: str, thread: str | None = None, user: str = LEAD,
                         expect_posts: int) -> list[Call]:
        self.n += 1
        ts = f"{int(time.time())}.{self.n:06d}"
        event = {"type": "message", "channel": channel, "user": user, "text": text, "ts": ts,
                 "channel_type": "channel", "event_ts": ts}
        if thread:
            event["thread_ts"] = thread
        return await self._slack(event_body(event, event_id=f"EvStaff{uuid.uuid4().hex[:8]}"), expect_posts=expect_posts)

    async def staff_presses(self, value: str, *, channel: str = HANDOFF_CHANNEL, user: str = LEAD,
                            username: str = "lee", expect_posts: int) -> list[Call]:
        self.n += 1
        payload = {
            "type": "block_actions", "user": {"id": user, "username": username, "team_id": "T0001"},
            "container": {"type": "message", "message_ts": "1700000001.000001", "channel_id": channel},
            "trigger_id": f"trigger-{uuid.uuid4().hex[:8]}", "team": {"id": "T0001"}, "channel": {"id": channel},
            "message": {"type": "message", "ts": "1700000001.000001", "text": "card"},
            "actions": [{"action_id": "shopkeep:0", "value": value, "type": "button",
                         "text": {"type": "plain_text", "text": "press"}, "action_ts": f"1700000200.{self.n:06d}"}],
        }
        return await self._slack(urlencode({"payload": json.dumps(payload)}), expect_posts=expect_posts)

    async def slash(self, command: str, text: str, *, user: str, channel: str = "C0GENERAL",
                    user_name: str = "sam") -> None:
        """Send a signed slash command (``/shop``, ``/staff``) as Slack does; answers come in the background."""
        body = urlencode({
            "token": "legacy", "team_id": "T0001", "team_domain": "example", "channel_id": channel,
            "channel_name": "general", "user_id": user, "user_name": user_name, "command": command, "text": text,
            "api_app_id": "A0001", "response_url": "https://hooks.slack.com/commands/T0001/1/abc",
            "trigger_id": f"trigger-{uuid.uuid4().hex[:8]}",
        })
        response = await self.served.client.post("/slack/events", content=body, headers=slack_headers(
            body, content_type="application/x-www-form-urlencoded"))
        assert response.status_code == 200

    async def staff_command(self, text: str, *, user: str, channel: str = "C0GENERAL", expect_posts: int) -> list[Call]:
        await self.slash("/staff", text, user=user, channel=channel)
        return await self.slack.recorder.wait_for("chat.postMessage", expect_posts)
