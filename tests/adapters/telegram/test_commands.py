"""Telegram's command menus come from the bot's registry, and the docs' BotFather list agrees with it."""

from __future__ import annotations

import re

from adapters.telegram.commands import MAX_DESCRIPTION, botfather_text, command_lists
from bots.runtime import BOTS_DIR
from core.bot import Bot
from core.commands import CommandInfo, CommandMenu, command_menu
from tests.adapters.conftest import SCRIPTED_MENU, Served
from tests.adapters.standins import TelegramApiStandin
from tests.conftest import REPO_ROOT


def test_one_list_for_everyone_and_one_per_other_language() -> None:
    lists = command_lists(SCRIPTED_MENU)
    assert [(x.language_code, [(c.command, c.description) for c in x.commands]) for x in lists] == [
        (None, [("start", "Say hello"), ("cart", "View your cart"), ("lang", "Change the language")]),
        ("zh", [("start", "打个招呼"), ("cart", "查看购物车"), ("lang", "切换语言")]),
    ]


def test_descriptions_fit_telegram_limits() -> None:
    long = CommandMenu(bot="b", default_lang="en", by_lang={"en": (
        CommandInfo(name="x", description="word " * 80), CommandInfo(name="y", description="  "))})
    (listed,) = command_lists(long)
    assert len(listed.commands[0].description) <= MAX_DESCRIPTION and listed.commands[0].description.endswith("…")
    assert listed.commands[1].description == "y"  # never empty: Telegram refuses that


def test_the_docs_botfather_list_is_the_shop_bots_registry() -> None:
    docs = (REPO_ROOT / "docs" / "platforms.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- botfather:shop_assistant -->\n```\n(.*?)\n```", docs, re.DOTALL)
    assert block is not None, "docs/platforms.md lost its BotFather command list"
    expected = botfather_text(command_menu(Bot.load(BOTS_DIR / "shop_assistant")))
    assert block.group(1) == expected, f"paste this into docs/platforms.md:\n{expected}"


async def test_start_up_publishes_the_menu_per_language(served: Served, telegram_api: TelegramApiStandin) -> None:
    calls = telegram_api.recorder.of("setMyCommands")
    assert [c.params.get("language_code") for c in calls] == [None, "zh"]
    assert calls[0].params["commands"] == [{"command": "start", "description": "Say hello"},
                                           {"command": "cart", "description": "View your cart"},
                                           {"command": "lang", "description": "Change the language"}]
    assert [c["command"] for c in calls[1].params["commands"]] == list(SCRIPTED_MENU.names)
