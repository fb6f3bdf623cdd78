"""Slash commands: the generic ones every bot understands, plus the ones a bot declares.

Generic: ``/start /help /lang /why /forget /human /cancel``. A bot adds its own
in its actions module (``registry.command("cart", intent="view_cart",
description="command_cart")``). :func:`bot_commands` merges both into the one
registry of a bot (``Bot.commands``): the dialogue manager dispatches from it,
``/help`` and the "unknown command" reply list it, and the adapters derive each
platform's list from :func:`command_menu` (Telegram's ``setMyCommands`` menu,
Slack's ``/shop <command>``), so every platform offers exactly what the bot runs.

Commands are dispatched by the dialogue manager before the classifier runs,
from text (``/lang zh``) or from a button payload (``cmd:human``). ``/why``
does not overwrite ``state.last_decision``, so asking twice explains the same
decision.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypedDict

from pydantic import BaseModel, ConfigDict

from core import forms
from core.actions import ActionContext, ActionRegistry, Understanding
from core.errors import BotDefinitionError
from core.messages import Reply
from core.privacy import mask_pii
from core.state import ConversationState, Decision, HandoffFlags

if TYPE_CHECKING:
    from core.bot import Bot


COMMAND_PAYLOAD = "cmd:"
Command = Callable[[ActionContext, str], Awaitable[None]]
#: Telegram's rule for command names, kept for every platform so one registry serves all.
COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")


@dataclass(frozen=True, kw_only=True)
class CommandSpec:
    """One command of a bot's registry.

    Attributes:
        name: what follows the ``/``.
        description: template key of its one-line description.
        run: the coroutine ``run(ctx, text_after_the_name)``.
        accepts_text: whether text after the name means something (``/lang zh``).
    """

    name: str
    description: str
    run: Command
    accepts_text: bool = False


class CommandInfo(BaseModel):
    """One command as a platform lists it, its description rendered in one language."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    accepts_text: bool = False


class CommandMenu(BaseModel):
    """A bot's commands, in order, with their descriptions in every language it speaks.

    Built by :func:`command_menu` from the bot's registry and responses; the
    adapters derive their platform's command lists from it.
    """

    model_config = ConfigDict(frozen=True)

    bot: str
    default_lang: str
    by_lang: Mapping[str, tuple[CommandInfo, ...]]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(entry.name for entry in self.entries())

    def entries(self, lang: str | None = None) -> tuple[CommandInfo, ...]:
        """The commands with descriptions in ``lang`` (the default language when it has none)."""
        return self.by_lang.get(lang or self.default_lang) or self.by_lang[self.default_lang]

    def read_bare(self, text: str) -> str | None:
        """``"cart"`` or ``"lang zh"`` typed without a slash → ``"/cart"``, ``"/lang zh"``; None otherwise.

        For platforms where a leading ``/`` is not the bot's (Slack keeps it for
        its own slash commands, so ``/shop cart`` carries ``cart``). A command
        that takes no text only counts when nothing follows it: ``help me find
        a dress`` stays a question.
        """
        head, _, rest = text.strip().partition(" ")
        name = head.lower()
        entry = next((e for e in self.entries() if e.name == name), None)
        if entry is None or (rest.strip() and not entry.accepts_text):
            return None
        return f"/{name}" + (f" {rest.strip()}" if rest.strip() else "")


def listing(entries: Sequence[CommandInfo], prefix: str = "/") -> str:
    """One line per command: ``/cart — View your cart`` (``prefix`` is how the user types one)."""
    return "\n".join(f"{prefix}{entry.name} — {entry.description}" for entry in entries)


def names_line(names: Sequence[str], prefix: str = "/") -> str:
    """``/start, /help, /cart`` as the user types them here."""
    return ", ".join(f"{prefix}{name}" for name in names)


def parse_command(text: str) -> tuple[str, str] | None:
    """``"/lang zh"`` → ``("lang", "zh")``; Telegram's ``/help@MyBot`` is accepted too."""
    text = text.strip()
    if not text.startswith("/") or len(text) < 2:
        return None
    head, _, arg = text[1:].partition(" ")
    name = head.split("@", 1)[0].lower()
    if not name.isidentifier():
        return None
    return name, arg.strip()


def request_handoff(state: ConversationState, reason: str) -> HandoffFlags:
    """Record that the user wants (or was offered) a human; staff tools read it.

    ``reason`` is the user's own words after ``/human`` (or a code such as
    ``upset``); it is stored with personal data masked, since it travels to
    the staff card and queue.
    """
    state.handoff = HandoffFlags(requested_at=datetime.now(UTC), reason=mask_pii(reason))
    return state.handoff


async def _start(ctx: ActionContext, arg: str) -> None:
    name = ctx.message.user_name
    ctx.say("start", name=f" {name}" if name else "")


async def show_help(ctx: ActionContext) -> None:
    """The bot's ``help`` text followed by its commands, as the user types them on this platform.

    ``/help`` runs this; a bot may map its ``help`` intent to it too.
    """
    entries = [
        CommandInfo(name=spec.name, description=ctx.text(spec.description))
        for spec in ctx.bot.commands.values()
    ]
    commands = listing(entries, ctx.message.command_prefix)
    ctx.reply(Reply(text=f"{ctx.text('help')}\n\n{ctx.text('command_list', commands=commands)}"))


async def _help(ctx: ActionContext, arg: str) -> None:
    await show_help(ctx)


async def _lang(ctx: ActionContext, arg: str) -> None:
    lang = ctx.bot.pick_lang(arg)
    if lang is None:
        ctx.say("lang_unsupported", languages=", ".join(ctx.bot.languages))
        return
    ctx.state.lang = lang
    ctx.state.lang_locked = True
    ctx.lang = lang
    ctx.say("lang_set", lang=lang)


class Explanation(TypedDict):
    """The ``why`` template's values."""

    intent: str
    confidence: str
    ranking: str
    flags: str
    entities: str
    slots: str
    action: str
    sources: str


def explain(decision: Decision) -> Explanation:
    """Values for the ``why`` template, language-neutral (numbers, names)."""
    ranking = ", ".join(f"{name} {score:.2f}" for name, score in decision.ranking[:3]) or "-"
    entities = mask_pii(", ".join(f"{k}={v}" for k, v in decision.entities.items())) or "-"
    slots = mask_pii(", ".join(f"{k}={v}" for k, v in decision.slots.items())) or "-"
    flags = [f for f, on in (("out_of_scope", decision.out_of_scope), ("ambiguous", decision.ambiguous)) if on]
    return Explanation(
        intent=decision.intent,
        confidence=f"{decision.confidence:.2f}",
        ranking=ranking,
        flags=", ".join(flags) or "-",
        entities=entities,
        slots=slots,
        action=decision.action or "-",
        sources=", ".join(decision.sources) or "-",
    )


async def _why(ctx: ActionContext, arg: str) -> None:
    decision = ctx.state.last_decision
    if decision is None:
        ctx.say("why_empty")
        return
    ctx.say("why", **explain(decision))


async def _forget(ctx: ActionContext, arg: str) -> None:
    # The dialogue manager erases the sender from every conversation they took part
    # in (this one too) once it has released this conversation's lock.
    ctx.forget_sender = True
    ctx.say("forgotten")


async def _human(ctx: ActionContext, arg: str) -> None:
    request_handoff(ctx.state, arg or "user_request")
    ctx.say("handoff", handoff=True)


async def _cancel(ctx: ActionContext, arg: str) -> None:
    if ctx.state.form is None:
        ctx.say("nothing_to_cancel")
        return
    form = ctx.bot.registry.get_form(ctx.state.form)
    if form is None:
        forms.deactivate(ctx)
        ctx.say("cancelled")
    else:
        await form.cancel(ctx)


def _intent_command(intent: str) -> Command:
    """A declared command: the intent's handler, with the command's text read for entities."""

    async def run(ctx: ActionContext, arg: str) -> None:
        handler = ctx.bot.registry.for_intent(intent)
        if handler is None:  # checked when the bot loads
            raise BotDefinitionError(f"command for intent {intent!r}, which has no handler")
        ctx.understanding = Understanding(text=arg, intent=intent, via="command")
        hook = ctx.bot.registry.entity_hook
        if hook is not None and arg:
            ctx.entities = hook(ctx)
        ctx.state.fallbacks = 0
        await handler(ctx)

    run.__name__ = intent
    return run


#: Listed before the bot's own commands, then :data:`_GENERIC_TAIL` after them.
_GENERIC_HEAD: tuple[CommandSpec, ...] = (
    CommandSpec(name="start", description="command_start", run=_start),
    CommandSpec(name="help", description="command_help", run=_help),
)
_GENERIC_TAIL: tuple[CommandSpec, ...] = (
    CommandSpec(name="human", description="command_human", run=_human, accepts_text=True),
    CommandSpec(name="lang", description="command_lang", run=_lang, accepts_text=True),
    CommandSpec(name="why", description="command_why", run=_why),
    CommandSpec(name="cancel", description="command_cancel", run=_cancel),
    CommandSpec(name="forget", description="command_forget", run=_forget),
)
GENERIC: Mapping[str, CommandSpec] = {spec.name: spec for spec in (*_GENERIC_HEAD, *_GENERIC_TAIL)}
#: Templates the generic commands need in every bot: their descriptions and the /help heading.
TEMPLATES: frozenset[str] = frozenset({*(spec.description for spec in GENERIC.values()), "command_list"})


def bot_commands(registry: ActionRegistry) -> dict[str, CommandSpec]:
    """The generic commands and the bot's declared ones, in menu order.

    Raises:
        BotDefinitionError: a declared name is not ``[a-z0-9_]{1,32}``, clashes
            with a generic command, or runs an intent without a handler.
    """
    declared: list[CommandSpec] = []
    for decl in registry.commands:
        if not COMMAND_NAME.fullmatch(decl.name):
            raise BotDefinitionError(f"command /{decl.name}: names are 1-32 of a-z, 0-9 and _")
        if decl.name in GENERIC:
            raise BotDefinitionError(f"command /{decl.name} is a generic command already")
        if registry.for_intent(decl.intent) is None:
            raise BotDefinitionError(f"command /{decl.name} runs intent {decl.intent!r}, which has no handler")
        declared.append(CommandSpec(name=decl.name, description=decl.description,
                                    run=_intent_command(decl.intent), accepts_text=decl.accepts_text))
    return {spec.name: spec for spec in (*_GENERIC_HEAD, *declared, *_GENERIC_TAIL)}


def command_menu(bot: Bot) -> CommandMenu:
    """The bot's commands with their descriptions rendered in each of its languages."""
    by_lang = {
        lang: tuple(
            CommandInfo(name=spec.name, description=bot.responses.render(spec.description, lang),
                        accepts_text=spec.accepts_text)
            for spec in bot.commands.values()
        )
        for lang in bot.languages
    }
    return CommandMenu(bot=bot.name, default_lang=bot.default_lang, by_lang=by_lang)


async def run_command(ctx: ActionContext, name: str, arg: str) -> None:
    """Run one of the bot's commands; an unknown one gets a polite list of the known ones."""
    spec = ctx.bot.commands.get(name)
    ctx.action = f"/{name}"
    if spec is None:
        ctx.say("unknown_command", commands=names_line(list(ctx.bot.commands), ctx.message.command_prefix))
        return
    await spec.run(ctx, arg)
