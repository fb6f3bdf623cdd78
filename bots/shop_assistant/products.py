"""Finding products: search and its refinements, details, similar and "goes with", stock questions."""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any

from bots.shop_assistant.memory import Filters, SearchContext, last_search, remember_search
from bots.shop_assistant.services import (
    PAGE,
    POSITION,
    content_words,
    ent,
    maybe,
    money,
    pick,
    registry,
    svc,
)
from core.actions import ActionContext
from core.commerce.catalog import Product, Variant
from core.commerce.search import SearchHit
from core.events import ItemViewed, Searched
from core.messages import Button, ProductCard, StockState


def filters_from(ctx: ActionContext, base: Filters | None = None) -> Filters:
    """The last search's filters updated with this message's entities."""
    said: dict[str, Any] = {}
    for name in ("colors", "sizes", "product_types"):
        value = ent(ctx, name)
        if value:
            said[name] = list(value)
    for name in ("price_min", "price_max"):
        value = ent(ctx, name)
        if value is not None:
            said[name] = value
    if ent(ctx, "in_stock"):
        said["in_stock"] = True
    return Filters.model_validate({**(base or Filters()).model_dump(), **said})


def _has_filters(ctx: ActionContext) -> bool:
    return any(ent(ctx, n) for n in ("colors", "sizes")) or any(
        ent(ctx, n) is not None for n in ("price_min", "price_max")
    ) or bool(ent(ctx, "in_stock"))


def _pick_variant(product: Product, filters: Filters) -> Variant:
    """The variant a card shows: matching the filters and buyable when possible."""
    colors = {c.lower() for c in filters.colors}
    sizes = {s.lower() for s in filters.sizes}

    def fits(v: Variant) -> bool:
        return (not colors or (v.color or "").lower() in colors) and (not sizes or (v.size or "").lower() in sizes)

    ranked = sorted(product.variants, key=lambda v: (not fits(v), not v.buyable))
    return ranked[0]


def product_card(ctx: ActionContext, product: Product, filters: Filters | None = None,
                 variant: Variant | None = None) -> ProductCard:
    """A product as a card with "Details" and (when buyable) "Add to cart" buttons."""
    variant = variant or _pick_variant(product, filters or Filters())
    buyable = [v for v in product.variants if v.buyable]
    buttons = [ctx.button("button_details", f"details:{product.handle}")]
    if buyable:
        target = buyable[0].sku if len(buyable) == 1 else product.handle
        buttons.append(ctx.button("button_add", f"add:{target}"))
    stock = variant.stock if variant.buyable or not buyable else StockState.IN_STOCK
    return ProductCard(
        handle=product.handle,
        title=product.title,
        price=variant.price,
        compare_at_price=variant.compare_at_price if variant.on_sale else None,
        image_url=variant.image_url or product.image_url,
        url=f"{ctx.settings.shop_url}/products/{product.handle}",
        variant_id=variant.id,
        sku=variant.sku,
        variant_title=variant.title if len(product.variants) > 1 else None,
        stock=stock,
        subtitle=product.product_type or None,
        buttons=tuple(buttons),
    )


def _show(ctx: ActionContext, key: str, hits: Sequence[SearchHit], filters: Filters | None = None,
          *, more: bool = False, **values: Any) -> None:
    ctx.state.data["shown"] = [h.product.handle for h in hits]
    for h in hits:
        ctx.cite(f"product:{h.product.handle}")
    buttons = [ctx.button("button_show_more", "intent:show_more")] if more else []
    cards = [product_card(ctx, h.product, filters, h.matched_variant) for h in hits]
    ctx.say(key, cards=cards, buttons=buttons, count=len(hits), **values)


async def _run_search(ctx: ActionContext, *, query: str, filters: Filters, offset: int,
                      use_embedding: bool, header: str = "search_results") -> bool:
    hits = await maybe(svc(ctx).search.search(
        query,
        filters=filters.for_search(),
        k=PAGE,
        offset=offset,
        query_embedding=ctx.understanding.embedding if use_embedding else None,
    ))
    if offset == 0:  # a new or refined search (paging on is not another search)
        ctx.report(Searched(query=query, results=len(hits)))
    if not hits:
        return False
    remember_search(ctx.state, SearchContext(query=query, filters=filters, offset=offset))
    _show(ctx, header, hits, filters, more=len(hits) == PAGE)
    return True


@registry.intent("product_search", "recommend", templates=("search_results", "recommend_results", "search_none"))
async def product_search(ctx: ActionContext) -> None:
    filters = filters_from(ctx)
    header = "recommend_results" if ctx.intent == "recommend" else "search_results"
    if not await _run_search(ctx, query=ctx.understanding.text, filters=filters, offset=0,
                             use_embedding=True, header=header):
        ctx.say("search_none")


#: Intents an entities-only message ("size M", "in blue") is often taken for after a search.
_REFINABLE = frozenset({"product_search", "recommend", "stock_check", "size_help"})


@registry.override
async def follow_up(ctx: ActionContext) -> str | None:
    """Entities-only follow-ups ("in blue", "size M", "under $40") refine the last search."""
    u = ctx.understanding
    if POSITION.fullmatch(ctx.message.text.strip()) and ctx.state.data.get("shown"):
        return "product_details"  # "2": the second item of the list just shown
    if last_search(ctx.state) is None or ent(ctx, "product_types"):
        return None
    if ent(ctx, "list_index") and not u.out_of_scope:
        return None  # "is the first one in stock in M?": about a shown item, not a new search
    if ent(ctx, "sort") == "cheaper" and (u.out_of_scope or u.ambiguous or u.intent == "product_search"):
        return "refine_cheaper"
    if not _has_filters(ctx):
        return None
    if u.out_of_scope or u.ambiguous or u.intent in _REFINABLE:
        if u.intent == "stock_check" and ctx.state.data.get("focus") and not u.out_of_scope:
            return None
        return "refine_search"
    return None


#: "hoodie or mug", "jeans or a dress?", "卫衣还是杯子": two kinds of product offered as alternatives.
_ALTERNATIVES = re.compile(r"\bor\b|/|还是|或者|或", re.IGNORECASE)
_BROWSE = "browse:"


@registry.override
async def choose_between_types(ctx: ActionContext) -> str | None:
    """Two product types given as alternatives: ask which, rather than guess."""
    types = ent(ctx, "product_types") or ()
    if len(types) >= 2 and _ALTERNATIVES.search(ctx.understanding.text):
        return "choose_product_type"
    return None


@registry.intent("choose_product_type", templates=("clarify_type",))
async def choose_product_type(ctx: ActionContext) -> None:
    types = list(ent(ctx, "product_types") or ())[:5]
    ctx.say("clarify_type", buttons=[Button(label=t, payload=f"{_BROWSE}{t}") for t in types])


@registry.payload(_BROWSE)
async def browse_type(ctx: ActionContext, product_type: str) -> None:
    """A button from :func:`choose_product_type`: search that type, keeping nothing else."""
    filters = Filters(product_types=[product_type])
    if not await _run_search(ctx, query=product_type, filters=filters, offset=0, use_embedding=False):
        ctx.say("search_none")


@registry.intent("refine_search", templates=("search_no_context",))
async def refine_search(ctx: ActionContext) -> None:
    last = last_search(ctx.state)
    if last is None:
        ctx.say("search_no_context")
        return
    filters = filters_from(ctx, last.filters)
    if not await _run_search(ctx, query=last.query, filters=filters, offset=0, use_embedding=False):
        ctx.say("search_none")


@registry.intent("show_more", templates=("search_more", "search_no_more"))
async def show_more(ctx: ActionContext) -> None:
    last = last_search(ctx.state)
    if last is None:
        ctx.say("search_no_context")
        return
    if not await _run_search(ctx, query=last.query, filters=last.filters, offset=last.offset + PAGE,
                             use_embedding=False, header="search_more"):
        ctx.say("search_no_more")


@registry.intent("refine_cheaper", templates=("cheaper_none",))
async def refine_cheaper(ctx: ActionContext) -> None:
    last = last_search(ctx.state)
    if last is None:
        await product_search(ctx)
        return
    catalog = svc(ctx).catalog
    shown = [p for h in ctx.state.data.get("shown", []) if (p := catalog.get(h)) is not None]
    filters = filters_from(ctx, last.filters)
    if shown and ent(ctx, "price_max") is None:
        cheapest = min(p.min_price for p in shown)
        filters.price_max = max(cheapest - Decimal("0.01"), Decimal(0))
    filters.sort = "price_asc"
    if not await _run_search(ctx, query=last.query, filters=filters, offset=0, use_embedding=False):
        ctx.say("cheaper_none")


@lru_cache(maxsize=8192)
def _title_words(title: str) -> tuple[str, ...]:
    """A title's content words, tokenised once (matching a text scans the whole catalogue)."""
    return tuple(sorted(content_words(title)))


def _title_match(text: str, products: Sequence[Product]) -> Product | None:
    """The product whose title the text mentions (all title words, or most of them)."""
    words = content_words(text)
    best, best_share = None, 0.0
    for p in products:
        title = _title_words(p.title)
        if not title:
            continue
        share = sum(w in words for w in title) / len(title)
        if share > best_share:
            best, best_share = p, share
    return best if best_share >= 0.6 else None


def target_product(ctx: ActionContext, handle: str | None = None) -> Product | None:
    """The product meant: a button's handle, "the second one", a named one, or the one in focus."""
    catalog = svc(ctx).catalog
    if handle:
        product = catalog.get(handle)
        return product if product is not None and product.offered else None
    shown = [p for h in ctx.state.data.get("shown", []) if (p := catalog.get(h)) is not None]
    if (picked := pick(ctx, shown)) is not None:
        return picked
    text = ctx.understanding.text
    if text:
        named = _title_match(text, shown) or _title_match(text, catalog.offered())
        if named is not None:
            return named
    focus = ctx.state.data.get("focus")
    if focus and (product := catalog.get(focus)) is not None:
        return product
    return shown[0] if len(shown) == 1 else None


def _stock_text(ctx: ActionContext, product: Product) -> str:
    states = {v.stock for v in product.variants if v.buyable}
    if not states:
        return ctx.text("stock_text_out")
    if StockState.IN_STOCK in states:
        return ctx.text("stock_text_in")
    return ctx.text("stock_text_low")


async def _details(ctx: ActionContext, product: Product) -> None:
    ctx.state.data["focus"] = product.handle
    ctx.cite(f"product:{product.handle}")
    ctx.report(ItemViewed(item_id=product.handle, title=product.title))
    description = product.body_text.split(". ")[0].strip().rstrip(".") + "." if product.body_text else ""
    ctx.say(
        "details",
        cards=[product_card(ctx, product)],
        buttons=[
            ctx.button("button_similar", f"similar:{product.handle}"),
            ctx.button("button_goes_with", f"goes_with:{product.handle}"),
        ],
        title=product.title,
        price=money(product.min_price) if product.min_price == product.max_price
        else f"{money(product.min_price)}–{money(product.max_price)}",
        description=description,
        colors=", ".join(product.colors) or "-",
        sizes=", ".join(product.sizes) or "-",
        stock=_stock_text(ctx, product),
    )


@registry.intent("product_details", templates=("details",))
async def product_details(ctx: ActionContext) -> None:
    product = target_product(ctx)
    if product is None:
        ctx.say("which_product")
        return
    await _details(ctx, product)


@registry.payload("details:")
async def details_button(ctx: ActionContext, handle: str) -> None:
    product = target_product(ctx, handle)
    if product is None:
        ctx.say("which_product")
        return
    await _details(ctx, product)


async def _related(ctx: ActionContext, product: Product | None, kind: str) -> None:
    if product is None:
        ctx.say("which_product")
        return
    ctx.state.data["focus"] = product.handle
    search = svc(ctx).search
    finder = search.similar if kind == "similar" else search.goes_with
    hits = await maybe(finder(product.handle, k=PAGE))
    if not hits:
        ctx.say("no_recommendations")
        return
    ctx.cite(f"product:{product.handle}")
    _show(ctx, f"{kind}_results", hits, title=product.title)


@registry.intent("similar_products", templates=("similar_results", "no_recommendations"))
async def similar_products(ctx: ActionContext) -> None:
    await _related(ctx, target_product(ctx), "similar")


@registry.intent("goes_with", templates=("goes_with_results",))
async def goes_with(ctx: ActionContext) -> None:
    await _related(ctx, target_product(ctx), "goes_with")


@registry.payload("similar:")
async def similar_button(ctx: ActionContext, handle: str) -> None:
    await _related(ctx, target_product(ctx, handle), "similar")


@registry.payload("goes_with:")
async def goes_with_button(ctx: ActionContext, handle: str) -> None:
    await _related(ctx, target_product(ctx, handle), "goes_with")


def matching_variants(ctx: ActionContext, product: Product, *, use_search: bool = False) -> list[Variant]:
    """Variants fitting the colours/sizes said now (or, for a button, those of the last search)."""
    colors = {c.lower() for c in ent(ctx, "colors") or ()}
    sizes = {s.lower() for s in ent(ctx, "sizes") or ()}
    if use_search and not (colors or sizes):
        search = last_search(ctx.state)
        last = search.filters if search is not None else Filters()
        colors = {c.lower() for c in last.colors}
        sizes = {s.lower() for s in last.sizes}
        fitting = [v for v in product.variants
                   if (not colors or (v.color or "").lower() in colors)
                   and (not sizes or (v.size or "").lower() in sizes)]
        return fitting if any(v.buyable for v in fitting) else list(product.variants)
    return [
        v for v in product.variants
        if (not colors or (v.color or "").lower() in colors) and (not sizes or (v.size or "").lower() in sizes)
    ]


@registry.intent("stock_check", templates=("stock_in", "stock_low", "stock_out", "stock_summary", "stock_none"))
async def stock_check(ctx: ActionContext) -> None:
    product = target_product(ctx)
    if product is None:
        if ent(ctx, "product_types") or ctx.understanding.text:
            await product_search(ctx)
        else:
            ctx.say("which_product")
        return
    ctx.state.data["focus"] = product.handle
    ctx.cite(f"product:{product.handle}")
    candidates = matching_variants(ctx, product) if _has_filters(ctx) else []
    if len(candidates) == 1:
        v = candidates[0]
        key = {StockState.IN_STOCK: "stock_in", StockState.LOW_STOCK: "stock_low"}.get(v.stock, "stock_out")
        if v.buyable:
            ctx.say(key, title=product.title, variant=v.title)
            return
        # Sold out: offer to say when it is back (bots.shop_assistant.alerts).
        ctx.state.data["sold_out"] = v.sku or v.id
        buttons = [ctx.button("button_notify_stock", f"notify:stock:{v.sku or v.id}")] if svc(ctx).notifier else []
        ctx.say("stock_out", buttons=buttons, title=product.title, variant=v.title)
        return
    pool = candidates or list(product.variants)
    available = [v.title for v in pool if v.buyable]
    if available:
        ctx.say("stock_summary", title=product.title, available=", ".join(available[:12]))
    else:
        ctx.say("stock_none", title=product.title)
