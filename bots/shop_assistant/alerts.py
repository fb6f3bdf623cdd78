"""Opt-in updates: "tell me when it's back in stock", and ``/notify`` to list or stop every update.

Shipping updates are offered with a verified order (:mod:`.orders`); stock
updates with a sold-out variant (:mod:`.products`). Nobody is messaged who
did not ask; ``/notify off`` stops everything and ``/forget`` erases it.
"""

from __future__ import annotations

import re

from bots.shop_assistant.services import registry, shop_url, svc
from core.actions import ActionContext

NOTIFY_STOCK = "notify:stock:"
_TELL_WHEN_BACK = re.compile(
    r"\b(tell|notify|message|ping|let)\s+me\b.*\b(back|restock(ed)?|in stock|available)\b|到货.*(通知|告诉)|(通知|告诉).*到货",
    re.IGNORECASE)


async def subscribe_stock(ctx: ActionContext, sku_or_id: str) -> None:
    services = svc(ctx)
    found = services.catalog.find_variant(sku_or_id) if sku_or_id else None
    if found is None or services.notifier is None:
        ctx.say("notify_stock_which")
        return
    product, variant = found
    title = product.title if len(product.variants) == 1 else f"{product.title} ({variant.title})"
    if variant.buyable and product.offered:
        ctx.say("notify_stock_in", title=title)
        return
    url = f"{shop_url(ctx)}/products/{product.handle}" + (f"?variant={variant.id}" if variant.id else "")
    await services.notifier.subscribe(kind="stock", target=variant.id or variant.sku, label=title, url=url,
                                      conversation=ctx.message.conversation, user_id=ctx.message.user_id,
                                      lang=ctx.lang)
    ctx.cite(f"product:{product.handle}")
    ctx.say("notify_stock_on", title=title)


@registry.payload(NOTIFY_STOCK, templates=("notify_stock_on", "notify_stock_which", "notify_stock_in",
                                           "button_notify_stock"))
async def notify_stock_button(ctx: ActionContext, sku_or_id: str) -> None:
    await subscribe_stock(ctx, sku_or_id)


@registry.intent("notify_stock")
async def notify_stock(ctx: ActionContext) -> None:
    """"Tell me when it's back": the sold-out variant asked about last."""
    await subscribe_stock(ctx, str(ctx.state.data.get("sold_out") or ""))


@registry.override
async def tell_me_when_it_is_back(ctx: ActionContext) -> str | None:
    return "notify_stock" if _TELL_WHEN_BACK.search(ctx.understanding.text) else None


@registry.intent("manage_notifications", templates=("notify_off", "notify_list", "notify_none"))
async def manage_notifications(ctx: ActionContext) -> None:
    """``/notify off`` stops every update of this user; ``/notify`` lists them."""
    arg = ctx.understanding.text
    notifier = svc(ctx).notifier
    platform, user = ctx.message.conversation.platform, ctx.message.user_id
    if notifier is None:
        ctx.say("notify_none")
        return
    if arg.strip().lower() in ("off", "stop", "关闭"):
        ctx.say("notify_off", count=await notifier.unsubscribe_all(platform, user))
        return
    subs = await notifier.subscriptions(platform, user)
    if not subs:
        ctx.say("notify_none")
        return
    ctx.say("notify_list", items="; ".join(str(s.get("label") or "") for s in subs))
