"""Pure functions: a bot's command registry → Telegram's command menus.

Telegram shows a bot's commands in the chat's menu, per language: one
``setMyCommands`` call without ``language_code`` sets the list for every user
whose language has no list of its own, and one call per other language (a
two-letter ISO 639-1 ``language_code``) sets that language's list. Every list
comes from :class:`core.commands.CommandMenu`, so the menu offers exactly the
commands the bot runs.

Limits (Bot API ``BotCommand``): a command is 1-32 characters of ``a-z``,
``0-9`` and ``_`` (the core enforces it for every bot); a description is 1-256
characters; at most 100 commands per list.
"""

from __future__ import annotations

from dataclasses import dataclass

from telegram import BotCommand

from core.commands import CommandInfo, CommandMenu

MAX_DESCRIPTION = 256
MAX_COMMANDS = 100


@dataclass(frozen=True, kw_only=True)
class CommandList:
    """One ``setMyCommands`` call: ``language_code`` None is the list for everyone else."""

    language_code: str | None
    commands: tuple[BotCommand, ...]


def _description(entry: CommandInfo) -> str:
    text = " ".join(entry.description.split()) or entry.name
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1].rstrip() + "…"


def bot_commands(menu: CommandMenu, lang: str | None = None) -> tuple[BotCommand, ...]:
    """The menu's commands as Telegram ``BotCommand`` objects, described in ``lang``."""
    return tuple(BotCommand(entry.name, _description(entry)) for entry in menu.entries(lang)[:MAX_COMMANDS])


def command_lists(menu: CommandMenu) -> list[CommandList]:
    """The default list (the bot's default language) and one list per other language it speaks."""
    lists = [CommandList(language_code=None, commands=bot_commands(menu))]
    for lang in menu.by_lang:
        if lang != menu.default_lang:
            lists.append(CommandList(language_code=lang, commands=bot_commands(menu, lang)))
    return lists


def botfather_text(menu: CommandMenu, lang: str | None = None) -> str:
    """The list as BotFather's ``/setcommands`` wants it pasted: ``command - description`` per line."""
    return "\n".join(f"{command.command} - {command.description}" for command in bot_commands(menu, lang))
