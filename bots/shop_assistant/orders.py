"""Orders: status (only once the number matches the order's e-mail or a verified phone), cancelling, shipping news.

A verified order that has not shipped offers two buttons: *Tell me when it
ships* (an opt-in message on this platform, once, with the tracking link) and,
while nothing is fulfilled, *Cancel this order*, which asks for an explicit
yes before anything is cancelled. When the shop refuses (already packed or
shipped) the request goes to staff as a handoff.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from bots.shop_assistant.services import ent, registry, svc
from core.actions import ActionContext
from core.commands import request_handoff
from core.commerce.errors import CommerceError, CommerceRejected
from core.commerce.shopdata import Order, OrderStatus, normalize_order_number
from core.commerce.shopify.convert import legacy_id
from core.forms import Form, Slot, button_value

logger = logging.getLogger(__name__)

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


async def verified_order(ctx: ActionContext, values: dict[str, Any]) -> Order | None:
    """The order when the identity matches it; None otherwise (never says which part failed).

    Raises:
        CommerceError: the shop's backend could not be asked.
    """
    order = await svc(ctx).backend.find_order(values.get("number") or "")
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


_UNSHIPPED = frozenset({OrderStatus.PENDING, OrderStatus.PAID, OrderStatus.FULFILLED})
_CANCELLABLE = frozenset({OrderStatus.PENDING, OrderStatus.PAID})


def shop_unavailable(ctx: ActionContext, error: CommerceError) -> None:
    """The polite answer when the shop's API cannot be asked (logged once here, never shown)."""
    logger.warning("shop backend failed for %s: %s", ctx.message.conversation.tag, error)
    ctx.say("shop_unavailable", buttons=[ctx.button("button_talk_to_human", "cmd:human")])


async def _order_status_submit(ctx: ActionContext, values: dict[str, Any]) -> None:
    try:
        order = await verified_order(ctx, values)
    except CommerceError as error:
        shop_unavailable(ctx, error)
        return
    if order is None:
        ctx.say("order_not_verified")
        return
    remember_verified(ctx, order.number)
    ctx.cite(f"order:{order.number}")
    details = ctx.text("order_items", items=", ".join(f"{li.title} × {li.quantity}" for li in order.line_items))
    if order.carrier and order.tracking_number:
        details += " " + ctx.text("order_tracking", carrier=order.carrier, tracking=order.tracking_number)
        if order.tracking_url:
            details += " " + ctx.text("order_tracking_link", url=order.tracking_url)
    buttons = []
    if order.status in _UNSHIPPED and svc(ctx).notifier is not None:
        buttons.append(ctx.button("button_notify_ship", f"{NOTIFY_SHIP}{order.number}"))
    if order.status in _CANCELLABLE:
        buttons.append(ctx.button("button_cancel_order", f"{CANCEL_ORDER}{order.number}"))
    ctx.say("order_status", buttons=buttons, number=order.number, status=ctx.text(f"status_{order.status.value}"),
            details=details)


NUMBER_SLOT = Slot(name="number", prompt="ask_order_number", extract=_order_number, invalid="bad_order_number")
_IDENTITY_SLOT = Slot(name="identity", prompt="ask_identity", extract=contact_identity, invalid="bad_identity",
                      request_contact=True)

ORDER_STATUS_FORM = registry.form(Form(
    name="order_status",
    slots=(NUMBER_SLOT, _IDENTITY_SLOT),
    submit=_order_status_submit,
    extra_templates=("order_not_verified", "order_status", "order_items", "order_tracking", "order_tracking_link",
                     "button_notify_ship", "button_cancel_order", "button_talk_to_human",
                     *(f"status_{s}" for s in ("pending", "paid", "fulfilled", "shipped", "delivered",
                                                "cancelled", "refunded"))),
))


@registry.intent("order_status")
async def order_status(ctx: ActionContext) -> None:
    await ORDER_STATUS_FORM.start(ctx, prefill=order_prefill(ctx))


# --------------------------------------------------------------------------- shipping news

NOTIFY_SHIP = "notify:ship:"
_TELL_WHEN_SHIPS = re.compile(
    r"\b(tell|notify|message|ping|let)\s+me\b.*\b(ship|ships|shipped|dispatch|dispatched|sent|on its way)\b"
    r"|发货.*(通知|告诉)|(通知|告诉).*发货",
    re.IGNORECASE)


async def _verified_for(ctx: ActionContext, number: str) -> Order | None:
    """A verified order of this conversation, looked up again (its status may have moved on)."""
    if number not in ctx.state.data.get("verified_orders", []):
        return None
    return await svc(ctx).backend.find_order(number)


async def subscribe_shipping(ctx: ActionContext, number: str) -> None:
    notifier = svc(ctx).notifier
    try:
        order = await _verified_for(ctx, number)
    except CommerceError as error:
        shop_unavailable(ctx, error)
        return
    if order is None or notifier is None:
        ctx.say("notify_need_order", buttons=[ctx.button("intent_order_status", "intent:order_status")])
        return
    if order.status not in _UNSHIPPED:
        ctx.say("notify_already_shipped", number=order.number, status=ctx.text(f"status_{order.status.value}"))
        return
    target = legacy_id(order.id) or order.number
    await notifier.subscribe(kind="ship", target=target, label=order.number, conversation=ctx.message.conversation,
                             user_id=ctx.message.user_id, lang=ctx.lang)
    ctx.cite(f"order:{order.number}")
    ctx.say("notify_ship_on", number=order.number)


@registry.payload(NOTIFY_SHIP, templates=("notify_ship_on", "notify_need_order", "notify_already_shipped",
                                          "intent_order_status"))
async def notify_ship_button(ctx: ActionContext, number: str) -> None:
    await subscribe_shipping(ctx, number)


@registry.intent("notify_shipping")
async def notify_shipping(ctx: ActionContext) -> None:
    """"Tell me when it ships": the order verified last in this conversation."""
    verified = ctx.state.data.get("verified_orders") or []
    number = normalize_order_number(str(ent(ctx, "order_number") or "")) or (verified[-1] if verified else "")
    await subscribe_shipping(ctx, number)


@registry.override
async def tell_me_when_it_ships(ctx: ActionContext) -> str | None:
    return "notify_shipping" if _TELL_WHEN_SHIPS.search(ctx.understanding.text) else None


# --------------------------------------------------------------------------- cancelling

CANCEL_ORDER = "order:cancel:"
CANCEL_YES = "order:cancel-yes:"
CANCEL_NO = "order:cancel-no:"
_CANCEL_MY_ORDER = re.compile(r"\bcancel\b.*\border\b|取消.*订单", re.IGNORECASE)
_EXPLICIT_YES = re.compile(r"^\s*(yes|yes,? please|yes,? cancel( it)?|confirm|是|是的|确认|确认取消)\s*[.!]*\s*$",
                           re.IGNORECASE)


async def ask_cancel(ctx: ActionContext, number: str) -> None:
    try:
        order = await _verified_for(ctx, number)
    except CommerceError as error:
        shop_unavailable(ctx, error)
        return
    if order is None:
        ctx.say("cancel_need_order", buttons=[ctx.button("intent_order_status", "intent:order_status")])
        return
    if order.status not in _CANCELLABLE:
        await _to_staff(ctx, order.number, ctx.text(f"status_{order.status.value}"))
        return
    ctx.state.data["pending_cancel"] = order.number
    ctx.say("cancel_confirm", number=order.number, buttons=[
        ctx.button("button_cancel_yes", f"{CANCEL_YES}{order.number}"),
        ctx.button("button_cancel_no", f"{CANCEL_NO}{order.number}"),
    ])


async def _to_staff(ctx: ActionContext, number: str, why: str) -> None:
    """The shop cannot cancel it now: a person decides (a handoff ticket in the staff channel)."""
    request_handoff(ctx.state, f"cancel order {number}: {why}")
    ctx.say("cancel_to_staff", number=number, handoff=True)


async def confirm_cancel(ctx: ActionContext, number: str) -> None:
    if ctx.state.data.pop("pending_cancel", None) != number:
        await ask_cancel(ctx, number)  # an old button: ask again rather than act on it
        return
    try:
        order = await _verified_for(ctx, number)
        if order is None:
            ctx.say("cancel_need_order", buttons=[ctx.button("intent_order_status", "intent:order_status")])
            return
        await svc(ctx).backend.cancel_order(order, reason="CUSTOMER", note="Cancelled by the shopper in chat")
    except CommerceRejected as refused:
        await _to_staff(ctx, number, "; ".join(refused.messages))
        return
    except CommerceError as error:
        shop_unavailable(ctx, error)
        return
    ctx.cite(f"order:{number}")
    ctx.say("order_cancelled", number=number)


@registry.payload(CANCEL_ORDER, templates=("cancel_confirm", "cancel_need_order", "button_cancel_yes",
                                           "button_cancel_no", "cancel_to_staff"))
async def cancel_button(ctx: ActionContext, number: str) -> None:
    await ask_cancel(ctx, number)


@registry.payload(CANCEL_YES, templates=("order_cancelled",))
async def cancel_yes_button(ctx: ActionContext, number: str) -> None:
    await confirm_cancel(ctx, number)


@registry.payload(CANCEL_NO, templates=("cancel_kept",))
async def cancel_no_button(ctx: ActionContext, number: str) -> None:
    ctx.state.data.pop("pending_cancel", None)
    ctx.say("cancel_kept", number=number)


@registry.intent("cancel_order")
async def cancel_order(ctx: ActionContext) -> None:
    pending = ctx.state.data.get("pending_cancel")
    if pending and _EXPLICIT_YES.match(ctx.message.text):
        await confirm_cancel(ctx, pending)
        return
    verified = ctx.state.data.get("verified_orders") or []
    number = normalize_order_number(str(ent(ctx, "order_number") or "")) or (verified[-1] if verified else "")
    await ask_cancel(ctx, number)


@registry.override
async def cancel_my_order(ctx: ActionContext) -> str | None:
    """"Cancel my order", and the explicit yes that answers its question; anything else keeps the order."""
    pending = ctx.state.data.get("pending_cancel")
    if pending and _EXPLICIT_YES.match(ctx.message.text):
        return "cancel_order"
    if pending:
        ctx.state.data.pop("pending_cancel", None)  # not an explicit yes: nothing is cancelled
    return "cancel_order" if _CANCEL_MY_ORDER.search(ctx.understanding.text) else None
