"""Returns and exchanges: a form that verifies the order, checks the window and issues a return number."""

from __future__ import annotations

import secrets
import string
from typing import Any

from bots.shop_assistant.orders import (
    NUMBER_SLOT,
    contact_identity,
    order_prefill,
    remember_verified,
    verified_order,
)
from bots.shop_assistant.services import content_words, pick, registry, svc
from core.actions import ActionContext
from core.forms import Form, Slot, button_value, deactivate, value_button
from core.messages import Button

_RMA_ALPHABET = string.ascii_uppercase + string.digits


def _check_return_identity(ctx: ActionContext, identity: str) -> Any:
    """Verify the order before showing its items; check it is returnable at all."""
    values = {**ctx.state.form_slots, "identity": identity}
    order = verified_order(ctx, values)
    if order is None:
        ctx.state.form_slots.pop("number", None)
        return "order_not_verified"
    remember_verified(ctx, order.number)
    services = svc(ctx)
    window = services.policies.returns.window_days
    if order.delivered_at is None:
        deactivate(ctx)
        return "return_not_delivered"
    if not order.within_return_window(services.orders.today(), window):
        deactivate(ctx)
        return ("return_window_closed", {"days": window})
    return None


def _current_order(ctx: ActionContext) -> Any:
    return svc(ctx).orders.find(ctx.state.form_slots.get("number") or "")


def _item_buttons(ctx: ActionContext) -> list[Button]:
    order = _current_order(ctx)
    if order is None:
        return []
    return [value_button(f"{li.title} ({li.variant_title})" if li.variant_title else li.title, li.sku)
            for li in order.line_items]


def _extract_item(ctx: ActionContext) -> str | None:
    order = _current_order(ctx)
    if order is None:
        return None
    if (value := button_value(ctx)) is not None:
        return value
    items = list(order.line_items)
    if (picked := pick(ctx, items)) is not None:
        return picked.sku
    text = ctx.message.text.lower()
    for li in items:
        if li.sku.lower() in text:
            return li.sku
    words = content_words(text)
    named = [li for li in items if content_words(li.title) & words]
    return named[0].sku if len(named) == 1 else None


def _check_item(ctx: ActionContext, sku: str) -> Any:
    order = _current_order(ctx)
    item = next((li for li in order.line_items if li.sku == sku), None) if order else None
    if item is None:
        return "bad_return_item"
    rules = svc(ctx).policies.returns
    product = svc(ctx).catalog.get(item.handle)
    if product is not None and (
        any(product.has_tag(t) for t in rules.final_sale_tags) or product.product_type in rules.non_returnable_types
    ):
        return ("return_final_sale", {"title": item.title})
    return None


_REASONS = ("size", "damaged", "not_as_described", "changed_mind")


def _reason_buttons(ctx: ActionContext) -> list[Button]:
    return [value_button(ctx.text(f"reason_{r}"), r) for r in _REASONS]


def _extract_reason(ctx: ActionContext) -> str | None:
    value = button_value(ctx)
    if value is not None:
        return value
    text = ctx.message.text.strip()
    return text[:200] if text else None


def _new_rma() -> str:
    return "RMA-" + "".join(secrets.choice(_RMA_ALPHABET) for _ in range(6))


def _return_form(kind: str) -> Form:
    async def submit(ctx: ActionContext, values: dict[str, Any]) -> None:
        order = svc(ctx).orders.find(values["number"])
        item = next(li for li in order.line_items if li.sku == values["item"])
        rma = _new_rma()
        ctx.state.data.setdefault("returns", []).append(
            {"rma": rma, "kind": kind, "order": order.number, "sku": item.sku, "reason": values["reason"]}
        )
        ctx.cite(f"order:{order.number}")
        ctx.cite("policy:returns_window")
        rules = svc(ctx).policies.returns
        ctx.say(f"{kind}_done", rma=rma, title=item.title, days=rules.window_days, refund_days=rules.refund_days)

    return Form(
        name=kind,
        slots=(
            NUMBER_SLOT,
            Slot(name="identity", prompt="ask_identity", extract=contact_identity, invalid="bad_identity",
                 request_contact=True, validate=_check_return_identity, keep=lambda ctx, _: "verified",
                 errors=("order_not_verified", "return_not_delivered", "return_window_closed")),
            Slot(name="item", prompt="ask_return_item", extract=_extract_item, validate=_check_item,
                 buttons=_item_buttons, errors=("bad_return_item", "return_final_sale")),
            Slot(name="reason", prompt="ask_return_reason", extract=_extract_reason, buttons=_reason_buttons),
        ),
        submit=submit,
        extra_templates=(f"{kind}_done", *(f"reason_{r}" for r in _REASONS)),
    )


RETURN_FORM = registry.form(_return_form("return"))
EXCHANGE_FORM = registry.form(_return_form("exchange"))


@registry.intent("return_request")
async def return_request(ctx: ActionContext) -> None:
    await RETURN_FORM.start(ctx, prefill=order_prefill(ctx))


@registry.intent("exchange_request")
async def exchange_request(ctx: ActionContext) -> None:
    await EXCHANGE_FORM.start(ctx, prefill=order_prefill(ctx))
