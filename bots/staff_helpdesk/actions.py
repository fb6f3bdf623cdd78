"""The staff helpdesk's actions: procedures, stock by store, order look-ups, the handoff queue.

Staff-only data (other customers' orders, the handoff queue) is shown only to
authorised staff: a message is authorised when its user, channel or workspace
is listed in ``settings.staff_allowlist``. Stock figures and procedures are for
anyone who can reach this bot (it is only routed from staff channels and the
``/staff`` command).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.actions import ActionContext, ActionRegistry, SetupContext
from core.commands import show_help
from core.commerce.catalog import Catalog
from core.commerce.entities import EntityExtractor
from core.commerce.inventory import Inventory, InventoryItem, load_inventory
from core.commerce.search import ProductSearch, catalog_services
from core.commerce.shopdata import (
    OrderBook,
    Procedure,
    Store,
    load_orders,
    load_procedures,
    load_stores,
    normalize_order_number,
    procedure_passages,
)
from core.events import NotSure
from core.handoff import open_tickets
from core.privacy import mask_pii
from core.retrieval import PassageHit, PassageIndex, confident
from core.settings import Settings

MAX_ROWS = 24
_ORDER_NO = re.compile(r"(?:#|\bsk-?|\border\s+(?:no\.?\s*|number\s*)?)(\d{3,8})\b|\b(\d{4,6})\b", re.IGNORECASE)

registry = ActionRegistry()


@dataclass(frozen=True, kw_only=True)
class StaffServices:
    """What the helpdesk's actions use; built once by :func:`setup`."""

    procedures: dict[str, Procedure]
    procedure_index: PassageIndex
    inventory: Inventory
    catalog: Catalog
    search: ProductSearch
    entities: EntityExtractor
    stores: tuple[Store, ...]
    orders: OrderBook


async def setup(ctx: SetupContext) -> StaffServices:
    """Load procedures, inventory, catalogue, stores and orders; embed procedures and products once."""
    encoder = ctx.encoder
    if encoder is None:
        raise ValueError("the staff helpdesk needs a text encoder")
    data = ctx.bot_dir / "data"
    shop = ctx.bot_dir.parent / "shop_assistant" / "data"
    catalog_path = Path(ctx.catalog) if ctx.catalog else shop / "products.csv"

    def build() -> StaffServices:
        procedures = load_procedures(data / "procedures.yaml")
        catalog, search, entities = ctx.share(("catalog", catalog_path.resolve()), lambda: catalog_services(
            catalog_path, encoder))
        return StaffServices(
            procedures={p.id: p for p in procedures},
            procedure_index=PassageIndex(passages=procedure_passages(procedures), encoder=encoder),
            inventory=load_inventory(data / "inventory.csv"),
            catalog=catalog,
            search=search,
            entities=entities,
            stores=load_stores(shop / "stores.yaml"),
            orders=load_orders(shop / "orders.yaml"),
        )

    return await asyncio.to_thread(build)


def _svc(ctx: ActionContext) -> StaffServices:
    return ctx.services


@registry.entities
def extract_entities(ctx: ActionContext) -> Any:
    return _svc(ctx).entities.extract(ctx.understanding.text)


def allowlist(settings: Settings) -> frozenset[str]:
    return frozenset(part.strip() for part in settings.staff_allowlist.split(",") if part.strip())


def is_authorised(ctx: ActionContext) -> bool:
    """The message's user, channel or workspace is on the staff allowlist."""
    allowed = allowlist(ctx.settings)
    key = ctx.message.conversation
    return any(v and v in allowed for v in (ctx.message.user_id, key.chat, key.workspace))


# --------------------------------------------------------------------------- small talk


registry.replies({
    "greet": "greet",
    "thanks": "thanks",
    "goodbye": "goodbye",
    "cancel": "nothing_to_cancel",
})
registry.intent("help", templates=("help",))(show_help)
registry.command("queue", intent="handoff_queue", description="command_queue")


# --------------------------------------------------------------------------- procedures


def _entry(hit: PassageHit) -> str:
    return f"{hit.passage.title} (`{hit.passage.id}`)"


@registry.intent("procedure_question", templates=("procedure_answer", "procedure_unsure"))
async def procedure_question(ctx: ActionContext) -> None:
    services = _svc(ctx)
    hits = await services.procedure_index.query(ctx.understanding.text, k=3,
                                                query_embedding=ctx.understanding.embedding)
    best = hits[0] if hits else None
    if best is None or not confident(best):
        ctx.report(NotSure(score=best.score if best is not None else 0.0))
        for hit in hits:
            ctx.cite(f"procedure:{hit.passage.id}")
        ctx.say("procedure_unsure", entries="; ".join(_entry(h) for h in hits) or "-")
        return
    procedure = services.procedures[best.passage.id]
    ctx.cite(f"procedure:{procedure.id}")
    steps = "\n".join(f"{i}. {step}" for i, step in enumerate(procedure.steps, 1))
    ctx.say("procedure_answer", title=procedure.title, id=procedure.id, steps=steps)


# --------------------------------------------------------------------------- stock


def short_location(location: str, locations: Sequence[str]) -> str:
    """Drop the words every location shares ("Northwind Midtown" → "Midtown")."""
    shared = set.intersection(*(set(loc.split()) for loc in locations)) if len(locations) > 1 else set()
    return " ".join(w for w in location.split() if w not in shared) or location


def _store_aliases(stores: Sequence[Store]) -> dict[str, list[str]]:
    return {s.name: [s.id, *s.id.split("_")] for s in stores}


def _variant_fits(item: InventoryItem, colors: Sequence[str], sizes: Sequence[str]) -> bool:
    values = {v.lower() for _, v in item.options}
    if colors and not values & {c.lower() for c in colors}:
        return False
    return not (sizes and not values & {s.lower() for s in sizes})


def stock_table(items: Sequence[InventoryItem], locations: Sequence[str], all_locations: Sequence[str]) -> str:
    """A fixed-width table: one row per variant, one column per location (available units)."""
    headers = [short_location(loc, all_locations) for loc in locations]
    labels = [f"{item.variant_title} {item.sku}" for item in items]
    width = max([len("Variant / SKU"), *map(len, labels)])
    lines = ["  ".join(["Variant / SKU".ljust(width), *headers])]
    for label, item in zip(labels, items):
        cells = []
        for location, header in zip(locations, headers):
            level = item.at(location)
            cells.append(str(level.available if level else "-").rjust(len(header)))
        lines.append("  ".join([label.ljust(width), *cells]))
    return "\n".join(lines)


@registry.intent("stock_lookup", templates=("stock_table", "stock_also", "stock_none", "stock_no_inventory"))
async def stock_lookup(ctx: ActionContext) -> None:
    services = _svc(ctx)
    inventory = services.inventory
    text = ctx.understanding.text
    location = inventory.match_location(text, _store_aliases(services.stores))
    locations = [location] if location else list(inventory.locations)
    where = f" at {location}" if location else ""
    skus = inventory.find_skus(text)
    if skus:
        for item in skus:
            ctx.cite(f"sku:{item.sku}")
        first = skus[0]
        ctx.say("stock_table", title=first.title, handle=first.handle, where=where,
                table=stock_table(skus, locations, inventory.locations), more="")
        return
    hits = await services.search.search(text, k=3, query_embedding=ctx.understanding.embedding)
    if not hits:
        ctx.say("stock_none")
        return
    product = hits[0].product
    ctx.cite(f"product:{product.handle}")
    items = inventory.for_handle(product.handle)
    if not items:
        ctx.say("stock_no_inventory", title=product.title)
        return
    colors = tuple(getattr(ctx.entities, "colors", ()) or ())
    sizes = tuple(getattr(ctx.entities, "sizes", ()) or ())
    fitting = [item for item in items if _variant_fits(item, colors, sizes)] or items
    shown = fitting[:MAX_ROWS]
    more = f"\n…and {len(fitting) - len(shown)} more variants; add a colour or size." if len(fitting) > len(shown) else ""
    ctx.say("stock_table", title=product.title, handle=product.handle, where=where,
            table=stock_table(shown, locations, inventory.locations), more=more)
    others = [h.product for h in hits[1:] if h.score >= hits[0].score * 0.9]
    if others:
        ctx.say("stock_also", others=", ".join(f"{p.title} (`{p.handle}`)" for p in others))


# --------------------------------------------------------------------------- orders


def _order_number(ctx: ActionContext) -> str | None:
    found = getattr(ctx.entities, "order_number", None)
    if found:
        return normalize_order_number(str(found)) or str(found)
    match = _ORDER_NO.search(ctx.understanding.text)
    if match is None:
        return None
    return f"#{match.group(1) or match.group(2)}"


@registry.intent("order_lookup", templates=("staff_only", "order_which", "order_not_found", "order_details"))
async def order_lookup(ctx: ActionContext) -> None:
    if not is_authorised(ctx):
        ctx.say("staff_only")
        return
    number = _order_number(ctx)
    if number is None:
        ctx.say("order_which")
        return
    order = _svc(ctx).orders.find(number)
    if order is None:
        ctx.say("order_not_found", number=number)
        return
    ctx.cite(f"order:{order.number}")
    items = "; ".join(f"{li.quantity} × {li.title} {li.variant_title} ({li.sku})".replace("  ", " ")
                      for li in order.line_items)
    shipping = ""
    if order.carrier and order.tracking_number:
        shipping = f"; {order.carrier} {order.tracking_number}"
    if order.pickup_store:
        shipping += f"; pickup at {order.pickup_store}"
    contact = ", ".join(mask_pii(v) for v in (order.customer.email, order.customer.phone) if v) or "-"
    ctx.say("order_details", number=order.number, status=order.status.value,
            placed=f"{order.created_at:%Y-%m-%d}", customer=order.customer.name, contact=contact,
            items=items, total=f"{order.total:.2f} {order.currency}", shipping=shipping)


# --------------------------------------------------------------------------- handoff queue


@registry.intent("handoff_queue", templates=("queue_empty", "queue_list", "staff_only"))
async def handoff_queue(ctx: ActionContext) -> None:
    if not is_authorised(ctx):
        ctx.say("staff_only")
        return
    tickets = await open_tickets(ctx.store)
    if not tickets:
        ctx.say("queue_empty")
        return
    lines = []
    for t in tickets:
        ctx.cite(f"handoff:{t.id}")
        # Masked here too: tickets stored before reasons were masked at the source.
        who = mask_pii(t.user_name) or "shopper"
        claimed = f", claimed by {t.claimed_by.label}" if t.claimed_by else ""
        lines.append(f"• {t.id}: {who} on {t.shopper.platform.value}, {mask_pii(t.reason).replace('_', ' ')}, "
                     f"{t.status.value}{claimed}, since {t.opened_at:%H:%M} UTC")
    ctx.say("queue_list", count=len(tickets), lines="\n".join(lines))
