"""Slack end to end: signed requests into the real app, Web API calls out to the stand-in."""

from __future__ import annotations

import json
import time

from tests.adapters.conftest import (
    SIGNING_SECRET,
    ScriptedHandler,
    Served,
    action_body,
    command_body,
    dm_event,
    event_body,
    slack_headers,
)
from tests.adapters.standins import SlackApiStandin


async def post_slack(served: Served, body: str, **kwargs: object) -> int:
    content_type = "application/json" if body.startswith("{") else "application/x-www-form-urlencoded"
    headers = slack_headers(body, content_type=content_type, **kwargs)  # type: ignore[arg-type]
    response = await served.client.post("/slack/events", content=body, headers=headers)
    return response.status_code


async def test_url_verification_is_answered(served: Served) -> None:
    body = json.dumps({"token": "legacy", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                       "type": "url_verification"})
    response = await served.client.post("/slack/events", content=body, headers=slack_headers(body))
    assert response.status_code == 200
    assert "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in response.text


async def test_dm_gets_a_reply_in_the_dm(served: Served, slack_api: SlackApiStandin, handler: ScriptedHandler) -> None:
    assert await post_slack(served, event_body(dm_event("hello there"))) == 200
    (call,) = await slack_api.recorder.wait_for("chat.postMessage")
    assert call.params["channel"] == "D0001"
    assert call.params["text"] == "echo: hello there"
    assert "thread_ts" not in call.params or call.params["thread_ts"] is None
    (message,) = handler.messages
    assert message.delivery_id == "slack:Ev0001"
    assert message.conversation.workspace == "T0001" and message.conversation.chat == "D0001"


async def test_app_mention_is_stripped_of_the_mention(
    served: Served, slack_api: SlackApiStandin, handler: ScriptedHandler
) -> None:
    event = {"type": "app_mention", "user": "U0001", "text": "<@UBOT0001> where is my order?",
             "ts": "1700000000.000500", "channel": "C0001", "event_ts": "1700000000.000500"}
    assert await post_slack(served, event_body(event, event_id="Ev0002")) == 200
    (call,) = await slack_api.recorder.wait_for("chat.postMessage")
    assert call.params["channel"] == "C0001"
    assert handler.messages[0].text == "where is my order?"


async def test_thread_reply_is_its_own_conversation_and_answered_in_thread(
    served: Served, slack_api: SlackApiStandin, handler: ScriptedHandler
) -> None:
    event = {"type": "app_mention", "user": "U0001", "text": "<@UBOT0001> card", "ts": "1700000000.000900",
             "thread_ts": "1700000000.000100", "channel": "C0001", "event_ts": "1700000000.000900"}
    assert await post_slack(served, event_body(event, event_id="Ev0003")) == 200
    (call,) = await slack_api.recorder.wait_for("chat.postMessage")
    assert call.params["thread_ts"] == "1700000000.000100"
    assert handler.messages[0].conversation.thread == "1700000000.000100"
    blocks = call.params["blocks"]
    assert any(b.get("accessory", {}).get("type") == "image" for b in blocks)
    # A later plain reply in that thread (no mention) is followed too.
    follow_up = {"type": "message", "user": "U0001", "text": "and in blue?", "ts": "1700000000.001000",
                 "thread_ts": "1700000000.000100", "channel": "C0001", "channel_type": "channel"}
    assert await post_slack(served, event_body(follow_up, event_id="Ev0004")) == 200
    calls = await slack_api.recorder.wait_for("chat.postMessage", 2)
    assert calls[1].params["thread_ts"] == "1700000000.000100"
    assert handler.messages[1].text == "and in blue?"


async def test_bot_messages_and_edits_never_reach_the_dialogue(served: Served, handler: ScriptedHandler) -> None:
    bot_event = {**dm_event("I am a bot"), "bot_id": "B999", "subtype": "bot_message"}
    edit = {**dm_event("edited"), "subtype": "message_changed"}
    assert await post_slack(served, event_body(bot_event, event_id="Ev0010")) == 200
    assert await post_slack(served, event_body(edit, event_id="Ev0011")) == 200
    assert handler.messages == []


async def test_slash_command_is_acked_and_answered(
    served: Served, slack_api: SlackApiStandin, handler: ScriptedHandler
) -> None:
    assert await post_slack(served, command_body("red dress")) == 200
    (call,) = await slack_api.recorder.wait_for("chat.postMessage")
    assert call.params["channel"] == "C0001" and call.params["text"] == "echo: red dress"
    assert handler.messages[0].delivery_id.startswith("slack:13345224609")


async def test_the_bots_commands_are_typed_after_the_slash_command(
    served: Served, slack_api: SlackApiStandin, handler: ScriptedHandler
) -> None:
    texts = ["cart", "LANG zh", "/cart", "cart the red one", "red dress"]
    for i, text in enumerate(texts):
        assert await post_slack(served, command_body(text, trigger_id=f"trigger-{i}")) == 200
    await slack_api.recorder.wait_for("chat.postMessage", len(texts))
    # Registry names become commands; "cart" takes no text, so "cart the red one" stays a question.
    assert [m.text for m in handler.messages] == ["/cart", "/lang zh", "/cart", "cart the red one", "red dress"]
    assert {m.command_prefix for m in handler.messages} == {"/shop "}
    assert {m.mention for m in handler.messages} == {"<@U0001>"}


async def test_button_press_reaches_the_dialogue_as_payload(
    served: Served, slack_api: SlackApiStandin, handler: ScriptedHandler
) -> None:
    assert await post_slack(served, action_body("add:wool-coat:m", thread_ts="1700000000.000100")) == 200
    (call,) = await slack_api.recorder.wait_for("chat.postMessage")
    assert call.params["text"] == "pressed add:wool-coat:m"
    assert call.params["thread_ts"] == "1700000000.000100"
    assert handler.messages[0].button_payload == "add:wool-coat:m"


async def test_forged_signature_is_rejected_without_touching_the_dialogue(
    served: Served, slack_api: SlackApiStandin, handler: ScriptedHandler
) -> None:
    assert await post_slack(served, event_body(dm_event("hi")), secret="not-the-secret") == 401
    assert handler.messages == [] and slack_api.recorder.of("chat.postMessage") == []


async def test_stale_timestamp_is_rejected(served: Served, handler: ScriptedHandler) -> None:
    stale = int(time.time()) - 6 * 60
    assert await post_slack(served, event_body(dm_event("hi")), secret=SIGNING_SECRET, timestamp=stale) == 401
    assert handler.messages == []


async def test_redeliveries_get_exactly_one_reply(
    served: Served, slack_api: SlackApiStandin, handler: ScriptedHandler
) -> None:
    body = event_body(dm_event("only once"), event_id="EvRetry")
    for attempt in range(4):
        headers = slack_headers(body)
        if attempt:
            headers |= {"X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": "http_timeout"}
        response = await served.client.post("/slack/events", content=body, headers=headers)
        assert response.status_code == 200
    await slack_api.recorder.wait_for("chat.postMessage")
    # Repeats are dropped before any listener starts, so nothing else is pending.
    assert [m.text for m in handler.messages] == ["only once"]
    assert len(slack_api.recorder.of("chat.postMessage")) == 1
    metrics = (await served.client.get("/metrics")).text
    assert 'shopkeep_duplicate_deliveries_total{platform="slack"} 3.0' in metrics


async def test_rate_limited_post_is_retried(served: Served, slack_api: SlackApiStandin) -> None:
    slack_api.rate_limit_next("chat.postMessage")
    assert await post_slack(served, event_body(dm_event("busy day"), event_id="Ev429")) == 200
    calls = await slack_api.recorder.wait_for("chat.postMessage", 2)
    assert [c.params["text"] for c in calls] == ["echo: busy day", "echo: busy day"]


async def test_dialogue_failure_becomes_a_polite_reply(served: Served, slack_api: SlackApiStandin) -> None:
    assert await post_slack(served, event_body(dm_event("boom"), event_id="EvBoom")) == 200
    (call,) = await slack_api.recorder.wait_for("chat.postMessage")
    assert call.params["text"].startswith("Sorry, something went wrong")
    assert "Traceback" not in call.params["text"]
