"""Store hours and locations.

"Today" is each store's own date when the shopper wrote (the message's
timestamp, on the store's clock in its time zone): never the demo's fixed
order date. Special days (holidays, short hours) come from ``stores.yaml``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time

from bots.shop_assistant.services import registry, svc
from core.actions import ActionContext
from core.commerce.shopdata import SpecialDay, Store

#: How far ahead special days (closures, short hours) are announced.
SPECIAL_DAYS_AHEAD = 14


def _day(day: date, lang: str) -> str:
    return day.strftime("%a %d %b") if lang != "zh" else f"{day.month}月{day.day}日"


def _span(hours: tuple[time, time] | None, ctx: ActionContext) -> str:
    return f"{hours[0]:%H:%M}–{hours[1]:%H:%M}" if hours else ctx.text("closed")


def _status(store: Store, now: datetime, ctx: ActionContext) -> str:
    """"open now" / "opens at 10:00" / "closed now", on the store's clock; "" when closed all day."""
    hours = store.opening(now.date())
    if hours is None:
        return ""
    if now.time() < hours[0]:
        return ctx.text("store_opens_at", time=f"{hours[0]:%H:%M}")
    return ctx.text("store_open_now" if now.time() < hours[1] else "store_closed_now")


def _today_line(store: Store, now: datetime, ctx: ActionContext) -> str:
    notes = [note for note in (_status(store, now, ctx), _special_name(store.holidays.get(now.date()), ctx)) if note]
    suffix = "" if not notes else f"（{'，'.join(notes)}）" if ctx.lang == "zh" else f" ({', '.join(notes)})"
    return f"• {store.name}: {_span(store.opening(now.date()), ctx)}{suffix}"


def _special_name(special: SpecialDay | None, ctx: ActionContext) -> str:
    return special.name_in(ctx.lang) if special is not None else ""


def _special_lines(stores: Sequence[Store], local_now: dict[str, datetime], ctx: ActionContext) -> list[str]:
    """One line per coming special day (after today): its name, then each store it changes."""
    by_day: dict[date, list[tuple[Store, SpecialDay]]] = {}
    for store in stores:
        today = local_now[store.id].date()
        for day, special in store.special_days(today, SPECIAL_DAYS_AHEAD + 1):
            if day != today:
                by_day.setdefault(day, []).append((store, special))
    lines = []
    for day in sorted(by_day):
        entries = by_day[day]
        name = next((n for _, special in entries if (n := special.name_in(ctx.lang))), "")
        stores_text = ", ".join(f"{store.name} {_span(store.opening(day), ctx)}" for store, _ in entries)
        lines.append(f"• {_day(day, ctx.lang)}{f' {name}' if name else ''}: {stores_text}")
    return lines


@registry.intent("store_hours", templates=("store_hours", "store_special_days", "store_open_now", "store_opens_at",
                                           "store_closed_now", "closed"))
async def store_hours(ctx: ActionContext) -> None:
    stores = svc(ctx).stores
    local_now = {store.id: store.local(ctx.message.timestamp) for store in stores}
    for store in stores:
        ctx.cite(f"store:{store.id}")
    days = sorted({now.date() for now in local_now.values()})
    lines = [_today_line(store, local_now[store.id], ctx) for store in stores]
    ctx.say("store_hours", day=" / ".join(_day(d, ctx.lang) for d in days), lines="\n".join(lines))
    special = _special_lines(stores, local_now, ctx)
    if special:
        ctx.say("store_special_days", lines="\n".join(special))


@registry.intent("store_locations", templates=("store_locations",))
async def store_locations(ctx: ActionContext) -> None:
    lines = []
    for store in svc(ctx).stores:
        lines.append(f"• {store.name}: {store.address}, {store.city} {store.postal_code} ({store.phone})")
        ctx.cite(f"store:{store.id}")
    ctx.say("store_locations", lines="\n".join(lines))
