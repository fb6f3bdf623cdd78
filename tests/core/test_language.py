"""Which language a conversation starts in: the bot's default, or the deployment's setting."""

from __future__ import annotations

import logging

import pytest

from core.sessions import MemorySessionStore
from core.settings import Settings
from tests.core.engine_support import says, tiny_bot, tiny_manager


async def test_without_the_setting_a_conversation_starts_in_the_bots_default() -> None:
    manager = tiny_manager(MemorySessionStore())
    assert [r.text for r in await manager.handle(says("hello"))] == ["Hello!"]


async def test_default_lang_setting_starts_every_new_conversation_in_it() -> None:
    manager = tiny_manager(MemorySessionStore(), settings=Settings(redis_url=None, default_lang="zh"))
    assert [r.text for r in await manager.handle(says("hello"))] == ["你好！"]
    assert manager.command_menu.default_lang == "zh"
    # What the user's text or locale says still wins.
    replies = await manager.handle(says("buy milk", chat="c2"))
    assert [r.text for r in replies] == ["Noted (1)."]


async def test_a_bot_that_does_not_speak_the_setting_keeps_its_own(caplog: pytest.LogCaptureFixture) -> None:
    english_only = tiny_bot(languages=("en",))
    with caplog.at_level(logging.WARNING, logger="core.dialogue"):
        manager = tiny_manager(MemorySessionStore(), bot=english_only,
                               settings=Settings(redis_url=None, default_lang="zh"))
    assert manager.bot.default_lang == "en"
    assert "SHOPKEEP_DEFAULT_LANG=zh" in caplog.text and "speaks only en" in caplog.text
    assert [r.text for r in await manager.handle(says("hello"))] == ["Hello!"]


def test_starting_in_leaves_the_bot_alone_for_none_or_an_unknown_language() -> None:
    bot = tiny_bot()
    assert bot.starting_in(None) is bot and bot.starting_in("fr") is bot
    assert bot.starting_in("zh").default_lang == "zh" and bot.default_lang == "en"
