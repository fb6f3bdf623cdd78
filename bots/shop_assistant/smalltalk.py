"""Small talk, complaints and asking for a person."""

from __future__ import annotations

from bots.shop_assistant.services import registry, svc
from core.actions import ActionContext
from core.commands import request_handoff, show_help

registry.replies({
    "thanks": "thanks",
    "goodbye": "goodbye",
    "bot_challenge": "bot_challenge",
    "affirm": "affirm",
    "deny": "deny",
    "cancel": "nothing_to_cancel",
})
registry.intent("help", templates=("help",))(show_help)  # the help text and the bot's commands


@registry.intent("greet", templates=("greet",))
async def greet(ctx: ActionContext) -> None:
    ctx.say("greet", shop_name=svc(ctx).shop.name)


@registry.intent("human_handoff")
async def human_handoff(ctx: ActionContext) -> None:
    request_handoff(ctx.state, "user_request")
    ctx.say("handoff", handoff=True)


@registry.intent("complaint", templates=("complaint",))
async def complaint(ctx: ActionContext) -> None:
    ctx.say(
        "complaint",
        buttons=[
            ctx.button("button_talk_to_human", "cmd:human"),
            ctx.button("intent_return_request", "intent:return_request"),
        ],
    )
