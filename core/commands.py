"""Slash commands every bot understands: /start /help /lang /why /forget /human /cancel.

A bot may add its own (``registry.command("notify")``); the generic ones win a name clash.

They are dispatched by the dialogue manager before the classifier runs, from
text (``/lang zh``) or from a button payload (``cmd:human``). ``/why`` does not
overwrite ``state.last_decision``, so asking twice explains the same decision.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone

from core import forms
from core.actions import ActionContext
from core.privacy import mask_pii
from core.state import ConversationState, Decision

logger = logging.getLogger(__name__)

COMMAND_PAYLOAD = "cmd:"
Command = Callable[[ActionContext, str], Awaitable[None]]


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


def request_handoff(state: ConversationState, reason: str) -> dict[str, str]:
    """Record that the user wants (or was offered) a human; staff tools read it."""
    record = {"requested_at": datetime.now(timezone.utc).isoformat(), "reason": reason}
    state.data["handoff"] = record
    return record


async def _start(ctx: ActionContext, arg: str) -> None:
    name = ctx.message.user_name
    ctx.say("start", name=f" {name}" if name else "")


async def _help(ctx: ActionContext, arg: str) -> None:
    handler = ctx.bot.registry.for_intent("help")
    if handler is not None:
        await handler(ctx)
    else:
        ctx.say("help")


async def _lang(ctx: ActionContext, arg: str) -> None:
    lang = ctx.bot.pick_lang(arg)
    if lang is None:
        ctx.say("lang_unsupported", languages=", ".join(ctx.bot.languages))
        return
    ctx.state.lang = lang
    ctx.state.lang_locked = True
    ctx.lang = lang
    ctx.say("lang_set", lang=lang)


def explain(decision: Decision) -> dict[str, str]:
    """Values for the ``why`` template, language-neutral (numbers, names)."""
    ranking = ", ".join(f"{name} {score:.2f}" for name, score in decision.ranking[:3]) or "-"
    entities = mask_pii(", ".join(f"{k}={v}" for k, v in decision.entities.items())) or "-"
    slots = mask_pii(", ".join(f"{k}={v}" for k, v in decision.slots.items())) or "-"
    flags = [f for f, on in (("out_of_scope", decision.out_of_scope), ("ambiguous", decision.ambiguous)) if on]
    return {
        "intent": decision.intent,
        "confidence": f"{decision.confidence:.2f}",
        "ranking": ranking,
        "flags": ", ".join(flags) or "-",
        "entities": entities,
        "slots": slots,
        "action": decision.action or "-",
        "sources": ", ".join(decision.sources) or "-",
    }


async def _why(ctx: ActionContext, arg: str) -> None:
    decision = ctx.state.last_decision
    if decision is None:
        ctx.say("why_empty")
        return
    ctx.say("why", **explain(decision))


async def _forget(ctx: ActionContext, arg: str) -> None:
    removed = await ctx.store.forget_user(ctx.message.conversation.platform, ctx.message.user_id)
    logger.info("forgot user data", extra={"conversation": ctx.message.conversation.tag, "keys_removed": removed})
    ctx.discard_state = True
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


COMMANDS: dict[str, Command] = {
    "start": _start,
    "help": _help,
    "lang": _lang,
    "why": _why,
    "forget": _forget,
    "human": _human,
    "cancel": _cancel,
}


async def run_command(ctx: ActionContext, name: str, arg: str) -> None:
    """Run one generic command; an unknown one gets a polite list of known ones."""
    command = COMMANDS.get(name) or ctx.bot.registry.for_command(name)
    ctx.action = f"/{name}"
    if command is None:
        known = [*COMMANDS, *sorted(ctx.bot.registry.commands)]
        ctx.say("unknown_command", commands=" ".join(f"/{c}" for c in known))
        return
    await command(ctx, arg)
