"""Fixtures for the adapter tests: platform stand-ins, a scripted handler, the real app.

The adapters are what is under test, so the dialogue is replaced by a small
scripted handler that turns each message into predictable replies.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import redis.asyncio as aioredis

from adapters.asgi import create_app
from core.commands import CommandInfo, CommandMenu
from core.messages import Button, IncomingMessage, ProductCard, Reply, StockState
from core.protocols import SessionStore
from core.sessions import MemorySessionStore
from core.settings import Settings
from tests.adapters.standins import SlackApiStandin, TelegramApiStandin

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
WEBHOOK_SECRET = "tg-webhook-secret_1"
TG_TOKEN = "123456:TEST-token_abc"
LONG_PAYLOAD = "add_to_cart:" + "northwind-heritage-wool-overcoat-charcoal-grey:" + "v" * 40

CARD = ProductCard(
    handle="wool-coat",
    title="Heritage Wool Coat",
    price=Decimal("149.00"),
    compare_at_price=Decimal("199.00"),
    image_url="https://cdn.example.com/coat.jpg",
    url="https://shop.example.com/products/wool-coat",
    variant_title="Charcoal / M",
    stock=StockState.LOW_STOCK,
    buttons=(Button(label="Add to cart", payload="add:wool-coat:m"),),
)


def scripted_replies(message: IncomingMessage) -> list[Reply]:
    """Predictable replies keyed by the incoming text or button payload."""
    if message.button_payload:
        return [Reply(text=f"pressed {message.button_payload}")]
    if message.contact is not None:
        return [Reply(text=f"thanks, {message.contact.phone}")]
    text = message.text
    if text == "card":
        return [Reply(text="Here you go:", cards=(CARD,), buttons=(Button(label="Checkout", payload="checkout"),))]
    if text == "long":
        paragraph = "word " * 199 + "end."  # 999 characters
        return [Reply(text="\n\n".join([paragraph] * 5))]  # 5003 characters
    if text == "longbutton":
        return [Reply(text="Pick one", buttons=(Button(label="Overcoat", payload=LONG_PAYLOAD),))]
    if text == "phone":
        return [Reply(text="May I have your number?", request_contact=True)]
    if text == "boom":
        raise RuntimeError("the dialogue fell over")
    return [Reply(text=f"echo: {text}")]


#: The scripted bot's command registry, as the adapters receive a real bot's.
SCRIPTED_MENU = CommandMenu(bot="shop_assistant", default_lang="en", by_lang={
    "en": (CommandInfo(name="start", description="Say hello"),
           CommandInfo(name="cart", description="View your cart"),
           CommandInfo(name="lang", description="Change the language", accepts_text=True)),
    "zh": (CommandInfo(name="start", description="打个招呼"),
           CommandInfo(name="cart", description="查看购物车"),
           CommandInfo(name="lang", description="切换语言", accepts_text=True)),
})


class ScriptedHandler:
    """Stands in for ``DialogueManager.handle`` and remembers what it was given."""

    def __init__(self) -> None:
        self.messages: list[IncomingMessage] = []
        self.command_menu = SCRIPTED_MENU

    async def handle(self, message: IncomingMessage) -> list[Reply]:
        self.messages.append(message)
        return scripted_replies(message)


@dataclass
class ScriptedRuntime:
    """The shape of ``bots.runtime.Runtime`` the app needs (``adapters.types.ServingRuntime``), with none of
    the optional parts: no encoder, outbox, handoff, notifier, Shopify shop or dashboard backends."""

    store: SessionStore
    managers: Mapping[str, ScriptedHandler] = field(default_factory=dict)
    event_observers: list[Any] = field(default_factory=list)
    encoder: None = None
    outbox: None = None
    handoff: None = None
    notifier: None = None
    shopify: None = None
    analytics: None = None
    nonces: None = None
    recorder: None = None
    trainer: None = None
    closed: bool = False

    async def aclose(self) -> None:
        self.closed = True


@pytest.fixture
async def slack_api() -> AsyncIterator[SlackApiStandin]:
    async with SlackApiStandin() as server:
        yield server


@pytest.fixture
async def telegram_api() -> AsyncIterator[TelegramApiStandin]:
    async with TelegramApiStandin(token=TG_TOKEN) as server:
        yield server


@pytest.fixture
def settings(slack_api: SlackApiStandin, telegram_api: TelegramApiStandin) -> Settings:
    return Settings(
        platforms="slack,telegram",
        slack_bot_token="xoxb-test-token",
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack_api.api_url,
        telegram_bot_token=TG_TOKEN,
        telegram_api_url=telegram_api.api_url,
        telegram_webhook_secret=WEBHOOK_SECRET,
        telegram_mode="webhook",
        redis_url=None,
    )


@pytest.fixture
def handler() -> ScriptedHandler:
    return ScriptedHandler()


@pytest.fixture
def runtime(handler: ScriptedHandler) -> ScriptedRuntime:
    return ScriptedRuntime(store=MemorySessionStore(), managers={"shop_assistant": handler})


@dataclass
class Served:
    """The running app and a client speaking to it in-process."""

    app: Any
    client: httpx.AsyncClient


async def serve(settings: Settings, runtime: Any) -> AsyncIterator[Served]:
    app = create_app(settings, runtime)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shopkeep.test") as client:
            yield Served(app=app, client=client)


@pytest.fixture
async def served(settings: Settings, runtime: ScriptedRuntime) -> AsyncIterator[Served]:
    async for served in serve(settings, runtime):
        yield served


@pytest.fixture
async def prefix(redis_url: str) -> AsyncIterator[str]:
    """A Redis key prefix of the test's own; its keys are deleted afterwards (never a FLUSH)."""
    from tests.adapters.staff_support import new_prefix

    value = new_prefix()
    yield value
    raw = aioredis.Redis.from_url(redis_url)
    async for name in raw.scan_iter(match=f"{value}:*", count=500):
        await raw.delete(name)
    await raw.aclose()


@pytest.fixture
async def staff_drive(settings: Settings, artifacts_dir: Any, redis_url: str, prefix: str,
                      slack_api: SlackApiStandin, telegram_api: TelegramApiStandin) -> AsyncIterator[Any]:
    """The real runtime (both bots, handoff) on Redis, served, with a driver for both platforms."""
    from tests.adapters.staff_support import Drive, open_runtime, staff_settings

    configured = staff_settings(settings, artifacts_dir=artifacts_dir)
    runtime = await open_runtime(configured, redis_url, prefix)
    try:
        async for served in serve(configured, runtime):
            yield Drive(served=served, slack=slack_api, telegram=telegram_api, runtime=runtime)
    finally:
        await runtime.aclose()


# --- Slack request shapes -----------------------------------------------------


def slack_headers(body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None,
                  content_type: str = "application/json") -> dict[str, str]:
    """Headers Slack sends with a signed request (v0 HMAC-SHA256 of ``v0:ts:body``)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}", "Content-Type": content_type}


def event_body(event: dict[str, Any], *, event_id: str = "Ev0001") -> str:
    return json.dumps({
        "token": "legacy", "team_id": "T0001", "api_app_id": "A0001", "type": "event_callback",
        "event": event, "event_id": event_id, "event_time": int(time.time()),
        "authorizations": [{"team_id": "T0001", "user_id": "UBOT0001", "is_bot": True}],
    })


def dm_event(text: str, *, ts: str = "1700000000.000100", thread_ts: str | None = None) -> dict[str, Any]:
    event = {"type": "message", "channel": "D0001", "user": "U0001", "text": text, "ts": ts,
             "channel_type": "im", "event_ts": ts}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def command_body(text: str, *, trigger_id: str = "13345224609.738474920.8088930838d88f008e0") -> str:
    return urlencode({
        "token": "legacy", "team_id": "T0001", "team_domain": "example", "channel_id": "C0001",
        "channel_name": "general", "user_id": "U0001", "user_name": "ada", "command": "/shop", "text": text,
        "api_app_id": "A0001", "response_url": "https://hooks.slack.com/commands/T0001/1/abc",
        "trigger_id": trigger_id,
    })


def action_body(value: str, *, thread_ts: str | None = None) -> str:
    message = {"type": "message", "user": "UBOT0001", "ts": "1700000001.000200", "text": "Here you go:"}
    container = {"type": "message", "message_ts": "1700000001.000200", "channel_id": "C0001", "is_ephemeral": False}
    if thread_ts:
        message["thread_ts"] = thread_ts
        container["thread_ts"] = thread_ts
    payload = {
        "type": "block_actions", "user": {"id": "U0001", "username": "ada", "team_id": "T0001"},
        "api_app_id": "A0001", "token": "legacy", "container": container,
        "trigger_id": "1111.2222.abcd", "team": {"id": "T0001", "domain": "example"},
        "channel": {"id": "C0001", "name": "general"}, "message": message,
        "response_url": "https://hooks.slack.com/actions/T0001/1/xyz",
        "actions": [{"action_id": "shopkeep:0", "block_id": "b1", "text": {"type": "plain_text", "text": "Add to cart"},
                     "value": value, "type": "button", "action_ts": "1700000002.000300"}],
    }
    return urlencode({"payload": json.dumps(payload)})


# --- Telegram update shapes ---------------------------------------------------

TG_USER = {"id": 777, "is_bot": False, "first_name": "Ada", "username": "ada", "language_code": "en"}


def tg_message(update_id: int, text: str | None = None, **extra: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"message_id": update_id, "date": int(time.time()),
                               "chat": {"id": 777, "type": "private", "first_name": "Ada"}, "from": TG_USER}
    if text is not None:
        message["text"] = text
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    message.update(extra)
    return {"update_id": update_id, "message": message}


def tg_callback(update_id: int, data: str) -> dict[str, Any]:
    return {"update_id": update_id, "callback_query": {
        "id": f"cbq{update_id}", "from": TG_USER, "chat_instance": "ci1", "data": data,
        "message": {"message_id": 5, "date": int(time.time()), "chat": {"id": 777, "type": "private"},
                    "from": {"id": 4242, "is_bot": True, "first_name": "Shopkeep"}, "text": "Pick one"},
    }}


def tg_headers(secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    return {"X-Telegram-Bot-Api-Secret-Token": secret, "Content-Type": "application/json"}


def strings(values: Sequence[Any]) -> list[str]:
    return [str(v) for v in values]
