"""The shopping assistant's actions: search, details, cart, orders, returns, stores, policies.

Conversation data kept in ``state.data`` (JSON only):

* ``search``: the last search ``{"query", "filters", "offset"}``, so follow-ups
  ("cheaper", "in blue", "size M", "show more") refine it;
* ``shown``: handles of the last product list, for "the second one";
* ``focus``: the handle of the product talked about last;
* ``cart``: lines ``{"sku", "variant_id", "handle", "title", "variant", "price", "qty"}``;
* ``verified_orders``: order numbers this conversation proved it owns;
* ``returns``: booked returns/exchanges ``{"rma", "kind", "order", "sku", "reason"}``.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from core.actions import ActionContext, ActionRegistry, SetupContext
from core.commands import request_handoff, show_help
from core.commerce.catalog import Catalog, Product, Variant
from core.commerce.entities import EntityExtractor
from core.commerce.search import ProductSearch, SearchFilters, SearchHit, catalog_services
from core.commerce.shopdata import (
    OrderBook,
    PolicyBook,
    Store,
    load_orders,
    load_policies,
    load_stores,
    normalize_order_number,
)
from core.forms import Form, Slot, button_value, deactivate, value_button
from core.messages import Button, ProductCard, StockState
from core.retrieval import PassageIndex, confident, tokenize

PAGE = 5
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_RMA_ALPHABET = string.ascii_uppercase + string.digits

registry = ActionRegistry(
    templates=(
        "button_details", "button_add", "button_similar", "button_goes_with", "button_show_more",
        "button_view_cart", "button_checkout", "button_remove", "which_product",
        "stock_text_in", "stock_text_low", "stock_text_out", "closed",
    )
)


@dataclass(frozen=True, kw_only=True)
class ShopServices:
    """What the shopping assistant's actions use; built once by :func:`setup`."""

    catalog: Catalog
    search: ProductSearch
    entities: EntityExtractor
    policies: PolicyBook
    policy_index: PassageIndex
    stores: tuple[Store, ...]
    orders: OrderBook


async def setup(ctx: SetupContext) -> ShopServices:
    """Load the catalogue and shop data and build the search indexes (embeds once)."""
    if ctx.encoder is None:
        raise ValueError("the shopping assistant needs a text encoder")
    data = ctx.bot_dir / "data"
    catalog_path = Path(ctx.catalog) if ctx.catalog else data / "products.csv"

    def build() -> ShopServices:
        catalog, search, entities = ctx.share(("catalog", catalog_path.resolve()), lambda: catalog_services(
            catalog_path, ctx.encoder))
        policies = load_policies(data / "policies.yaml")
        return ShopServices(
            catalog=catalog,
            search=search,
            entities=entities,
            policies=policies,
            policy_index=PassageIndex(passages=policies.passages(), encoder=ctx.encoder),
            stores=load_stores(data / "stores.yaml"),
            orders=load_orders(data / "orders.yaml"),
        )

    return await asyncio.to_thread(build)


def _svc(ctx: ActionContext) -> ShopServices:
    return ctx.services


@registry.entities
def extract_entities(ctx: ActionContext) -> Any:
    return _svc(ctx).entities.extract(ctx.understanding.text)


def _ent(ctx: ActionContext, name: str) -> Any:
    return getattr(ctx.entities, name, None) if ctx.entities is not None else None


#: A bare position typed as a reply ("2"). ASCII digits only: str.isdigit() also
#: accepts "²" or "¹9", which int() refuses.
_POSITION = re.compile(r"[0-9]{1,3}")


def _pick(ctx: ActionContext, items: Sequence[Any]) -> Any | None:
    """The item the user pointed at ("the second one", "2", "the last one")."""
    value = _ent(ctx, "list_index")
    text = ctx.message.text.strip()
    if value is None and _POSITION.fullmatch(text):
        value = int(text)
    if not isinstance(value, int) or not items:
        return None
    if value == -1:
        return items[-1]
    return items[value - 1] if 1 <= value <= len(items) else None


async def _maybe(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


# --------------------------------------------------------------------------- small talk


registry.replies({
    "greet": "greet",
    "thanks": "thanks",
    "goodbye": "goodbye",
    "bot_challenge": "bot_challenge",
    "affirm": "affirm",
    "deny": "deny",
    "cancel": "nothing_to_cancel",
})


registry.intent("help", templates=("help",))(show_help)
# Commands beyond the generic ones (/start /help /lang /why /forget /human /cancel).
registry.command("cart", intent="view_cart", description="command_cart")
registry.command("orders", intent="order_status", description="command_orders", accepts_text=True)


@registry.intent("human_handoff")
async def human_handoff(ctx: ActionContext) -> None:
    request_handoff(ctx.state, "user_request")
    ctx.say("handoff", handoff=True)


@registry.intent("complaint", templates=("complaint",))
async def complaint(ctx: ActionContext) -> None:
    ctx.say(
        "complaint",
        buttons=[
            ctx.button("button_talk_to_human", "cmd:human"),
            ctx.button("intent_return_request", "intent:return_request"),
        ],
    )


# --------------------------------------------------------------------------- products


def filters_from(ctx: ActionContext, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The last search's filters (JSON form) updated with this message's entities."""
    filters = dict(base or {})
    for name in ("colors", "sizes", "product_types"):
        value = _ent(ctx, name)
        if value:
            filters[name] = list(value)
    for name in ("price_min", "price_max"):
        value = _ent(ctx, name)
        if value is not None:
            filters[name] = str(value)
    if _ent(ctx, "in_stock"):
        filters["in_stock"] = True
    return filters


def _search_filters(filters: dict[str, Any]) -> SearchFilters:
    return SearchFilters(
        sort=filters.get("sort", "relevance"),
        colors=tuple(filters.get("colors", ())),
        sizes=tuple(filters.get("sizes", ())),
        product_types=tuple(filters.get("product_types", ())),
        price_min=Decimal(filters["price_min"]) if filters.get("price_min") else None,
        price_max=Decimal(filters["price_max"]) if filters.get("price_max") else None,
        in_stock=bool(filters.get("in_stock", False)),
    )


def _has_filters(ctx: ActionContext) -> bool:
    return any(_ent(ctx, n) for n in ("colors", "sizes")) or any(
        _ent(ctx, n) is not None for n in ("price_min", "price_max")
    ) or bool(_ent(ctx, "in_stock"))


def _pick_variant(product: Product, filters: dict[str, Any]) -> Variant:
    """The variant a card shows: matching the filters and buyable when possible."""
    colors = {c.lower() for c in filters.get("colors", ())}
    sizes = {s.lower() for s in filters.get("sizes", ())}

    def fits(v: Variant) -> bool:
        return (not colors or (v.color or "").lower() in colors) and (not sizes or (v.size or "").lower() in sizes)

    ranked = sorted(product.variants, key=lambda v: (not fits(v), not v.buyable))
    return ranked[0]


def _money(amount: Decimal, currency: str = "USD") -> str:
    return f"${amount:.2f}" if currency == "USD" else f"{amount:.2f} {currency}"


def product_card(ctx: ActionContext, product: Product, filters: dict[str, Any] | None = None,
                 variant: Variant | None = None) -> ProductCard:
    """A product as a card with "Details" and (when buyable) "Add to cart" buttons."""
    variant = variant or _pick_variant(product, filters or {})
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


def _show(ctx: ActionContext, key: str, hits: Sequence[SearchHit], filters: dict[str, Any] | None = None,
          *, more: bool = False, **values: Any) -> None:
    ctx.state.data["shown"] = [h.product.handle for h in hits]
    for h in hits:
        ctx.cite(f"product:{h.product.handle}")
    buttons = [ctx.button("button_show_more", "intent:show_more")] if more else []
    cards = [product_card(ctx, h.product, filters, h.matched_variant) for h in hits]
    ctx.say(key, cards=cards, buttons=buttons, count=len(hits), **values)


async def _run_search(ctx: ActionContext, *, query: str, filters: dict[str, Any], offset: int,
                      use_embedding: bool, header: str = "search_results") -> bool:
    hits = await _maybe(_svc(ctx).search.search(
        query,
        filters=_search_filters(filters),
        k=PAGE,
        offset=offset,
        query_embedding=ctx.understanding.embedding if use_embedding else None,
    ))
    if not hits:
        return False
    ctx.state.data["search"] = {"query": query, "filters": filters, "offset": offset}
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
    if _POSITION.fullmatch(ctx.message.text.strip()) and ctx.state.data.get("shown"):
        return "product_details"  # "2": the second item of the list just shown
    if "search" not in ctx.state.data or _ent(ctx, "product_types"):
        return None
    if _ent(ctx, "list_index") and not u.out_of_scope:
        return None  # "is the first one in stock in M?": about a shown item, not a new search
    if _ent(ctx, "sort") == "cheaper" and (u.out_of_scope or u.ambiguous or u.intent == "product_search"):
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
    types = _ent(ctx, "product_types") or ()
    if len(types) >= 2 and _ALTERNATIVES.search(ctx.understanding.text):
        return "choose_product_type"
    return None


@registry.intent("choose_product_type", templates=("clarify_type",))
async def choose_product_type(ctx: ActionContext) -> None:
    types = list(_ent(ctx, "product_types") or ())[:5]
    ctx.say("clarify_type", buttons=[Button(label=t, payload=f"{_BROWSE}{t}") for t in types])


@registry.payload(_BROWSE)
async def browse_type(ctx: ActionContext, product_type: str) -> None:
    """A button from :func:`choose_product_type`: search that type, keeping nothing else."""
    filters: dict[str, Any] = {"product_types": [product_type]}
    if not await _run_search(ctx, query=product_type, filters=filters, offset=0, use_embedding=False):
        ctx.say("search_none")


@registry.intent("refine_search", templates=("search_no_context",))
async def refine_search(ctx: ActionContext) -> None:
    last = ctx.state.data.get("search")
    if not last:
        ctx.say("search_no_context")
        return
    filters = filters_from(ctx, last["filters"])
    if not await _run_search(ctx, query=last["query"], filters=filters, offset=0, use_embedding=False):
        ctx.say("search_none")


@registry.intent("show_more", templates=("search_more", "search_no_more"))
async def show_more(ctx: ActionContext) -> None:
    last = ctx.state.data.get("search")
    if not last:
        ctx.say("search_no_context")
        return
    if not await _run_search(ctx, query=last["query"], filters=last["filters"], offset=last["offset"] + PAGE,
                             use_embedding=False, header="search_more"):
        ctx.say("search_no_more")


@registry.intent("refine_cheaper", templates=("cheaper_none",))
async def refine_cheaper(ctx: ActionContext) -> None:
    last = ctx.state.data.get("search")
    if not last:
        await product_search(ctx)
        return
    catalog = _svc(ctx).catalog
    shown = [p for h in ctx.state.data.get("shown", []) if (p := catalog.get(h)) is not None]
    filters = filters_from(ctx, last["filters"])
    if shown and _ent(ctx, "price_max") is None:
        cheapest = min(p.min_price for p in shown)
        filters["price_max"] = str(max(cheapest - Decimal("0.01"), Decimal(0)))
    filters["sort"] = "price_asc"
    if not await _run_search(ctx, query=last["query"], filters=filters, offset=0, use_embedding=False):
        ctx.say("cheaper_none")


def _words(text: str) -> set[str]:
    """Stemmed content words ("sneakers" and "Sneaker" agree)."""
    return {w for w in tokenize(text) if len(w) > 2 and not w.isdigit()}


@lru_cache(maxsize=8192)
def _title_words(title: str) -> tuple[str, ...]:
    """A title's content words, tokenised once (matching a text scans the whole catalogue)."""
    return tuple(sorted(_words(title)))


def _title_match(text: str, products: Sequence[Product]) -> Product | None:
    """The product whose title the text mentions (all title words, or most of them)."""
    words = _words(text)
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
    catalog = _svc(ctx).catalog
    if handle:
        product = catalog.get(handle)
        return product if product is not None and product.offered else None
    shown = [p for h in ctx.state.data.get("shown", []) if (p := catalog.get(h)) is not None]
    if (picked := _pick(ctx, shown)) is not None:
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
    description = product.body_text.split(". ")[0].strip().rstrip(".") + "." if product.body_text else ""
    ctx.say(
        "details",
        cards=[product_card(ctx, product)],
        buttons=[
            ctx.button("button_similar", f"similar:{product.handle}"),
            ctx.button("button_goes_with", f"goes_with:{product.handle}"),
        ],
        title=product.title,
        price=_money(product.min_price) if product.min_price == product.max_price
        else f"{_money(product.min_price)}–{_money(product.max_price)}",
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
    search = _svc(ctx).search
    finder = search.similar if kind == "similar" else search.goes_with
    hits = await _maybe(finder(product.handle, k=PAGE))
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


def _matching_variants(ctx: ActionContext, product: Product, *, use_search: bool = False) -> list[Variant]:
    """Variants fitting the colours/sizes said now (or, for a button, those of the last search)."""
    colors = {c.lower() for c in _ent(ctx, "colors") or ()}
    sizes = {s.lower() for s in _ent(ctx, "sizes") or ()}
    if use_search and not (colors or sizes):
        last = (ctx.state.data.get("search") or {}).get("filters", {})
        colors = {c.lower() for c in last.get("colors", ())}
        sizes = {s.lower() for s in last.get("sizes", ())}
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
        if _ent(ctx, "product_types") or ctx.understanding.text:
            await product_search(ctx)
        else:
            ctx.say("which_product")
        return
    ctx.state.data["focus"] = product.handle
    ctx.cite(f"product:{product.handle}")
    candidates = _matching_variants(ctx, product) if _has_filters(ctx) else []
    if len(candidates) == 1:
        v = candidates[0]
        key = {StockState.IN_STOCK: "stock_in", StockState.LOW_STOCK: "stock_low"}.get(v.stock, "stock_out")
        ctx.say(key if v.buyable else "stock_out", title=product.title, variant=v.title)
        return
    pool = candidates or list(product.variants)
    available = [v.title for v in pool if v.buyable]
    if available:
        ctx.say("stock_summary", title=product.title, available=", ".join(available[:12]))
    else:
        ctx.say("stock_none", title=product.title)


# --------------------------------------------------------------------------- cart


def _cart(ctx: ActionContext) -> list[dict[str, Any]]:
    return ctx.state.data.setdefault("cart", [])


def _cart_total(cart: Sequence[dict[str, Any]]) -> Decimal:
    return sum((Decimal(line["price"]) * line["qty"] for line in cart), Decimal(0))


def _cart_buttons(ctx: ActionContext) -> list[Button]:
    return [ctx.button("button_view_cart", "intent:view_cart"), ctx.button("button_checkout", "intent:checkout")]


def _quantity(ctx: ActionContext) -> int:
    qty = _ent(ctx, "quantity")
    return qty if isinstance(qty, int) and 0 < qty <= 20 else 1


def add_variant(ctx: ActionContext, product: Product, variant: Variant, qty: int = 1) -> bool:
    """Put a buyable variant in the cart; refuses (and says so) when it is not buyable."""
    label = variant.title if len(product.variants) > 1 else "-"
    if not (product.offered and variant.buyable):
        ctx.say("unavailable", title=product.title, variant=label)
        return False
    cart = _cart(ctx)
    line = next((item for item in cart if item["sku"] == variant.sku), None)
    if line is None:
        cart.append({"sku": variant.sku, "variant_id": variant.id, "handle": product.handle, "title": product.title,
                     "variant": label, "price": str(variant.price), "qty": qty})
    else:
        line["qty"] += qty
    ctx.state.data["focus"] = product.handle
    ctx.cite(f"product:{product.handle}")
    ctx.say("added", buttons=_cart_buttons(ctx), qty=qty, title=product.title, variant=label,
            count=sum(item["qty"] for item in cart), total=_money(_cart_total(cart)))
    return True


async def _add_product(ctx: ActionContext, product: Product, *, from_button: bool = False) -> None:
    """Add a product, asking which variant when several buyable ones fit."""
    candidates = _matching_variants(ctx, product, use_search=from_button)
    if not candidates:
        ctx.say("not_found_variant", title=product.title,
                available=", ".join(v.title for v in product.variants if v.buyable) or "-")
        return
    buyable = [v for v in candidates if v.buyable]
    if len(buyable) == 1:
        add_variant(ctx, product, buyable[0], _quantity(ctx))
    elif not buyable:
        ctx.say("unavailable", title=product.title,
                variant=candidates[0].title if len(candidates) == 1 else "-")
    else:
        ctx.state.data["focus"] = product.handle
        buttons = [Button(label=v.title, payload=f"variant:{v.sku}") for v in buyable[:24]]
        ctx.say("choose_variant", buttons=buttons, title=product.title)


@registry.intent("add_to_cart", templates=("added", "unavailable", "not_found_variant", "choose_variant"))
async def add_to_cart(ctx: ActionContext) -> None:
    product = target_product(ctx)
    if product is None:
        ctx.say("which_product")
        return
    await _add_product(ctx, product)


@registry.payload("add:")
async def add_button(ctx: ActionContext, sku_or_handle: str) -> None:
    catalog = _svc(ctx).catalog
    found = catalog.find_variant(sku_or_handle)
    if found is not None:
        add_variant(ctx, *found)
        return
    product = target_product(ctx, sku_or_handle)
    if product is None:
        ctx.say("which_product")
        return
    await _add_product(ctx, product, from_button=True)


@registry.payload("variant:")
async def variant_button(ctx: ActionContext, sku: str) -> None:
    found = _svc(ctx).catalog.find_variant(sku)
    if found is None:
        ctx.say("which_product")
        return
    add_variant(ctx, *found)


def _remove(ctx: ActionContext, sku: str) -> None:
    cart = _cart(ctx)
    line = next((item for item in cart if item["sku"] == sku), None)
    if line is None:
        ctx.say("remove_which")
        return
    cart.remove(line)
    ctx.say("removed", title=line["title"], count=sum(i["qty"] for i in cart), total=_money(_cart_total(cart)))


@registry.intent("remove_from_cart", templates=("removed", "remove_which", "cart_empty"))
async def remove_from_cart(ctx: ActionContext) -> None:
    cart = _cart(ctx)
    if not cart:
        ctx.say("cart_empty")
        return
    if (picked := _pick(ctx, cart)) is not None:
        _remove(ctx, picked["sku"])
        return
    words = _words(ctx.understanding.text)
    named = [line for line in cart if _words(line["title"]) & words]
    if len(named) == 1 or len(cart) == 1:
        _remove(ctx, (named or cart)[0]["sku"])
        return
    buttons = [ctx.button("button_remove", f"remove:{line['sku']}", title=line["title"]) for line in cart]
    ctx.say("remove_which", buttons=buttons)


@registry.payload("remove:")
async def remove_button(ctx: ActionContext, sku: str) -> None:
    _remove(ctx, sku)


@registry.intent("view_cart", templates=("cart_view",))
async def view_cart(ctx: ActionContext) -> None:
    cart = _cart(ctx)
    if not cart:
        ctx.say("cart_empty")
        return
    lines = "\n".join(
        f"{i}. {line['title']}" + (f" ({line['variant']})" if line["variant"] != "-" else "")
        + f" × {line['qty']}: {_money(Decimal(line['price']) * line['qty'])}"
        for i, line in enumerate(cart, 1)
    )
    ctx.say("cart_view", buttons=[ctx.button("button_checkout", "intent:checkout")],
            count=sum(line["qty"] for line in cart), lines=lines, total=_money(_cart_total(cart)))


def checkout_url(cart: Sequence[dict[str, Any]], *, shop_url: str, template: str) -> str:
    """Shopify cart permalink when every line has a variant id, else the SKU template."""
    if all(line.get("variant_id") for line in cart):
        return f"{shop_url}/cart/" + ",".join(f"{line['variant_id']}:{line['qty']}" for line in cart)
    items = ",".join(f"{line['sku']}:{line['qty']}" for line in cart)
    return template.format(shop_url=shop_url, items=items)


@registry.intent("checkout", templates=("checkout_link",))
async def checkout(ctx: ActionContext) -> None:
    cart = _cart(ctx)
    if not cart:
        ctx.say("cart_empty")
        return
    url = checkout_url(cart, shop_url=ctx.settings.shop_url, template=ctx.settings.cart_link_template)
    ctx.say("checkout_link", url=url, total=_money(_cart_total(cart)))


# --------------------------------------------------------------------------- orders


def _order_number(ctx: ActionContext) -> str | None:
    value = button_value(ctx) or _ent(ctx, "order_number") or ctx.message.text
    return normalize_order_number(str(value)) if value else None


def _identity(ctx: ActionContext) -> str | None:
    """The order's e-mail typed by the user, or the platform-verified phone."""
    if ctx.message.contact is not None:
        return ctx.message.contact.phone
    email = _ent(ctx, "email")
    if email:
        return str(email)
    match = _EMAIL.search(ctx.message.text)
    return match.group(0) if match else None


def _verified_order(ctx: ActionContext, values: dict[str, Any]) -> Any:
    """The order when the identity matches it; None otherwise (never says which part failed)."""
    order = _svc(ctx).orders.find(values.get("number") or "")
    if order is None:
        return None
    if values.get("identity") == "verified" and order.number in ctx.state.data.get("verified_orders", []):
        return order
    identity = values.get("identity")
    return order if identity and identity != "verified" and order.matches_contact(identity) else None


def _remember_verified(ctx: ActionContext, number: str) -> None:
    verified = ctx.state.data.setdefault("verified_orders", [])
    if number not in verified:
        verified.append(number)


def _prefill(ctx: ActionContext) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if (number := _ent(ctx, "order_number")) and (normal := normalize_order_number(str(number))):
        values["number"] = normal
        if normal in ctx.state.data.get("verified_orders", []):
            values["identity"] = "verified"
    # An e-mail is only taken together with the order number: it is then checked at once
    # and never sits in the stored state while the number is being asked for.
    if "number" in values and (identity := _identity(ctx)) is not None:
        values["identity"] = identity
    return values


async def _order_status_submit(ctx: ActionContext, values: dict[str, Any]) -> None:
    order = _verified_order(ctx, values)
    if order is None:
        ctx.say("order_not_verified")
        return
    _remember_verified(ctx, order.number)
    ctx.cite(f"order:{order.number}")
    details = ctx.text("order_items", items=", ".join(f"{li.title} × {li.quantity}" for li in order.line_items))
    if order.carrier and order.tracking_number:
        details += " " + ctx.text("order_tracking", carrier=order.carrier, tracking=order.tracking_number)
    ctx.say("order_status", number=order.number, status=ctx.text(f"status_{order.status.value}"), details=details)


_NUMBER_SLOT = Slot(name="number", prompt="ask_order_number", extract=_order_number, invalid="bad_order_number")
_IDENTITY_SLOT = Slot(name="identity", prompt="ask_identity", extract=_identity, invalid="bad_identity",
                      request_contact=True)

ORDER_STATUS_FORM = registry.form(Form(
    name="order_status",
    slots=(_NUMBER_SLOT, _IDENTITY_SLOT),
    submit=_order_status_submit,
    extra_templates=("order_not_verified", "order_status", "order_items", "order_tracking",
                     *(f"status_{s}" for s in ("pending", "paid", "fulfilled", "shipped", "delivered",
                                                "cancelled", "refunded"))),
))


@registry.intent("order_status")
async def order_status(ctx: ActionContext) -> None:
    await ORDER_STATUS_FORM.start(ctx, prefill=_prefill(ctx))


# --------------------------------------------------------------------------- returns


def _check_return_identity(ctx: ActionContext, identity: str) -> Any:
    """Verify the order before showing its items; check it is returnable at all."""
    values = {**ctx.state.form_slots, "identity": identity}
    order = _verified_order(ctx, values)
    if order is None:
        ctx.state.form_slots.pop("number", None)
        return "order_not_verified"
    _remember_verified(ctx, order.number)
    services = _svc(ctx)
    window = services.policies.returns.window_days
    if order.delivered_at is None:
        deactivate(ctx)
        return "return_not_delivered"
    if not order.within_return_window(services.orders.today(), window):
        deactivate(ctx)
        return ("return_window_closed", {"days": window})
    return None


def _current_order(ctx: ActionContext) -> Any:
    return _svc(ctx).orders.find(ctx.state.form_slots.get("number") or "")


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
    if (picked := _pick(ctx, items)) is not None:
        return picked.sku
    text = ctx.message.text.lower()
    for li in items:
        if li.sku.lower() in text:
            return li.sku
    words = _words(text)
    named = [li for li in items if _words(li.title) & words]
    return named[0].sku if len(named) == 1 else None


def _check_item(ctx: ActionContext, sku: str) -> Any:
    order = _current_order(ctx)
    item = next((li for li in order.line_items if li.sku == sku), None) if order else None
    if item is None:
        return "bad_return_item"
    rules = _svc(ctx).policies.returns
    product = _svc(ctx).catalog.get(item.handle)
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
        order = _svc(ctx).orders.find(values["number"])
        item = next(li for li in order.line_items if li.sku == values["item"])
        rma = _new_rma()
        ctx.state.data.setdefault("returns", []).append(
            {"rma": rma, "kind": kind, "order": order.number, "sku": item.sku, "reason": values["reason"]}
        )
        ctx.cite(f"order:{order.number}")
        ctx.cite("policy:returns_window")
        rules = _svc(ctx).policies.returns
        ctx.say(f"{kind}_done", rma=rma, title=item.title, days=rules.window_days, refund_days=rules.refund_days)

    return Form(
        name=kind,
        slots=(
            _NUMBER_SLOT,
            Slot(name="identity", prompt="ask_identity", extract=_identity, invalid="bad_identity",
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
    await RETURN_FORM.start(ctx, prefill=_prefill(ctx))


@registry.intent("exchange_request")
async def exchange_request(ctx: ActionContext) -> None:
    await EXCHANGE_FORM.start(ctx, prefill=_prefill(ctx))


# --------------------------------------------------------------------------- stores, policies


@registry.intent("store_hours", templates=("store_hours",))
async def store_hours(ctx: ActionContext) -> None:
    services = _svc(ctx)
    today = services.orders.today()
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
    for store in _svc(ctx).stores:
        lines.append(f"• {store.name}: {store.address}, {store.city} {store.postal_code} ({store.phone})")
        ctx.cite(f"store:{store.id}")
    ctx.say("store_locations", lines="\n".join(lines))


async def _answer_policy(ctx: ActionContext, policy_id: str | None = None) -> None:
    services = _svc(ctx)
    policy = services.policies.get(policy_id) if policy_id else None
    if policy is None:
        hits = await services.policy_index.query(ctx.understanding.text, k=1,
                                                 query_embedding=ctx.understanding.embedding)
        hit = hits[0] if hits else None
        if not confident(hit):
            ctx.say("policy_unsure", buttons=[ctx.button("button_talk_to_human", "cmd:human")])
            return
        policy = services.policies.get(hit.passage.id)
    if policy is None:
        ctx.say("policy_unsure", buttons=[ctx.button("button_talk_to_human", "cmd:human")])
        return
    ctx.cite(f"policy:{policy.id}")
    ctx.say("policy_answer", answer=policy.answer_in(ctx.lang))


@registry.intent("policy_question", templates=("policy_answer", "policy_unsure"))
async def policy_question(ctx: ActionContext) -> None:
    await _answer_policy(ctx)


@registry.intent("size_help")
async def size_help(ctx: ActionContext) -> None:
    await _answer_policy(ctx, "sizing_guide")
