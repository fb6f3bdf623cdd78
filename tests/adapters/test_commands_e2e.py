"""Every command a platform advertises runs: the real runtime (both bots, Redis), both platforms stood in.

Telegram's list is what the adapter published with ``setMyCommands``; Slack's
is what ``/shop help`` and ``/staff help`` list. Each listed command is then
sent over the wire and must get an answer that is not "I don't know that command".
"""

from __future__ import annotations

import re

from tests.adapters.staff_support import LEAD, Drive, text_of
from tests.adapters.standins import Call

UNKNOWN = ("I don't know that command", "我不认识这个命令")
CHANNEL = "C0GENERAL"


def _unknown(call: Call) -> bool:
    return any(mark in text_of(call) for mark in UNKNOWN)


async def _slash(drive: Drive, command: str, text: str, *, user: str) -> list[Call]:
    """Send ``/shop text`` (or ``/staff``); return this channel's posts once one more has arrived."""

    def in_channel() -> list[Call]:
        return [c for c in drive.slack_posts() if c.params.get("channel") == CHANNEL]

    before = len(in_channel())
    await drive.slash(command, text, user=user, channel=CHANNEL)
    await drive.slack.recorder.wait_until(lambda: len(in_channel()) > before, f"an answer to {command} {text}")
    return in_channel()[before:]


def _listed(help_text: str, command: str) -> list[str]:
    return re.findall(rf"^{re.escape(command)} ([a-z0-9_]+) — \S", help_text, re.MULTILINE)


async def test_every_advertised_command_runs_on_every_platform(staff_drive: Drive) -> None:
    drive = staff_drive
    assert drive.runtime is not None
    shop = drive.runtime.managers["shop_assistant"].command_menu
    staff = drive.runtime.managers["staff_helpdesk"].command_menu
    assert {"cart", "orders"} <= set(shop.names) and "queue" in staff.names

    # Telegram: the menus published at start-up, default and Chinese.
    menus = drive.telegram.recorder.of("setMyCommands")
    assert [m.params.get("language_code") for m in menus] == [None, "zh"]
    published = [[c["command"] for c in m.params["commands"]] for m in menus]
    assert published == [list(shop.names), list(shop.names)]
    for name in published[0]:
        sent_before = len(drive.tg_sent())
        await drive.shopper_says(f"/{name}")
        answers = drive.tg_sent()[sent_before:]
        assert answers, f"/{name} got no answer on Telegram"
        assert not any(map(_unknown, answers)), (name, [text_of(a) for a in answers])
    # A declared command reads its text as the user's words: /orders with a number asks for the e-mail next.
    sent_before = len(drive.tg_sent())
    await drive.shopper_says("/orders #1002")
    assert any("e-mail address used for the order" in text_of(a) for a in drive.tg_sent()[sent_before:])

    # Slack: what /shop help and /staff help list, each typed after its slash command.
    for command, menu, user in (("/shop", shop, "U0SHOPPER"), ("/staff", staff, LEAD)):
        (help_post,) = await _slash(drive, command, "help", user=user)
        listed = _listed(text_of(help_post), command)
        assert listed == list(menu.names), text_of(help_post)
        for name in listed:
            answers = await _slash(drive, command, name, user=user)
            assert not any(map(_unknown, answers)), (command, name, [text_of(a) for a in answers])
        (unknown,) = await _slash(drive, command, "/nope", user=user)
        assert _unknown(unknown) and f"{command} help" in text_of(unknown)
