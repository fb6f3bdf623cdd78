"""Live human handoff end to end: a Telegram shopper, staff on Slack, the real runtime on Redis.

Only the two platform APIs are stand-ins; the encoder, intent heads, both
bots, the dialogue managers, the handoff service and the Redis store are real.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.handoff import TicketStatus
from core.messages import ConversationKey, Platform
from core.settings import Settings
from tests.adapters.conftest import serve
from tests.adapters.staff_support import (
    HANDOFF_CHANNEL,
    LEAD,
    Drive,
    buttons,
    open_runtime,
    staff_settings,
    text_of,
)
from tests.adapters.standins import SlackApiStandin, TelegramApiStandin

SHOPPER = ConversationKey(platform=Platform.TELEGRAM, bot="shop_assistant", chat="777")


@pytest.fixture
def handoff_settings(settings: Settings, artifacts_dir: Path) -> Settings:
    return staff_settings(settings, artifacts_dir=artifacts_dir)




async def _request_handoff(drive: Drive) -> str:
    """The shopper asks for a person; returns the ticket id from the card's Claim button."""
    await drive.shopper_says("/human")
    posts = await drive.slack.recorder.wait_for("chat.postMessage", 1)
    card = posts[-1]
    assert card.params["channel"] == HANDOFF_CHANNEL
    claim = [v for v in buttons(card) if v.startswith("handoff:claim:")]
    assert claim and any(v.startswith("handoff:close:") for v in buttons(card))
    assert "telegram" in text_of(card) and "ada" in text_of(card) and "Last turns" in text_of(card)
    assert "I've asked a member of our team" in text_of(drive.tg_sent()[-1])
    return claim[0].rsplit(":", 1)[1]


async def test_full_handoff_telegram_shopper_to_slack_staff(
    handoff_settings: Settings, redis_url: str, prefix: str,
    slack_api: SlackApiStandin, telegram_api: TelegramApiStandin,
) -> None:
    runtime = await open_runtime(handoff_settings, redis_url, prefix)
    try:
        async for served in serve(handoff_settings, runtime):
            drive = Drive(served=served, slack=slack_api, telegram=telegram_api)
            ticket_id = await _request_handoff(drive)
            assert runtime.handoff is not None
            ticket = await runtime.handoff.get(ticket_id)
            assert ticket is not None and ticket.status == TicketStatus.WAITING
            thread = ticket.staff.thread if ticket.staff else ""
            assert thread

            # Claim: the shopper hears who joined, the thread says who claimed, the card shows it.
            sent_before = len(drive.tg_sent())
            posts = await drive.staff_presses(f"handoff:claim:{ticket_id}", expect_posts=2)
            assert posts[-1].params["thread_ts"] == thread
            assert text_of(posts[-1]).startswith(f"<@{LEAD}> claimed ticket {ticket_id}.")
            assert "!done" in text_of(posts[-1]) and "/done" not in text_of(posts[-1])
            assert "lee from our team has joined" in text_of(drive.tg_sent()[-1])
            (update,) = slack_api.recorder.of("chat.update")
            assert (update.params["channel"], update.params["ts"]) == (HANDOFF_CHANNEL, thread)
            assert f"Status: claimed by <@{LEAD}>" in text_of(update)
            assert buttons(update) == [f"handoff:close:{ticket_id}"]
            assert f"Status: claimed by <@{LEAD}>" in str(slack_api.messages[(HANDOFF_CHANNEL, thread)]["blocks"])

            # A second Claim is answered to the presser alone, naming the ticket and the claimer.
            await drive.staff_presses(f"handoff:claim:{ticket_id}", user="U0OTHER", username="kim", expect_posts=2)
            (ephemeral,) = await slack_api.recorder.wait_for("chat.postEphemeral")
            assert ephemeral.params["user"] == "U0OTHER" and ephemeral.params["channel"] == HANDOFF_CHANNEL
            assert text_of(ephemeral) == f"Ticket {ticket_id} is already claimed by <@{LEAD}>."
            slack_api.recorder.assert_received_request_count("chat.postMessage", 2)
            slack_api.recorder.assert_received_request_count("chat.update", 1)

            # Two staff messages in the thread reach the shopper; nothing is posted back in Slack.
            for i, line in enumerate(["Hi Ada, I'm Lee. How can I help?", "Could you share the order number?"]):
                await drive.staff_says(line, channel=HANDOFF_CHANNEL, thread=thread, expect_posts=2)
                await telegram_api.recorder.wait_for("sendMessage", sent_before + 2 + i)
                assert text_of(drive.tg_sent()[-1]) == f"lee: {line}"
            assert len(drive.slack_posts()) == 2

            # Two shopper messages reach the thread; the bot stays silent on Telegram.
            tg_count = len(drive.tg_sent())
            await drive.shopper_says("It's order 1002, the parcel never came")
            await drive.shopper_says("show me a hoodie")  # would be a search without the handoff
            posts = drive.slack_posts()
            assert [p.params.get("thread_ts") for p in posts[-2:]] == [thread, thread]
            assert text_of(posts[-2]) == "ada: It's order 1002, the parcel never came"
            assert text_of(posts[-1]) == "ada: show me a hoodie"
            assert len(drive.tg_sent()) == tg_count

            # Close: the bot is back and asks for a rating with five buttons; the card loses its buttons.
            posts = await drive.staff_presses(f"handoff:close:{ticket_id}", expect_posts=5)
            assert text_of(posts[-1]).startswith(f"Closed by <@{LEAD}>.")
            updates = slack_api.recorder.of("chat.update")
            assert len(updates) == 2 and buttons(updates[-1]) == []
            assert f"Status: closed by <@{LEAD}>" in text_of(updates[-1])
            await drive.staff_presses(f"handoff:close:{ticket_id}", user="U0OTHER", username="kim", expect_posts=5)
            ephemerals = await slack_api.recorder.wait_for("chat.postEphemeral", 2)
            assert text_of(ephemerals[-1]) == f"Ticket {ticket_id} is closed."
            slack_api.recorder.assert_received_request_count("chat.postMessage", 5)
            rating_prompt = drive.tg_sent()[-1]
            assert buttons(rating_prompt) == [f"rate:{n}" for n in range(1, 6)]
            assert "rate" in text_of(rating_prompt)
            await drive.shopper_presses("rate:4")
            assert text_of(drive.tg_sent()[-1]) == "Thank you for your rating!"

            ticket = await runtime.handoff.get(ticket_id)
            assert ticket is not None
            assert (ticket.status, ticket.rating) == (TicketStatus.CLOSED, 4)
            assert ticket.claimed_by is not None and ticket.closed_by is not None
            assert (ticket.claimed_by.name, ticket.closed_by.user_id) == ("lee", LEAD)
            assert (ticket.relayed_to_shopper, ticket.relayed_to_staff) == (2, 2)
            state = await runtime.store.load(SHOPPER)
            assert state is not None and state.handoff is not None and state.handoff.rating == 4
            assert state.handoff.active is False

            # Back with the bot: a normal question gets a bot answer again.
            count = len(drive.tg_sent())
            await drive.shopper_says("what are your store hours?")
            assert len(drive.tg_sent()) > count
    finally:
        await runtime.aclose()


async def test_handoff_survives_a_server_restart(
    handoff_settings: Settings, redis_url: str, prefix: str,
    slack_api: SlackApiStandin, telegram_api: TelegramApiStandin,
) -> None:
    runtime = await open_runtime(handoff_settings, redis_url, prefix)
    try:
        async for served in serve(handoff_settings, runtime):
            ticket_id = await _request_handoff(Drive(served=served, slack=slack_api, telegram=telegram_api))
    finally:
        await runtime.aclose()

    runtime = await open_runtime(handoff_settings, redis_url, prefix)  # a new process on the same Redis
    try:
        async for served in serve(handoff_settings, runtime):
            drive = Drive(served=served, slack=slack_api, telegram=telegram_api, update_id=9500)
            assert runtime.handoff is not None
            ticket = await runtime.handoff.get(ticket_id)
            assert ticket is not None and ticket.staff is not None
            thread = ticket.staff.thread
            await drive.staff_presses(f"handoff:claim:{ticket_id}", expect_posts=2)
            await drive.staff_says("Hello again, Lee here.", channel=HANDOFF_CHANNEL, thread=thread, expect_posts=2)
            await telegram_api.recorder.wait_for("sendMessage", 3)
            assert text_of(drive.tg_sent()[-1]) == "lee: Hello again, Lee here."
            await drive.shopper_says("thanks, that helps")
            assert text_of(drive.slack_posts()[-1]) == "ada: thanks, that helps"
            posts = await drive.staff_says("!done", channel=HANDOFF_CHANNEL, thread=thread, expect_posts=4)
            assert buttons(drive.tg_sent()[-1]) == [f"rate:{n}" for n in range(1, 6)]
            # A typed !done carries no user name: the thread names the staff member with a mention.
            assert text_of(posts[-1]).startswith(f"Closed by <@{LEAD}>.") and "U0LEAD." not in text_of(posts[-1])
            assert f"Status: closed by <@{LEAD}>" in text_of(slack_api.recorder.of("chat.update")[-1])
            ticket = await runtime.handoff.get(ticket_id)
            assert ticket is not None and ticket.status == TicketStatus.CLOSED
    finally:
        await runtime.aclose()


async def test_unclaimed_handoff_times_out_and_offers_email(
    handoff_settings: Settings, redis_url: str, prefix: str,
    slack_api: SlackApiStandin, telegram_api: TelegramApiStandin,
) -> None:
    runtime = await open_runtime(handoff_settings, redis_url, prefix)
    try:
        async for served in serve(handoff_settings, runtime):
            drive = Drive(served=served, slack=slack_api, telegram=telegram_api)
            ticket_id = await _request_handoff(drive)
            assert runtime.handoff is not None
            assert await runtime.handoff.sweep(datetime.now(UTC) + timedelta(seconds=60)) == 0
            later = datetime.now(UTC) + timedelta(seconds=handoff_settings.handoff_timeout_s + 1)
            assert await runtime.handoff.sweep(later) == 1
            assert await runtime.handoff.sweep(later) == 0  # once only

            told = drive.tg_sent()[-1]
            assert "no one from our team is free" in text_of(told)
            assert buttons(told) == [f"handoff:email:{ticket_id}"]
            assert "Not claimed within 5 min" in text_of(drive.slack_posts()[-1])

            await drive.shopper_presses(f"handoff:email:{ticket_id}")
            assert "e-mail address" in text_of(drive.tg_sent()[-1])
            await drive.shopper_says("sure, it's ada.l@example.com")
            assert "ada.l@example.com" in text_of(drive.tg_sent()[-1])
            ticket = await runtime.handoff.get(ticket_id)
            assert ticket is not None
            assert (ticket.status, ticket.email) == (TicketStatus.EXPIRED, "ada.l@example.com")

            # The card shows the expiry and loses its buttons.
            (update,) = slack_api.recorder.of("chat.update")
            assert "not claimed in time" in text_of(update) and buttons(update) == []
            # Too late to claim; the presser alone is told why.
            await drive.staff_presses(f"handoff:claim:{ticket_id}", expect_posts=3)
            (refusal,) = await slack_api.recorder.wait_for("chat.postEphemeral")
            assert text_of(refusal) == f"Ticket {ticket_id} is expired; it can no longer be claimed."
    finally:
        await runtime.aclose()
