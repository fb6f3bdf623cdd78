"""Store hours and locations."""

from __future__ import annotations

from bots.shop_assistant.services import registry, svc
from core.actions import ActionContext


@registry.intent("store_hours", templates=("store_hours",))
async def store_hours(ctx: ActionContext) -> None:
    services = svc(ctx)
    today = services.backend.today()
    lines = []
    for store in services.stores:
        hours = store.opening(today)
        when = f"{hours[0]:%H:%M}–{hours[1]:%H:%M}" if hours else ctx.text("closed")
        lines.append(f"• {store.name}: {when}")
        ctx.cite(f"store:{store.id}")
    day = today.strftime("%a %d %b") if ctx.lang == "en" else f"{today.month}月{today.day}日"
    ctx.say("store_hours", day=day, lines="\n".join(lines))


@registry.intent("store_locations", templates=("store_locations",))
async def store_locations(ctx: ActionContext) -> None:
    lines = []
    for store in svc(ctx).stores:
        lines.append(f"• {store.name}: {store.address}, {store.city} {store.postal_code} ({store.phone})")
        ctx.cite(f"store:{store.id}")
    ctx.say("store_locations", lines="\n".join(lines))
