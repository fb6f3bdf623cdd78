"""Returns and exchanges: a form that verifies the order, checks the window and asks the shop for the return.

The shop's backend lists what can still be returned (lines already returned
drop out) and receives the request: with Shopify a return *request* the
shop reviews; offline a return number at once. The lines are kept in the
form's slots (titles and ids only, no personal data) while the shopper picks.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from bots.shop_assistant.orders import (
    NUMBER_SLOT,
    contact_identity,
    order_prefill,
    remember_verified,
    shop_unavailable,
    verified_order,
)
from bots.shop_assistant.services import content_words, ent, pick, registry, svc
from core.actions import ActionContext
from core.commerce.backend import ReturnableItem
from core.commerce.errors import CommerceError, CommerceRejected
from core.forms import Form, Slot, button_value, deactivate, value_button
from core.messages import Button

_LINES = "returnable"  # form slot holding the returnable lines


async def _check_return_identity(ctx: ActionContext, identity: str) -> Any:
    """Verify the order before showing its items; check it is returnable at all."""
    values = {**ctx.state.form_slots, "identity": identity}
    services = svc(ctx)
    try:
        order = await verified_order(ctx, values)
        if order is not None and order.delivered_at is not None:
            items = await services.backend.returnable_items(order)
        else:
            items = []
    except CommerceError:
        deactivate(ctx)
        return "shop_unavailable"
    if order is None:
        ctx.state.form_slots.pop("number", None)
        return "order_not_verified"
    remember_verified(ctx, order.number)
    window = services.policies.returns.window_days
    if order.delivered_at is None:
        deactivate(ctx)
        return "return_not_delivered"
    if not order.within_return_window(services.backend.today(), window):
        deactivate(ctx)
        return ("return_window_closed", {"days": window})
    if not items:
        deactivate(ctx)
        return "return_nothing_left"
    handles = {li.sku: li.handle for li in order.line_items}
    ctx.state.form_slots[_LINES] = [{**asdict(i), "handle": handles.get(i.sku, "")} for i in items]
    return None


def _lines(ctx: ActionContext, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    source = ctx.state.form_slots if values is None else values
    return [line for line in source.get(_LINES) or [] if isinstance(line, dict)]


def _item_buttons(ctx: ActionContext) -> list[Button]:
    return [value_button(f"{li['title']} ({li['variant_title']})" if li.get("variant_title") else li["title"],
                         li["sku"]) for li in _lines(ctx)]


def _extract_item(ctx: ActionContext) -> str | None:
    items = _lines(ctx)
    if not items:
        return None
    if (value := button_value(ctx)) is not None:
        return value
    if (picked := pick(ctx, items)) is not None:
        return picked["sku"]
    text = ctx.message.text.lower()
    for li in items:
        if li["sku"] and li["sku"].lower() in text:
            return li["sku"]
    words = content_words(text)
    named = [li for li in items if content_words(li["title"]) & words]
    if len(named) == 1:
        return str(named[0]["sku"])
    # The kind of product named in any language the lexicon knows ("运动鞋" is Sneakers).
    types = set(ent(ctx, "product_types") or ())
    catalog = svc(ctx).catalog
    typed = [li for li in items if types and (p := catalog.get(li["handle"])) is not None and p.product_type in types]
    return str(typed[0]["sku"]) if len(typed) == 1 else None


def _check_item(ctx: ActionContext, sku: str) -> Any:
    item = next((li for li in _lines(ctx) if li["sku"] == sku), None)
    if item is None:
        return "bad_return_item"
    rules = svc(ctx).policies.returns
    product = svc(ctx).catalog.get(item["handle"])
    if product is not None and (
        any(product.has_tag(t) for t in rules.final_sale_tags) or product.product_type in rules.non_returnable_types
    ):
        return ("return_final_sale", {"title": item["title"]})
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


def _return_form(kind: str) -> Form:
    async def submit(ctx: ActionContext, values: dict[str, Any]) -> None:
        services = svc(ctx)
        line = next((li for li in _lines(ctx, values) if li["sku"] == values["item"]), None)
        try:
            order = await services.backend.find_order(values["number"])
            if order is None or line is None:
                ctx.say("order_not_verified")
                return
            item = ReturnableItem(sku=line["sku"], title=line["title"], variant_title=line.get("variant_title") or "",
                                  quantity=int(line["quantity"]), line_item_id=line.get("line_item_id"),
                                  fulfillment_line_item_id=line.get("fulfillment_line_item_id"))
            receipt = await services.backend.request_return(
                order, item, reason=str(values["reason"]),
                note="exchange requested in chat" if kind == "exchange" else "")
        except CommerceRejected as refused:
            ctx.say("return_refused", reason="; ".join(refused.messages),
                    buttons=[ctx.button("button_talk_to_human", "cmd:human")])
            return
        except CommerceError as error:
            shop_unavailable(ctx, error)
            return
        ctx.state.data.setdefault("returns", []).append(
            {"rma": receipt.name, "kind": kind, "order": order.number, "sku": line["sku"], "reason": values["reason"]}
        )
        ctx.cite(f"order:{order.number}")
        ctx.cite("policy:returns_window")
        rules = services.policies.returns
        ctx.say(f"{kind}_done", rma=receipt.name, title=line["title"], days=rules.window_days,
                refund_days=rules.refund_days)
        if receipt.status == "REQUESTED":
            ctx.say("return_requested_next", rma=receipt.name)

    return Form(
        name=kind,
        slots=(
            NUMBER_SLOT,
            Slot(name="identity", prompt="ask_identity", extract=contact_identity, invalid="bad_identity",
                 request_contact=True, validate=_check_return_identity, keep=lambda ctx, _: "verified",
                 errors=("order_not_verified", "return_not_delivered", "return_window_closed",
                         "return_nothing_left", "shop_unavailable")),
            Slot(name="item", prompt="ask_return_item", extract=_extract_item, validate=_check_item,
                 buttons=_item_buttons, errors=("bad_return_item", "return_final_sale")),
            Slot(name="reason", prompt="ask_return_reason", extract=_extract_reason, buttons=_reason_buttons),
        ),
        submit=submit,
        extra_templates=(f"{kind}_done", "return_refused", "return_requested_next", "button_talk_to_human",
                         *(f"reason_{r}" for r in _REASONS)),
    )


RETURN_FORM = registry.form(_return_form("return"))
EXCHANGE_FORM = registry.form(_return_form("exchange"))


@registry.intent("return_request")
async def return_request(ctx: ActionContext) -> None:
    await RETURN_FORM.start(ctx, prefill=order_prefill(ctx))


@registry.intent("exchange_request")
async def exchange_request(ctx: ActionContext) -> None:
    await EXCHANGE_FORM.start(ctx, prefill=order_prefill(ctx))
