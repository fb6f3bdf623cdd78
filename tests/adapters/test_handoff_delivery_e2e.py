"""A relay the platform refuses is not silent: the other side is told, and it is counted as failed.

The real runtime on Redis; the Telegram and Slack stand-ins refuse one call
the way the real APIs do (a shopper who blocked the bot: HTTP 403; a Slack
channel the bot was removed from: ``channel_not_found``).
"""

from __future__ import annotations

import asyncio
import re

from tests.adapters.conftest import Served
from tests.adapters.staff_support import HANDOFF_CHANNEL, Drive, buttons, text_of


async def _relays(served: Served) -> dict[tuple[str, str], float]:
    """``shopkeep_handoff_relays_total`` by (direction, outcome), read from /metrics."""
    text = (await served.client.get("/metrics")).text
    found = re.findall(r'^shopkeep_handoff_relays_total\{direction="(\w+)",outcome="(\w+)"\} ([0-9.]+)$',
                       text, re.MULTILINE)
    return {(direction, outcome): float(value) for direction, outcome, value in found}


async def _relays_become(served: Served, expected: dict[tuple[str, str], float], timeout: float = 15.0) -> None:
    """Wait until the relay counters read ``expected`` (the relay finishes after the platform call)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (seen := await _relays(served)) != expected:
        assert asyncio.get_running_loop().time() < deadline, f"relay counters {seen}, expected {expected}"
        await asyncio.sleep(0.02)


async def _claimed_ticket(drive: Drive) -> tuple[str, str]:
    """The shopper asks for a person and staff claims: returns (ticket id, the card's thread ts)."""
    await drive.shopper_says("/human")
    (card,) = await drive.slack.recorder.wait_for("chat.postMessage", 1)
    ticket_id = next(v for v in buttons(card) if v.startswith("handoff:claim:")).rsplit(":", 1)[1]
    (claimed,) = (await drive.staff_presses(f"handoff:claim:{ticket_id}", expect_posts=2))[1:]
    return ticket_id, str(claimed.params["thread_ts"])


async def test_a_staff_message_the_shopper_never_got_is_reported_in_the_thread(staff_drive: Drive) -> None:
    drive, served, telegram_api = staff_drive, staff_drive.served, staff_drive.telegram
    assert drive.runtime is not None and drive.runtime.handoff is not None
    handoff = drive.runtime.handoff
    ticket_id, thread = await _claimed_ticket(drive)

    sends = len(telegram_api.recorder.of("sendMessage"))
    await drive.staff_says("Your refund is on its way.", channel=HANDOFF_CHANNEL, thread=thread, expect_posts=2)
    (relayed,) = (await telegram_api.recorder.wait_for("sendMessage", sends + 1))[sends:]
    assert text_of(relayed) == "lee: Your refund is on its way."
    await _relays_become(served, {("to_shopper", "delivered"): 1.0})

    telegram_api.fail_next("sendMessage")  # the shopper blocked the bot meanwhile
    posts = await drive.staff_says("Anything else?", channel=HANDOFF_CHANNEL, thread=thread, expect_posts=3)
    warning = posts[-1]
    assert warning.params["thread_ts"] == thread
    assert text_of(warning).startswith("⚠ The shopper did not get this")
    assert "blocked" in text_of(warning) and "lee: Anything else?" in text_of(warning)
    await _relays_become(served, {("to_shopper", "delivered"): 1.0, ("to_shopper", "failed"): 1.0})
    ticket = await handoff.get(ticket_id)
    assert ticket is not None and (ticket.relayed_to_shopper, ticket.failed_to_shopper) == (1, 1)


async def test_a_shopper_message_staff_never_got_is_reported_to_the_shopper(staff_drive: Drive) -> None:
    drive, served, slack_api = staff_drive, staff_drive.served, staff_drive.slack
    assert drive.runtime is not None and drive.runtime.handoff is not None
    handoff = drive.runtime.handoff
    ticket_id, _thread = await _claimed_ticket(drive)

    slack_api.fail_next("chat.postMessage", "channel_not_found")  # the app was removed from the channel
    sent_before = len(drive.tg_sent())
    await drive.shopper_says("Are you still there?")
    (apology,) = drive.tg_sent()[sent_before:]
    assert "didn't reach our team" in text_of(apology)
    await drive.shopper_says("Hello?")
    assert text_of(drive.slack_posts()[-1]) == "ada: Hello?"
    await _relays_become(served, {("to_staff", "failed"): 1.0, ("to_staff", "delivered"): 1.0})
    ticket = await handoff.get(ticket_id)
    assert ticket is not None and (ticket.relayed_to_staff, ticket.failed_to_staff) == (1, 1)
