"""Slack payload extraction on recorded-shape JSON."""

from __future__ import annotations

from adapters.slack.extract import dedup_id, incoming_from_event, is_from_bot, strip_mentions


def test_strip_mentions() -> None:
    assert strip_mentions("<@U123ABC>  show me <@W99|bob> shoes ") == "show me shoes"


def test_own_and_bot_messages_are_recognised() -> None:
    assert is_from_bot({"bot_id": "B1"})
    assert is_from_bot({"user": "UBOT"}, own_user_id="UBOT")
    assert not is_from_bot({"user": "U1"}, own_user_id="UBOT")


def test_dm_in_a_thread_keys_the_thread() -> None:
    event = {"type": "message", "channel": "D1", "user": "U1", "text": "hi", "ts": "2.0", "thread_ts": "1.0",
             "channel_type": "im"}
    message = incoming_from_event(event, bot="b", team_id="T1", event_id="Ev1")
    assert message is not None
    assert message.conversation.tag == "slack:b:T1/D1/1.0"
    assert message.delivery_id == "slack:Ev1"


def test_subtypes_and_empty_text_are_ignored() -> None:
    base = {"type": "message", "channel": "D1", "user": "U1", "text": "hi", "ts": "1.0"}
    assert incoming_from_event({**base, "subtype": "message_deleted"}, bot="b", team_id="T", event_id="E") is None
    assert incoming_from_event({**base, "text": "<@UBOT>"}, bot="b", team_id="T", event_id="E") is None


def test_dedup_ids() -> None:
    assert dedup_id({"type": "event_callback", "event_id": "Ev9"}) == "Ev9"
    assert dedup_id({"command": "/shop", "trigger_id": "t1"}) == "t1"
