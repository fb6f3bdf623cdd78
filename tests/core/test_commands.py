"""The command registry: generic and declared commands, one list for every platform, run for real.

Everything runs through the real dialogue manager on the memory store and on
Redis, with the tiny inline bot and a scripted classifier (no trained model).
"""

from __future__ import annotations

import pytest

from core.actions import ActionRegistry
from core.bot import Bot
from core.commands import (
    GENERIC,
    CommandInfo,
    CommandMenu,
    bot_commands,
    command_menu,
    listing,
    names_line,
)
from core.errors import BotDefinitionError
from core.protocols import SessionStore
from tests.core.engine_support import ScriptedClassifier, says, tiny_bot, tiny_manager

UNKNOWN = ("I don't know that command", "我不认识这个命令")


def test_the_registry_holds_generic_then_declared_then_the_rest() -> None:
    bot = tiny_bot()
    assert list(bot.commands) == ["start", "help", "notes", "human", "lang", "why", "cancel", "forget"]
    assert set(GENERIC) <= set(bot.commands)


def test_the_menu_describes_every_command_in_every_language() -> None:
    menu = command_menu(tiny_bot())
    assert menu.names == tuple(tiny_bot().commands)
    assert {lang: [e.name for e in entries] for lang, entries in menu.by_lang.items()} == {
        "en": list(menu.names), "zh": list(menu.names)}
    assert menu.entries("en")[2] == CommandInfo(name="notes", description="Show the notes")
    assert menu.entries("zh")[2].description == "查看笔记"
    assert menu.entries("fr") == menu.entries("en")  # a language the bot lacks: its default


@pytest.mark.parametrize(("name", "intent", "match"), [
    ("Notes", "list_notes", "names are 1-32"),
    ("x" * 33, "list_notes", "names are 1-32"),
    ("help", "list_notes", "generic command already"),
    ("ghost", "no_such_intent", "has no handler"),
])
def test_an_invalid_declared_command_fails_at_load(name: str, intent: str, match: str) -> None:
    registry = ActionRegistry()

    @registry.intent("list_notes")
    async def list_notes(ctx: object) -> None: ...

    registry.command(name, intent=intent, description="command_notes")
    with pytest.raises(BotDefinitionError, match=match):
        bot_commands(registry)


def test_a_declared_command_needs_its_description_in_every_language() -> None:
    bot = tiny_bot()
    registry = ActionRegistry()

    @registry.intent("list_notes")
    async def list_notes(ctx: object) -> None: ...

    registry.command("notes", intent="list_notes", description="command_missing")
    with pytest.raises(BotDefinitionError, match=r"command_missing\.en"):
        Bot.build(name="t", root=bot.root, languages=bot.languages, responses=bot.responses, registry=registry)


def test_bare_words_read_as_commands_only_when_they_name_one() -> None:
    menu = command_menu(tiny_bot())
    assert menu.read_bare("notes") == "/notes"
    assert menu.read_bare("  LANG   zh ") == "/lang zh"
    assert menu.read_bare("human please call me") == "/human please call me"
    assert menu.read_bare("help me find a dress") is None  # /help takes no text: a question
    assert menu.read_bare("buy milk") is None


def test_listings_are_written_as_the_platform_types_commands() -> None:
    entries = (CommandInfo(name="cart", description="View your cart"), CommandInfo(name="help", description="Help"))
    assert listing(entries) == "/cart — View your cart\n/help — Help"
    assert listing(entries, "/shop ") == "/shop cart — View your cart\n/shop help — Help"
    assert names_line(["cart", "help"], "/shop ") == "/shop cart, /shop help"
    menu = CommandMenu(bot="b", default_lang="en", by_lang={"en": entries})
    assert menu.names == ("cart", "help")


async def test_every_listed_command_runs_and_none_is_unknown(store: SessionStore) -> None:
    manager = tiny_manager(store)
    for lang in ("en", "zh"):
        for entry in manager.command_menu.entries(lang):
            replies = await manager.handle(says(f"/{entry.name}", chat=f"c-{lang}-{entry.name}"))
            assert replies, entry.name
            assert not any(mark in r.text for r in replies for mark in UNKNOWN), (entry.name, replies)


async def test_a_declared_command_runs_its_intent_and_reads_its_text(store: SessionStore) -> None:
    manager = tiny_manager(store)
    await manager.handle(says("buy milk"))
    replies = await manager.handle(says("/notes"))
    assert [r.text for r in replies] == ["Notes: buy milk"]
    state = await store.load(says().conversation)
    assert state is not None and state.history[-2].intent == "list_notes"
    assert state.last_decision is not None and state.last_decision.intent == "note"  # /why still explains it


async def test_an_unknown_command_lists_the_registry_the_way_this_platform_types_it(store: SessionStore) -> None:
    manager = tiny_manager(store)
    telegram = await manager.handle(says("/nope"))
    assert telegram[0].text == "I don't know that command. Try: " + ", ".join(f"/{n}" for n in manager.command_menu.names)
    slack = await manager.handle(says("/nope", chat="c2", command_prefix="/shop "))
    assert "Try: /shop start, /shop help, /shop notes, /shop human" in slack[0].text


async def test_help_lists_every_command_with_its_description(store: SessionStore) -> None:
    manager = tiny_manager(store)
    by_command = (await manager.handle(says("/help", command_prefix="/shop ")))[0].text
    by_intent = (await manager.handle(says("help", chat="c2", command_prefix="/shop ")))[0].text
    assert by_command == by_intent
    assert by_command.startswith("I keep notes. Type /shop notes to see them.\n\nCommands:\n")
    for entry in manager.command_menu.entries("en"):
        assert f"/shop {entry.name} — {entry.description}" in by_command
    await manager.handle(says("/lang zh", chat="c3"))
    zh = (await manager.handle(says("/help", chat="c3")))[0].text
    assert "/notes — 查看笔记" in zh and zh.startswith("我记笔记。")


async def test_the_command_button_payload_runs_the_same_registry(store: SessionStore) -> None:
    manager = tiny_manager(store)
    await manager.handle(says("call the plumber"))
    assert [r.text for r in await manager.handle(says(payload="cmd:notes"))] == ["Notes: call the plumber"]


async def test_commands_never_reach_the_classifier(store: SessionStore) -> None:
    classifier = ScriptedClassifier({"hello": "greet"})
    manager = tiny_manager(store)
    manager.classifier = classifier
    for name in manager.command_menu.names:
        await manager.handle(says(f"/{name}", chat=f"k-{name}"))
    assert classifier.calls == []
