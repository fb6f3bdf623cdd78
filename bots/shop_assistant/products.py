"""Finding products: search and its refinements, details, similar and "goes with", stock questions."""

from __future__ import annotations

import dataclasses
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
    pick,
    price,
    registry,
    shop_url,
    svc,
)
from core.actions import ActionContext, Understanding
from core.commerce.catalog import Product, Variant
from core.commerce.finder import RELAX_ORDER, Finding, FoundProduct, ParsedQuery
from core.commerce.search import SearchHit
from core.commerce.vocabulary import cjk_spans, default_lexicon, effective_type, has_cjk, norm_words
from core.events import ItemViewed, Searched
from core.messages import Button, ProductCard, StockState
from core.retrieval import STOPWORDS


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
        currency=svc(ctx).shop.currency,
        compare_at_price=variant.compare_at_price if variant.on_sale else None,
        image_url=variant.image_url or product.image_url,
        url=f"{shop_url(ctx)}/products/{product.handle}",
        variant_id=variant.id,
        sku=variant.sku,
        variant_title=variant.title if len(product.variants) > 1 else None,
        stock=stock,
        subtitle=product.product_type or None,
        buttons=tuple(buttons),
    )


def _show(ctx: ActionContext, key: str, hits: Sequence[SearchHit | FoundProduct], filters: Filters | None = None,
          *, more: bool = False, **values: Any) -> None:
    ctx.state.data["shown"] = [h.product.handle for h in hits]
    for h in hits:
        ctx.cite(f"product:{h.product.handle}")
        for reason in getattr(h, "reasons", ()):
            ctx.cite(f"matched:{reason}")
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


@registry.intent("product_search", "recommend",
                 templates=("search_results", "recommend_results", "search_none", "none_of_kind",
                            "alternatives_results", "relaxed_results", *(f"relaxed_{c}" for c in RELAX_ORDER)))
async def product_search(ctx: ActionContext) -> None:
    header = "recommend_results" if ctx.intent == "recommend" else "search_results"
    await find_and_show(ctx, ctx.understanding.text, query_embedding=ctx.understanding.embedding, header=header)


def _said(q: ParsedQuery) -> str:
    """The words of the query that name what was asked for (for "we don't have any …")."""
    if has_cjk(q.text):  # "你们卖手机吗" → "手机": the kinds of product said, else the text less its chatter
        lexicon = default_lexicon()
        nouns = [w for _, _, w in cjk_spans(q.text, lexicon.zh_nouns)]
        return "、".join(dict.fromkeys(nouns)) or _ZH_CHATTER.sub("", q.text).strip(" ，,。.!！?？") or q.text
    keep = [w.strip(",.!?;:") for w in q.text.split()
            if (nw := norm_words(w)) and nw[0] not in STOPWORDS and w.lower().strip(",.!?;:") not in _CHATTER]
    return " ".join(keep[:6]) or q.text


#: Chinese words left out when echoing what a shopper asked for.
_ZH_CHATTER = re.compile(r"你们|您们|有没有|有木有|有吗|卖不卖|卖|吗|呢|吧|啊|请问|我想买|我想要|想买|想要|我要|我"
                         r"|给我|看看|一下|一些|一个|一副|一双|一条|一件|副|的")


def _relaxed_words(ctx: ActionContext, relaxed: Sequence[str]) -> str:
    """The constraints given up, named in the conversation's language."""
    return ("、" if ctx.lang == "zh" else ", ").join(ctx.text(f"relaxed_{c}") for c in relaxed)


#: Words left out when echoing what a shopper asked for.
_CHATTER = frozenset({"do", "you", "have", "any", "sell", "there", "show", "me", "looking", "want", "need", "can",
                      "buy", "available", "now", "today", "stock", "is", "a", "an", "the", "some", "please", "i",
                      "under", "over", "below", "above", "cheap", "cheaper", "between", "and", "to", "that",
                      "actually", "right", "ok", "okay", "then", "what", "about", "how", "for", "my", "in"})


async def find_and_show(ctx: ActionContext, text: str, *, query_embedding: Any = None,
                        parsed: ParsedQuery | None = None, allow_named: bool = True,
                        relax_order: tuple[str, ...] | None = None, header: str = "search_results",
                        offset: int = 0) -> Finding:
    """Find products for ``text`` and show them, saying honestly when nothing fits."""
    finder = svc(ctx).finder
    finding = finder.find(text, k=PAGE, query_embedding=query_embedding, parsed=parsed, allow_named=allow_named,
                          relax_order=relax_order, offset=offset)
    if offset == 0:
        ctx.report(Searched(query=text, results=len(finding.results)))
    hits = list(finding.results)
    if not hits:
        ctx.say("search_none")
        return finding
    types = sorted({effective_type(h.product) for h in hits[:3] if effective_type(h.product)})
    ctx.state.data["search"] = {"query": text, "refine": "", "offset": offset, "filters": _remembered(finding.query),
                                "types": types if len(types) == 1 else []}
    ctx.state.data["focus"] = (finding.named[0] if finding.named else hits[0].product).handle
    q = finding.query
    more = len(hits) == PAGE
    if finding.none_buyable and not finding.named:
        ctx.say("none_of_kind", what=_said(q))
        _show(ctx, "alternatives_results", hits, more=more)
    elif finding.relaxed and not finding.named:
        cheapest = price(ctx, finding.cheapest) if finding.cheapest is not None else "-"
        _show(ctx, "relaxed_results", hits, more=more, relaxed=_relaxed_words(ctx, finding.relaxed), what=_said(q),
              cheapest=cheapest)
    else:
        _show(ctx, header, hits, more=more)
    return finding


def _remembered(q: ParsedQuery) -> dict[str, Any]:
    """What the query asked for, in the shape :class:`.memory.Filters` stores (only what is set)."""
    sizes = list({s.upper(): s for s in reversed(q.sizes)}.values())[::-1]
    filters = Filters(colors=list(q.options or q.colours), sizes=sizes, product_types=list(q.types),
                      price_min=q.price_min, price_max=q.price_max, in_stock=q.in_stock,
                      sort="price_asc" if q.sort == "cheaper" else "relevance")
    return filters.model_dump(mode="json", exclude_defaults=True)


#: Intents an entities-only message ("size M", "in blue") is often taken for after a search.
_REFINABLE = frozenset({"product_search", "recommend", "stock_check", "size_help"})
#: Intents that act on a product or the cart: a named product or a colour there is not a new search.
_PRODUCT_ACTIONS = frozenset({"add_to_cart", "remove_from_cart", "view_cart", "checkout", "product_details",
                              "stock_check", "goes_with", "similar_products", "order_status", "start_return"})
_ADD_WORDS = re.compile(r"^\s*(?:please\s+)?(?:add|put|buy|take|i'?ll\s+take|get\s+me)\b|\bto\s+(?:my|the)\s+"
                        r"(?:cart|bag|basket)\b|加入购物车", re.IGNORECASE)


@registry.override
async def named_product(ctx: ActionContext) -> str | None:
    """A message that names a product is a request for it, whatever the intent head says.

    "Add the RIKE DRESS in XS" (or "add it" with a product in focus) is a cart request even when the
    intent head is unsure.
    """
    text = ctx.understanding.text
    if not text or ctx.message.button_payload:
        return None
    if _ADD_WORDS.search(text):
        if ctx.understanding.intent != "add_to_cart" and (
                ctx.state.data.get("focus") or ctx.state.data.get("shown") or svc(ctx).finder.named_in(text)[0]):
            return "add_to_cart"
        return None
    finder = svc(ctx).finder
    shown = ctx.state.data.get("shown") or []
    if ent(ctx, "list_index") and shown:
        if _STOCK_WORDS.search(text) or ctx.understanding.intent in {"stock_check", "remove_from_cart",
                                                                     "similar_products", "goes_with"}:
            return None
        picked = pick(ctx, [finder.catalog.get(h) for h in shown])
        if picked is not None and len(finder.variants_for(picked, text)) < len(picked.variants):
            return "add_to_cart"  # "the second one, for the Galaxy S9": a choice of variant is a purchase
        return None
    named, exact = finder.named_in(text)
    if named:
        return "product_search" if exact or ctx.understanding.intent not in _PRODUCT_ACTIONS else None
    u = ctx.understanding
    if "search" in ctx.state.data:
        return None
    if u.out_of_scope and finder.looks_like_product_request(text):
        return "product_search"  # the intent head does not know this shop's words; the catalogue does
    if _torn_over_a_search(u) and finder.looks_like_product_request(text, new_search=True):
        return "product_search"  # torn between a search and something else, in the catalogue's own words
    return None


def _torn_over_a_search(u: Understanding) -> bool:
    """The head is unsure and a product search is its first or second guess."""
    return u.ambiguous and "product_search" in [name for name, _ in u.ranking[:2]]


@registry.override
async def follow_up(ctx: ActionContext) -> str | None:
    """Refinements ("in blue", "size M", "under $40", "cheaper", "not black") narrow the last search."""
    u = ctx.understanding
    if POSITION.fullmatch(ctx.message.text.strip()) and ctx.state.data.get("shown"):
        return "product_details"  # "2": the second item of the list just shown
    if ctx.message.button_payload or _ADD_WORDS.search(u.text):
        return None
    if "search" not in ctx.state.data:
        return None
    if ent(ctx, "list_index") and not u.out_of_scope:
        return None  # "is the first one in stock in M?": about a shown item, not a new search
    if u.intent in _PRODUCT_ACTIONS - {"stock_check"} and not (u.out_of_scope or u.ambiguous):
        return None
    finder = svc(ctx).finder
    q = finder.parse(u.text)
    refines = bool(q.colours or q.options or q.sizes or q.materials or q.negated or q.in_stock or q.sort
                   or q.price_min is not None or q.price_max is not None or _CHEAPER.search(u.text))
    if not refines:
        if (u.out_of_scope or _torn_over_a_search(u)) and finder.looks_like_product_request(u.text, new_search=True):
            return "product_search"  # a new search in the shop's words the intent head did not know
        return None
    new_kind = [t for t in q.terms if t not in _REFINE_WORDS]
    if q.types or len(new_kind) > 1:
        return None  # "a red dress": a new search that happens to have a colour
    if u.intent == "stock_check" and _STOCK_WORDS.search(u.text) and not (q.price_max or q.sort):
        return None  # "is it in stock in M?": about the product in focus
    return "refine_cheaper" if q.sort == "cheaper" or _CHEAPER.search(u.text) else "refine_search"


_CHEAPER = re.compile(r"\b(?:too\s+(?:expensive|pricey|much)|cheaper|less\s+expensive|lower\s+price)\b|便宜",
                      re.IGNORECASE)


_STOCK_WORDS = re.compile(r"\b(?:stock|available|availability|left|sold)\b|有货|库存", re.IGNORECASE)


_REFINE_WORDS = frozenset({"only", "ones", "one", "something", "anything", "cheaper", "cheap", "pricier", "size",
                           "colour", "color", "in", "ok", "okay", "then", "maybe", "instead", "version", "them"})


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
    await _refine(ctx, cheaper=False)


async def _refine(ctx: ActionContext, *, cheaper: bool) -> None:
    """Re-run the last search with this message's words; a new colour replaces the old, the type is kept.

    "Cheaper" keeps the price cap (below the cheapest shown unless a figure is given) and the type, and
    gives up only the other words; when nothing is cheaper it says so (``cheaper_none``).
    """
    last = ctx.state.data.get("search")
    if not last:
        ctx.say("search_no_context")
        return
    text = ctx.understanding.text
    finder = svc(ctx).finder
    combined = f"{last['query']} {text}"
    parsed = finder.parse(combined)
    now = finder.parse(text)
    updates: dict[str, Any] = {}
    if now.colours or now.options:  # a new colour replaces the old one
        updates.update(colours=now.colours, options=now.options)
    if not parsed.types and last.get("types"):
        updates["types"] = tuple(last["types"])
    if cheaper and now.price_max is None:
        catalog = svc(ctx).catalog
        shown = [p for h in ctx.state.data.get("shown", []) if (p := catalog.get(h)) is not None]
        if shown:
            updates["price_max"] = max(min(p.min_price for p in shown) - Decimal("0.01"), Decimal(0))
    elif now.price_max is None and now.price_min is None:
        updates.update(_remembered_prices(ctx, parsed))
    if updates:
        parsed = dataclasses.replace(parsed, **updates)
    keep_price = cheaper or now.price_max is not None or now.price_min is not None
    order = tuple(c for c in RELAX_ORDER if c not in ("price", "type")) if keep_price else None
    if cheaper:
        probe = finder.find(combined, k=1, parsed=parsed, allow_named=False, relax_order=order)
        if not probe.results:
            ctx.say("cheaper_none")
            return
    finding = await find_and_show(ctx, combined, parsed=parsed, allow_named=False, relax_order=order)
    if finding.results:
        ctx.state.data["search"] = {**ctx.state.data.get("search", {}), "query": last["query"], "refine": text,
                                    "types": last.get("types", [])}


def _remembered_prices(ctx: ActionContext, parsed: ParsedQuery) -> dict[str, Decimal]:
    """The price bounds the last search kept (a "cheaper" cap included) that ``parsed`` does not set itself.

    A follow-up that says nothing of price ("in blue", "size M", "show more") keeps them; the search may
    still give them up, and then says so.
    """
    remembered = last_search(ctx.state)
    if remembered is None:
        return {}
    bounds = {"price_max": remembered.filters.price_max, "price_min": remembered.filters.price_min}
    return {name: value for name, value in bounds.items() if value is not None and getattr(parsed, name) is None}


@registry.intent("show_more", templates=("search_more", "search_no_more"))
async def show_more(ctx: ActionContext) -> None:
    last = ctx.state.data.get("search")
    if not last or last_search(ctx.state) is None:
        ctx.say("search_no_context")
        return
    offset = last.get("offset", 0) + PAGE
    text = f"{last['query']} {last.get('refine', '')}".strip()
    finder = svc(ctx).finder
    parsed = finder.parse(text)
    bounds = _remembered_prices(ctx, parsed)
    parsed = dataclasses.replace(parsed, price_max=bounds.get("price_max", parsed.price_max),
                                 price_min=bounds.get("price_min", parsed.price_min))
    finding = finder.find(text, k=PAGE, offset=offset, parsed=parsed, allow_named=False)
    if not finding.results:
        ctx.say("search_no_more")
        return
    ctx.state.data["search"] = {**last, "offset": offset}
    _show(ctx, "search_more", list(finding.results), more=len(finding.results) == PAGE)


@registry.intent("refine_cheaper", templates=("cheaper_none",))
async def refine_cheaper(ctx: ActionContext) -> None:
    if not ctx.state.data.get("search"):
        await product_search(ctx)
        return
    await _refine(ctx, cheaper=True)


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
        named, _ = svc(ctx).finder.named_in(text)
        in_view = [p for p in named if p.handle in {s.handle for s in shown}]
        if in_view or named:
            return (in_view or named)[0]
        named_product = _title_match(text, shown) or _title_match(text, catalog.offered())
        if named_product is not None:
            return named_product
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
        price=price(ctx, product.min_price) if product.min_price == product.max_price
        else f"{price(ctx, product.min_price)}–{price(ctx, product.max_price)}",
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


def variants_said(ctx: ActionContext, product: Product, *, from_button: bool = False) -> list[Variant]:
    """The product's variants the shopper's words pick ("in size M", "the roasted groundnuts one").

    Options said now win; when they leave a choice, the last search's words ("in navy") narrow it.
    """
    finder = svc(ctx).finder
    last = ctx.state.data.get("search") or {}
    earlier = f"{last.get('query', '')} {last.get('refine', '')}".strip()
    said = list(product.variants) if from_button else finder.variants_for(product, ctx.understanding.text)
    if len([v for v in said if v.buyable]) > 1 and earlier:
        narrowed = [v for v in finder.variants_for(product, earlier) if v in said]
        if any(v.buyable for v in narrowed):
            return narrowed
    return said


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
