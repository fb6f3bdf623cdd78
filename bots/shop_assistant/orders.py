"""Order status, told only once the order number matches the order's e-mail or a verified phone."""

from __future__ import annotations

import re
from typing import Any

from bots.shop_assistant.services import ent, registry, svc
from core.actions import ActionContext
from core.commerce.shopdata import normalize_order_number
from core.forms import Form, Slot, button_value

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def _order_number(ctx: ActionContext) -> str | None:
    value = button_value(ctx) or ent(ctx, "order_number") or ctx.message.text
    return normalize_order_number(str(value)) if value else None


def contact_identity(ctx: ActionContext) -> str | None:
    """The order's e-mail typed by the user, or the platform-verified phone."""
    if ctx.message.contact is not None:
        return ctx.message.contact.phone
    email = ent(ctx, "email")
    if email:
        return str(email)
    match = _EMAIL.search(ctx.message.text)
    return match.group(0) if match else None


def verified_order(ctx: ActionContext, values: dict[str, Any]) -> Any:
    """The order when the identity matches it; None otherwise (never says which part failed)."""
    order = svc(ctx).orders.find(values.get("number") or "")
    if order is None:
        return None
    if values.get("identity") == "verified" and order.number in ctx.state.data.get("verified_orders", []):
        return order
    identity = values.get("identity")
    return order if identity and identity != "verified" and order.matches_contact(identity) else None


def remember_verified(ctx: ActionContext, number: str) -> None:
    verified = ctx.state.data.setdefault("verified_orders", [])
    if number not in verified:
        verified.append(number)


def order_prefill(ctx: ActionContext) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if (number := ent(ctx, "order_number")) and (normal := normalize_order_number(str(number))):
        values["number"] = normal
        if normal in ctx.state.data.get("verified_orders", []):
            values["identity"] = "verified"
    # An e-mail is only taken together with the order number: it is then checked at once
    # and never sits in the stored state while the number is being asked for.
    if "number" in values and (identity := contact_identity(ctx)) is not None:
        values["identity"] = identity
    return values


async def _order_status_submit(ctx: ActionContext, values: dict[str, Any]) -> None:
    order = verified_order(ctx, values)
    if order is None:
        ctx.say("order_not_verified")
        return
    remember_verified(ctx, order.number)
    ctx.cite(f"order:{order.number}")
    details = ctx.text("order_items", items=", ".join(f"{li.title} × {li.quantity}" for li in order.line_items))
    if order.carrier and order.tracking_number:
        details += " " + ctx.text("order_tracking", carrier=order.carrier, tracking=order.tracking_number)
    ctx.say("order_status", number=order.number, status=ctx.text(f"status_{order.status.value}"), details=details)


NUMBER_SLOT = Slot(name="number", prompt="ask_order_number", extract=_order_number, invalid="bad_order_number")
_IDENTITY_SLOT = Slot(name="identity", prompt="ask_identity", extract=contact_identity, invalid="bad_identity",
                      request_contact=True)

ORDER_STATUS_FORM = registry.form(Form(
    name="order_status",
    slots=(NUMBER_SLOT, _IDENTITY_SLOT),
    submit=_order_status_submit,
    extra_templates=("order_not_verified", "order_status", "order_items", "order_tracking",
                     *(f"status_{s}" for s in ("pending", "paid", "fulfilled", "shipped", "delivered",
                                                "cancelled", "refunded"))),
))


@registry.intent("order_status")
async def order_status(ctx: ActionContext) -> None:
    await ORDER_STATUS_FORM.start(ctx, prefill=order_prefill(ctx))
