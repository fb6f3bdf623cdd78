"""The app's configuration rule, health, readiness, metrics and lifecycle."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from adapters.asgi import create_app, enabled_platforms
from core.errors import ConfigError
from core.messages import Platform
from core.sessions import MemorySessionStore
from core.settings import Settings
from tests.adapters.conftest import (
    ScriptedHandler,
    ScriptedRuntime,
    Served,
    serve,
    tg_headers,
    tg_message,
)


def bare(**values: object) -> Settings:
    fields = {"slack_bot_token": None, "slack_signing_secret": None, "slack_app_token": None,
              "telegram_bot_token": None, "telegram_webhook_secret": None, "platforms": ""}
    return Settings(**{**fields, **values})  # type: ignore[arg-type]


def test_platforms_follow_the_tokens_unless_listed() -> None:
    assert enabled_platforms(bare()) == ()
    assert enabled_platforms(bare(telegram_bot_token="1:x")) == (Platform.TELEGRAM,)
    assert enabled_platforms(bare(telegram_bot_token="1:x", platforms="slack")) == (Platform.SLACK,)
    with pytest.raises(ConfigError) as caught:
        enabled_platforms(bare(platforms="slack,whatsapp"))
    assert caught.value.name == "SHOPKEEP_PLATFORMS"


@pytest.mark.parametrize(
    ("values", "missing"),
    [
        ({"platforms": "slack"}, "SLACK_BOT_TOKEN"),
        ({"platforms": "slack", "slack_bot_token": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
        ({"telegram_bot_token": "1:x", "telegram_mode": "webhook"}, "TELEGRAM_WEBHOOK_SECRET"),
        ({"telegram_mode": "carrier-pigeon"}, "SHOPKEEP_TELEGRAM_MODE"),
    ],
)
def test_missing_settings_stop_start_up_naming_the_variable(values: dict[str, object], missing: str) -> None:
    runtime = ScriptedRuntime(store=MemorySessionStore())
    with pytest.raises(ConfigError) as caught:
        create_app(bare(**values), runtime)
    assert caught.value.name == missing


def test_socket_mode_needs_no_signing_secret() -> None:
    runtime = ScriptedRuntime(store=MemorySessionStore())
    app = create_app(bare(platforms="slack", slack_bot_token="xoxb-1", slack_app_token="xapp-1"), runtime)
    assert app.state.serving.slack is None  # built by the lifespan, not at import or creation


async def test_health_readiness_and_metrics(served: Served, runtime: ScriptedRuntime) -> None:
    assert (await served.client.get("/healthz")).json() == {"status": "ok"}
    ready = await served.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["store"] is True
    await served.client.post("/telegram/webhook", json=tg_message(3001, "hi"), headers=tg_headers())
    await served.app.state.serving.telegram.drain()
    metrics = (await served.client.get("/metrics")).text
    assert 'shopkeep_messages_total{bot="shop_assistant",platform="telegram"} 1.0' in metrics
    assert "shopkeep_message_latency_seconds_bucket" in metrics
    await runtime.store.aclose()
    assert (await served.client.get("/readyz")).status_code == 503


async def test_lifespan_opens_and_closes_a_runtime_it_builds(settings: Settings) -> None:
    opened: list[ScriptedRuntime] = []
    asked: list[Sequence[str]] = []

    async def opener(bots: Sequence[str]) -> ScriptedRuntime:
        asked.append(bots)
        opened.append(ScriptedRuntime(store=MemorySessionStore(), managers={"shop_assistant": ScriptedHandler()}))
        return opened[0]

    async for served in serve(settings, opener):
        assert (await served.client.get("/readyz")).status_code == 200
    assert asked == [["shop_assistant"]]
    assert opened[0].closed


async def test_disabled_platform_routes_answer_404(slack_api: object) -> None:
    runtime = ScriptedRuntime(store=MemorySessionStore())
    async for served in serve(bare(), runtime):
        assert (await served.client.post("/telegram/webhook", json={})).status_code == 404
        assert (await served.client.post("/slack/events", content="{}")).status_code == 404
