"""Slot-filling forms: ask in order, re-prompt on bad input, cancel at any step, submit once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.actions import ActionContext, ActionRegistry, Understanding
from core.bot import Bot, Responses
from core.forms import CANCEL_PAYLOAD, Form, Slot, button_value, value_button
from core.messages import ConversationKey, IncomingMessage, Platform
from core.sessions import MemorySessionStore
from core.settings import Settings
from core.state import ConversationState

TEMPLATES = {
    "ask_size": {"en": ["Which size?"], "zh": ["什么尺码？"]},
    "ask_qty": {"en": ["How many?"], "zh": ["几件？"]},
    "too_many": {"en": ["At most {limit}."], "zh": ["最多 {limit} 件。"]},
    "done": {"en": ["Ordered {qty} in {size}."], "zh": ["已订 {qty} 件 {size}。"]},
    "form_cancelled": {"en": ["Stopped."], "zh": ["已停止。"]},
    "form_invalid": {"en": ["Didn't get that."], "zh": ["没看懂。"]},
    "button_cancel": {"en": ["Cancel"], "zh": ["取消"]},
}
SIZES = {"s", "m", "l"}


def _size(ctx: ActionContext) -> str | None:
    value = button_value(ctx) or ctx.message.text.strip().lower()
    return value.upper() if value in SIZES else None


def _qty(ctx: ActionContext) -> int | None:
    text = ctx.message.text.strip()
    return int(text) if text.isdigit() else None


def _check_qty(ctx: ActionContext, qty: int) -> Any:
    return ("too_many", {"limit": 5}) if qty > 5 else None


async def _submit(ctx: ActionContext, values: dict[str, Any]) -> None:
    ctx.state.data.setdefault("orders", []).append(values)
    ctx.say("done", **values)


FORM = Form(
    name="order",
    slots=(
        Slot(name="size", prompt="ask_size", extract=_size,
             buttons=lambda ctx: [value_button(s.upper(), s) for s in sorted(SIZES)]),
        Slot(name="qty", prompt="ask_qty", extract=_qty, validate=_check_qty, errors=("too_many",),
             keep=lambda ctx, qty: int(qty)),
    ),
    submit=_submit,
    extra_templates=("done",),
)


@pytest.fixture
def bot() -> Bot:
    registry = ActionRegistry()
    registry.form(FORM)
    responses = Responses(templates={k: {lang: tuple(v) for lang, v in d.items()} for k, d in TEMPLATES.items()},
                          default_lang="en")
    responses.validate(registry.templates, ("en", "zh"))
    return Bot(name="t", root=Path("."), languages=("en", "zh"), default_lang="en", intents_path=Path("x"),
               responses=responses, registry=registry)


def make_ctx(bot: Bot, state: ConversationState, text: str = "", payload: str | None = None,
             intent: str = "") -> ActionContext:
    message = IncomingMessage(
        conversation=ConversationKey(platform=Platform.CONSOLE, bot="t", chat="c"),
        user_id="u", text=text, button_payload=payload,
    )
    return ActionContext(
        message=message, state=state, understanding=Understanding(text=text, intent=intent),
        lang=state.lang, settings=Settings(), services=None, bot=bot, store=MemorySessionStore(),
    )


async def test_asks_each_slot_in_order_then_submits_once(bot: Bot) -> None:
    state = ConversationState()
    ctx = make_ctx(bot, state)
    await FORM.start(ctx)
    assert state.form == "order"
    assert [r.text for r in ctx.replies] == ["Which size?"]
    assert [b.payload for b in ctx.replies[0].buttons] == [
        "form:value:l", "form:value:m", "form:value:s", CANCEL_PAYLOAD,
    ]

    ctx = make_ctx(bot, state, payload="form:value:m")
    await FORM.step(ctx)
    assert state.form_slots == {"size": "M"}
    assert ctx.replies[-1].text == "How many?"

    ctx = make_ctx(bot, state, text="2")
    await FORM.step(ctx)
    assert ctx.replies[-1].text == "Ordered 2 in M."
    assert state.form is None and state.form_slots == {}
    assert state.data["orders"] == [{"size": "M", "qty": 2}]


async def test_invalid_input_reprompts_the_same_slot(bot: Bot) -> None:
    state = ConversationState()
    await FORM.start(make_ctx(bot, state))
    ctx = make_ctx(bot, state, text="purple")
    await FORM.step(ctx)
    assert [r.text for r in ctx.replies] == ["Didn't get that.", "Which size?"]
    assert state.form == "order" and state.form_slots == {}


async def test_validator_error_with_values_and_reprompt(bot: Bot) -> None:
    state = ConversationState()
    await FORM.start(make_ctx(bot, state), prefill={"size": "L"})
    ctx = make_ctx(bot, state, text="9")
    await FORM.step(ctx)
    assert [r.text for r in ctx.replies] == ["At most 5.", "How many?"]
    assert "qty" not in state.form_slots


async def test_prefill_skips_filled_slots_and_can_submit_immediately(bot: Bot) -> None:
    state = ConversationState()
    ctx = make_ctx(bot, state)
    await FORM.start(ctx, prefill={"size": "S", "qty": 1})
    assert [r.text for r in ctx.replies] == ["Ordered 1 in S."]
    assert state.form is None


async def test_invalid_prefill_is_asked_again(bot: Bot) -> None:
    state = ConversationState()
    ctx = make_ctx(bot, state)
    await FORM.start(ctx, prefill={"size": "S", "qty": 99})
    assert [r.text for r in ctx.replies] == ["How many?"]
    assert state.form_slots == {"size": "S"}


@pytest.mark.parametrize(
    ("text", "payload", "intent"),
    [("cancel", None, ""), ("Stop!", None, ""), ("取消", None, ""), ("/cancel", None, ""),
     ("", CANCEL_PAYLOAD, ""), ("actually forget about the whole thing", None, "cancel")],
)
async def test_cancel_at_any_step(bot: Bot, text: str, payload: str | None, intent: str) -> None:
    state = ConversationState()
    await FORM.start(make_ctx(bot, state), prefill={"size": "M"})
    ctx = make_ctx(bot, state, text=text, payload=payload, intent=intent)
    await FORM.step(ctx)
    assert [r.text for r in ctx.replies] == ["Stopped."]
    assert state.form is None and state.form_slots == {}
    assert "orders" not in state.data


async def test_prompts_follow_the_conversation_language(bot: Bot) -> None:
    state = ConversationState(lang="zh")
    ctx = make_ctx(bot, state)
    await FORM.start(ctx)
    assert ctx.replies[0].text == "什么尺码？"
    assert ctx.replies[0].buttons[-1].label == "取消"


def test_form_declares_its_templates() -> None:
    assert {"ask_size", "ask_qty", "too_many", "done", "form_cancelled", "form_invalid",
            "button_cancel"} <= FORM.templates


async def test_keep_transforms_the_stored_value(bot: Bot) -> None:
    form = Form(name="secret", slots=(Slot(name="email", prompt="ask_size", extract=lambda ctx: ctx.message.text,
                                           keep=lambda ctx, value: "verified"),
                                      Slot(name="qty", prompt="ask_qty", extract=_qty)),
                submit=_submit)
    state = ConversationState()
    await form.start(make_ctx(bot, state))
    await form.step(make_ctx(bot, state, text="jane@example.com"))
    assert state.form_slots == {"email": "verified"}
