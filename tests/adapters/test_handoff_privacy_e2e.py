"""Personal data never leaves the shopper's chat: the staff card, its edits and the queue are masked.

Shoppers on Telegram and on Slack ask for a person with a phone number and
an e-mail address in their words (and one Slack shopper's user name is an
e-mail address); the real runtime on Redis, both platforms stood in.
"""

from __future__ import annotations

import json

from tests.adapters.staff_support import HANDOFF_CHANNEL, LEAD, Drive, buttons, text_of
from tests.adapters.standins import Call

REQUEST = "please call me back on +44 7700 900123 or e-mail ada@example.com"
SECRETS = ("7700", "900123", "ada@example.com", "ada.lovelace@example.org")


def _clean(call: Call) -> bool:
    wire = json.dumps(call.params, ensure_ascii=False)
    return not any(secret in wire for secret in SECRETS)


async def test_the_card_its_edits_and_the_queue_carry_no_personal_data(staff_drive: Drive) -> None:
    drive, slack_api = staff_drive, staff_drive.slack
    assert drive.runtime is not None and drive.runtime.handoff is not None
    await drive.shopper_says(f"/human {REQUEST}")
    # A Slack shopper whose user name is an e-mail address, in a DM.
    await drive.slash("/shop", f"human {REQUEST}", user="U0SHOPPER", channel="D0SHOPPER",
                      user_name="ada.lovelace@example.org")

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
    claim = next(v for v in buttons(cards()[0]) if v.startswith("handoff:claim:"))
    await drive.staff_presses(claim, expect_posts=4)
    (update,) = await slack_api.recorder.wait_for("chat.update")
    assert "Status: claimed by" in text_of(update) and _clean(update)

    # The staff queue lists both tickets, masked.
    posts = await drive.staff_command("queue", user=LEAD, expect_posts=5)
    listing = posts[-1]
    assert "(2)" in text_of(listing) and "call me back on [phone ••23]" in text_of(listing)
    assert _clean(listing), text_of(listing)

    # What is stored for staff is masked too.
    for ticket in await drive.runtime.handoff.open_tickets():
        assert not any(secret in ticket.model_dump_json() for secret in SECRETS)
