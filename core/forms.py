"""Declarative slot-filling forms (in the spirit of Rasa forms).

A :class:`Form` asks for its slots in order. Each :class:`Slot` has a prompt
template, an extractor that pulls a value out of the current message (``None``
when the message holds none) and an optional validator that returns the key of
an error template. While a form is active every plain message goes to it; the
user can leave at any step with "cancel"/"stop" (or 取消), ``/cancel`` or the
``form:cancel`` button. Slot values live in ``state.form_slots`` and must be
JSON-serialisable.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.actions import ActionContext
from core.messages import Button

Extractor = Callable[[ActionContext], Any]
#: ``fn(ctx, value)`` -> None when valid, else an error template key or ``(key, values)``;
#: may be async. It may also edit ``ctx.state.form_slots`` (e.g. clear an earlier slot
#: so it is asked again) or leave the form with :func:`deactivate`.
Validator = Callable[[ActionContext, Any], Any]
ButtonsFor = Callable[[ActionContext], Sequence[Button]]
Submit = Callable[[ActionContext, dict[str, Any]], Awaitable[None]]

CANCEL_PAYLOAD = "form:cancel"
#: Buttons offered with a prompt carry ``form:value:<value>``; see :func:`button_value`.
VALUE_PAYLOAD = "form:value:"
_CANCEL_RE = re.compile(
    r"^\s*(?:cancel|stop|quit|exit|never\s*mind|forget\s+it|abort|取消|算了|不用了|停止|退出)\s*[.!。！]*\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True, kw_only=True)
class Slot:
    """One thing a form asks for.

    Attributes:
        name: key in ``state.form_slots``.
        prompt: template asking for the value.
        extract: ``fn(ctx) -> value | None`` (sync or async).
        validate: ``fn(ctx, value) -> error template key | None`` (sync or async).
        buttons: ``fn(ctx) -> buttons`` offered with the prompt (e.g. the order's items).
        errors: error template keys ``validate`` may return (checked at bot load).
        invalid: template said when the message holds no value (default: the form's).
        request_contact: ask the platform for the user's verified phone with the prompt.
        keep: ``fn(ctx, value) -> value`` applied after validation, before the value is
            stored in the state (e.g. keep "verified" rather than an e-mail address).
    """

    name: str
    prompt: str
    extract: Extractor
    validate: Validator | None = None
    buttons: ButtonsFor | None = None
    errors: tuple[str, ...] = ()
    invalid: str | None = None
    request_contact: bool = False
    keep: Callable[[ActionContext, Any], Any] | None = None


@dataclass(frozen=True, kw_only=True)
class Form:
    """A named sequence of slots and what to do once they are all filled.

    Attributes:
        name: stored in ``state.form`` while active.
        slots: asked in order; already-filled ones are skipped.
        submit: ``async fn(ctx, values)``, called once every slot is filled.
        cancelled: template confirming a cancel.
        invalid: template used when the message holds no usable value (then the prompt is repeated).
        cancel_button: template for the label of the cancel button shown with every prompt.
    """

    name: str
    slots: tuple[Slot, ...]
    submit: Submit
    cancelled: str = "form_cancelled"
    invalid: str = "form_invalid"
    cancel_button: str = "button_cancel"
    extra_templates: tuple[str, ...] = field(default=())

    @property
    def templates(self) -> frozenset[str]:
        keys = {self.cancelled, self.invalid, self.cancel_button, *self.extra_templates}
        for slot in self.slots:
            keys.add(slot.prompt)
            keys.update(slot.errors)
            if slot.invalid:
                keys.add(slot.invalid)
        return frozenset(keys)

    def next_slot(self, values: dict[str, Any]) -> Slot | None:
        return next((s for s in self.slots if values.get(s.name) is None), None)

    async def start(self, ctx: ActionContext, *, prefill: dict[str, Any] | None = None) -> None:
        """Activate the form, keep valid pre-filled values, and ask for the first missing slot."""
        ctx.state.form = self.name
        ctx.state.form_slots = {}
        for slot in self.slots:
            value = (prefill or {}).get(slot.name)
            if value is None:
                continue
            if slot.validate is not None and await _call(slot.validate, ctx, value):
                continue  # invalid pre-fill: the form will ask for it
            ctx.state.form_slots[slot.name] = slot.keep(ctx, value) if slot.keep else value
        await self._advance(ctx)

    async def step(self, ctx: ActionContext) -> None:
        """Feed the current message to the active form."""
        if is_cancel(ctx):
            await self.cancel(ctx)
            return
        slot = self.next_slot(ctx.state.form_slots)
        if slot is None:  # stale state: everything filled but not submitted
            await self._advance(ctx)
            return
        value = await _call(slot.extract, ctx)
        if value is None:
            ctx.say(slot.invalid or self.invalid)
            self._prompt(ctx, slot)
            return
        if slot.validate is not None:
            error = await _call(slot.validate, ctx, value)
            if error:
                key, values = error if isinstance(error, tuple) else (error, {})
                ctx.say(key, **values)
                if ctx.state.form == self.name:  # the validator may have ended the form
                    self._prompt(ctx, self.next_slot(ctx.state.form_slots) or slot)
                return
        ctx.state.form_slots[slot.name] = slot.keep(ctx, value) if slot.keep else value
        await self._advance(ctx)

    async def accepts(self, ctx: ActionContext) -> bool:
        """Whether the current message holds a value for the slot being asked."""
        slot = self.next_slot(ctx.state.form_slots)
        return slot is not None and await _call(slot.extract, ctx) is not None

    async def cancel(self, ctx: ActionContext) -> None:
        deactivate(ctx)
        ctx.say(self.cancelled)

    async def _advance(self, ctx: ActionContext) -> None:
        slot = self.next_slot(ctx.state.form_slots)
        if slot is not None:
            self._prompt(ctx, slot)
            return
        values = dict(ctx.state.form_slots)
        deactivate(ctx)
        await self.submit(ctx, values)

    def _prompt(self, ctx: ActionContext, slot: Slot) -> None:
        buttons = list(slot.buttons(ctx)) if slot.buttons else []
        buttons.append(ctx.button(self.cancel_button, CANCEL_PAYLOAD))
        ctx.say(slot.prompt, buttons=buttons, request_contact=slot.request_contact)


def deactivate(ctx: ActionContext) -> None:
    """Leave whatever form is active, dropping its values."""
    ctx.state.form = None
    ctx.state.form_slots = {}


def button_value(ctx: ActionContext) -> str | None:
    """The value carried by a pressed prompt button, if any."""
    payload = ctx.message.button_payload or ""
    return payload[len(VALUE_PAYLOAD) :] if payload.startswith(VALUE_PAYLOAD) else None


def value_button(label: str, value: str) -> Button:
    """A prompt button that fills the current slot with ``value``."""
    return Button(label=label, payload=f"{VALUE_PAYLOAD}{value}")


def is_cancel(ctx: ActionContext) -> bool:
    """True when the message asks to leave the current form.

    That is the cancel button, ``/cancel``, a short "cancel"/"stop"/取消 message,
    or a confident, unambiguous ``cancel`` intent (a bot convention).
    """
    if ctx.message.button_payload == CANCEL_PAYLOAD:
        return True
    u = ctx.understanding
    if u.via == "classifier" and u.intent == "cancel" and not (u.out_of_scope or u.ambiguous):
        return True
    text = ctx.message.text.strip()
    return text.lower() == "/cancel" or bool(_CANCEL_RE.match(text))


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    result = fn(*args)
    if inspect.isawaitable(result):
        result = await result
    return result
