"""The staff helpdesk's actions: procedures, stock by store, order look-ups, the handoff queue.

Staff-only data (other customers' orders, the handoff queue) is shown only to
authorised staff: a message is authorised when its user, channel or workspace
is listed in ``settings.staff_allowlist``. Stock figures and procedures are for
anyone who can reach this bot (it is only routed from staff channels and the
``/staff`` command).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bots.staff_helpdesk.understanding import OFF_TOPIC, OUT_OF_SCOPE, ProductFinder, route
from core.actions import ActionContext, ActionRegistry, SetupContext
from core.commands import show_help
from core.commerce.backend import SHARED_BACKEND, CommerceBackend
from core.commerce.catalog import Catalog
from core.commerce.entities import EntityExtractor
from core.commerce.inventory import Inventory, InventoryItem, load_inventory
from core.commerce.search import ProductSearch, catalog_services
from core.commerce.shopdata import (
    OrderBook,
    OrderStatus,
    Procedure,
    Store,
    load_orders,
    load_procedure_questions,
    load_procedures,
    load_stores,
    normalize_order_number,
    procedure_passages,
)
from core.events import NotSure
from core.handoff import open_tickets
from core.messages import Button
from core.privacy import mask_pii
from core.retrieval import (
    AnswerCalibration,
    PassageHit,
    PassageIndex,
    calibrate_answer,
    choose_cjk_weight,
    has_cjk,
)
from core.settings import Settings

logger = logging.getLogger(__name__)

MAX_ROWS = 24
#: Candidates offered as buttons when the helpdesk asks or is not sure.
MAX_CANDIDATES = 3
SOP_PAYLOAD = "sop:"
#: Share of off-topic messages the intent head lets through to retrieval: 1 - its held-out
#: out-of-scope recall (95 % when trained; `shopkeep nlu train --bot staff_helpdesk` prints it).
OFF_TOPIC_MISSED = 0.05
_ORDER_NO = re.compile(r"(?:#|\bsk-?|\border\s+(?:no\.?\s*|number\s*)?|订单(?:号|编号)?\s*[:：]?\s*)(\d{3,8})(?![0-9A-Za-z])"
                       r"|(?<![A-Za-z0-9-])(\d{4,6})(?![A-Za-z0-9-])", re.IGNORECASE)
_READABLE = re.compile(r"[^\W_]", re.UNICODE)
#: "at the Portland store": a store named by the word before store/shop/branch/location.
_STORE_NAMED = re.compile(r"\b(?:at|in|from|for)\s+(?:the\s+)?([a-z][a-z'-]+)\s+(?:store|shop|branch|location)\b",
                          re.IGNORECASE)
_NOT_STORE_NAMES = frozenset({"this", "that", "our", "my", "your", "other", "another", "each", "every", "any",
                              "same", "local", "nearest", "next", "main", "whole", "online", "web"})

registry = ActionRegistry()


@dataclass(frozen=True)
class ZhTerms:
    """What the helpdesk knows of Chinese beyond the encoder: store names, off-topic examples."""

    #: Store location (as in the inventory) -> the names staff give it in Chinese.
    stores: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    #: Chinese messages no procedure answers (calibration negatives, like the head's out_of_scope).
    off_topic: tuple[str, ...] = ()
    #: Chinese product and colour words -> the English words of the inventory's titles and options.
    products: dict[str, str] = dataclasses.field(default_factory=dict)
    colours: dict[str, str] = dataclasses.field(default_factory=dict)

    def product_words(self, text: str) -> str:
        """The English words for the Chinese product (and colour) words in ``text``, longest first;
        "" when it names no product ("羊毛袜子" -> "wool socks")."""
        found: list[str] = []
        for table, kind in ((self.products, "product"), (self.colours, "colour")):
            rest = text
            for word in sorted(table, key=len, reverse=True):
                if word in rest:
                    found.append(table[word])
                    rest = rest.replace(word, " ")
            if kind == "product" and not found:
                return ""
        return " ".join(dict.fromkeys(" ".join(found).split()))


ZH_TERMS = "zh.yaml"


def load_zh_terms(path: Path) -> ZhTerms:
    """Read ``data/zh.yaml``; a missing file means no Chinese terms (the bot still answers)."""
    if not path.exists():
        return ZhTerms()
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        stores = {str(k): tuple(str(n) for n in v) for k, v in (doc.get("stores") or {}).items()}
        return ZhTerms(stores=stores, off_topic=tuple(str(t) for t in doc.get("off_topic") or ()),
                       products={str(k): str(v) for k, v in (doc.get("products") or {}).items()},
                       colours={str(k): str(v) for k, v in (doc.get("colours") or {}).items()})
    except (OSError, yaml.YAMLError, AttributeError, TypeError) as e:
        raise ValueError(f"{path}: unreadable ({e})") from e


@dataclass(frozen=True, kw_only=True)
class StaffServices:
    """What the helpdesk's actions use; built once by :func:`setup`."""

    procedures: dict[str, Procedure]
    procedure_index: PassageIndex
    #: When a procedure is answered, asked about or offered (cross-validated at start-up).
    answer_calibration: AnswerCalibration
    inventory: Inventory
    products: ProductFinder
    catalog: Catalog
    search: ProductSearch
    entities: EntityExtractor
    stores: tuple[Store, ...]
    orders: OrderBook
    #: The connected shop (Shopify), when there is one: its live stock per location wins over the export's.
    backend: CommerceBackend | None = None
    #: Chinese store names and off-topic examples (``data/zh.yaml``).
    zh: ZhTerms = ZhTerms()


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
        questions = load_procedure_questions(data / "procedure_questions.yaml", procedures)
        catalog, search, entities = ctx.share(("catalog", catalog_path.resolve()), lambda: catalog_services(
            catalog_path, encoder))
        index = PassageIndex(passages=procedure_passages(procedures, questions), encoder=encoder)
        # Chinese questions: the blend that ranks the Chinese phrasings best with this encoder (keywords
        # only when it cannot read Han characters), then their own floor and margin.
        index.cjk_semantic_weight = choose_cjk_weight(index)
        terms = load_zh_terms(data / ZH_TERMS)
        # Off-topic messages are the head's to turn away; they weigh here only as far as it misses them.
        # Chinese ones are retrieval's when the encoder cannot read Chinese (keywords only: weight 0),
        # and the router then lets retrieval overrule the head for Chinese questions.
        unread = index.cjk_semantic_weight == 0.0
        calibration = calibrate_answer(
            index, negatives=[*off_topic_examples(ctx.bot_dir / "intents.yaml"), *terms.off_topic],
            negatives_weight=OFF_TOPIC_MISSED, cjk_negatives_weight=1.0 if unread else None)
        if unread and calibration.cjk is not None:
            calibration = dataclasses.replace(calibration,
                                              cjk=dataclasses.replace(calibration.cjk, overrules_head=True))
        for label, cal in (("en", calibration), ("zh", calibration.cjk)):
            if cal is None:
                continue
            logger.info("staff procedures (%s): floor %.2f, margin %.3f (cross-validated on %d questions: %.1f%% "
                        "answered right, %.1f%% wrong, %.1f%% asked; off-topic answered %.1f%%)", label, cal.floor,
                        cal.margin, cal.size, 100 * cal.answered_right, 100 * cal.answered_wrong, 100 * cal.asked,
                        100 * cal.negatives_answered)
        if index.cjk_semantic_weight is not None:
            logger.info("staff procedures: Chinese questions blend %.2f semantic", index.cjk_semantic_weight)
        inventory = load_inventory(data / "inventory.csv")
        return StaffServices(
            procedures={p.id: p for p in procedures},
            procedure_index=index,
            answer_calibration=calibration,
            inventory=inventory,
            # The stores' products first (archived or unpublished online too), then catalogue-only ones,
            # which stock look-ups report as in no store's inventory.
            products=ProductFinder([*((item.handle, item.title) for item in inventory.items),
                                    *((p.handle, p.title) for p in catalog.products() if p.title)]),
            catalog=catalog,
            search=search,
            entities=entities,
            stores=load_stores(shop / "stores.yaml"),
            orders=load_orders(shop / "orders.yaml"),
            backend=ctx.shared.get(SHARED_BACKEND),
            zh=terms,
        )

    return await asyncio.to_thread(build)


def off_topic_examples(intents_path: Path) -> list[str]:
    """The bot's own off-topic messages (its ``out_of_scope`` examples), for calibrating retrieval."""
    try:
        data = yaml.safe_load(intents_path.read_text(encoding="utf-8"))
        return [str(t) for t in data["intents"][OUT_OF_SCOPE]["examples"]]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return []


def _svc(ctx: ActionContext) -> StaffServices:
    return ctx.services


@registry.override
async def read_message(ctx: ActionContext) -> str | None:
    """Retrieval first: the procedure index reads every message; the head decides only actions."""
    u = ctx.understanding
    if not _READABLE.search(u.text):
        return "unreadable"
    services = _svc(ctx)
    hits = _procedure_hits(services, u.text, u.embedding, ctx)
    product = services.products.find(u.text)
    zh_product = services.zh.product_words(u.text) if has_cjk(u.text) else ""
    reading = route(
        text=u.text, head_label=u.intent, head_confidence=u.confidence, head_out_of_scope=u.out_of_scope,
        head_ambiguous=u.ambiguous, head_runner_up=u.ranking[0][0] if u.ranking else "",
        hits=hits, calibration=services.answer_calibration,
        has_sku=bool(find_skus(services.inventory, u.text)), product=product,
        names_product_type=bool(zh_product),
    )
    return reading.intent


#: The procedure hits the router ranked, reused by the procedure handler of the same message.
_RANKED: weakref.WeakKeyDictionary[ActionContext, list[PassageHit]] = weakref.WeakKeyDictionary()


def _procedure_hits(services: StaffServices, text: str, embedding: Any,
                    ctx: ActionContext | None = None) -> list[PassageHit]:
    if ctx is not None and ctx in _RANKED:
        return _RANKED[ctx]
    if embedding is None:
        hits = services.procedure_index.query_sync(text, k=MAX_CANDIDATES + 1)
    else:
        hits = services.procedure_index.rank(text, embedding, k=MAX_CANDIDATES + 1)
    if ctx is not None:
        _RANKED[ctx] = hits
    return hits


def find_skus(inventory: Inventory, text: str) -> list[InventoryItem]:
    """SKUs in ``text``, also when typed with spaces, underscores or a trailing apostrophe."""
    found = inventory.find_skus(text)
    if found:
        return found
    # "NW TEE 005 PNK M", "nw_tee_005_pnk_m's": join runs of short alphanumeric parts with dashes.
    for run in re.findall(r"[A-Za-z0-9]+(?:[\s_'’-]+[A-Za-z0-9]+){2,}", text):
        parts = re.split(r"[\s_'’-]+", run)
        for start in range(len(parts)):
            for end in range(len(parts), start + 2, -1):
                item = inventory.for_sku("-".join(parts[start:end]))
                if item is not None:
                    return [item]
    return []


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
    OFF_TOPIC: "off_topic",
    "unreadable": "empty_message",
})
registry.intent("help", templates=("help",))(show_help)
registry.command("queue", intent="handoff_queue", description="command_queue")


# --------------------------------------------------------------------------- procedures


def _entry(hit: PassageHit) -> str:
    return f"{hit.passage.title} (`{hit.passage.id}`)"


def _candidate_buttons(ctx: ActionContext, hits: Sequence[PassageHit]) -> list[Button]:
    return [Button(label=_title(ctx, h), payload=f"{SOP_PAYLOAD}{h.passage.id}") for h in hits]


def _answer(ctx: ActionContext, procedure: Procedure) -> None:
    ctx.cite(f"procedure:{procedure.id}")
    title, steps = procedure.localized(ctx.lang)
    ctx.say("procedure_answer", title=title, id=procedure.id,
            steps="\n".join(f"{i}. {step}" for i, step in enumerate(steps, 1)))


def _title(ctx: ActionContext, hit: PassageHit) -> str:
    """A candidate procedure's title in the conversation's language."""
    procedure = _svc(ctx).procedures.get(hit.passage.id)
    return procedure.localized(ctx.lang)[0] if procedure is not None else hit.passage.title


@registry.intent("procedure_question", templates=("procedure_answer", "procedure_ask", "procedure_unsure"))
async def procedure_question(ctx: ActionContext) -> None:
    """Answer with the procedure when sure; ask between close ones; below the floor say so and offer the closest."""
    services = _svc(ctx)
    hits = _procedure_hits(services, ctx.understanding.text, ctx.understanding.embedding, ctx)
    text = ctx.understanding.text
    calibration = services.answer_calibration.for_text(text)
    decision = calibration.decide(hits)
    if decision == "answer":
        _answer(ctx, services.procedures[hits[0].passage.id])
        return
    for hit in hits[:MAX_CANDIDATES]:
        ctx.cite(f"procedure:{hit.passage.id}")
    if decision == "ask":
        close = [h for h in hits[:MAX_CANDIDATES] if hits[0].score - h.score < calibration.margin]
        ctx.say("procedure_ask", options=" · ".join(_title(ctx, h) for h in close),
                buttons=_candidate_buttons(ctx, close))
        return
    ctx.report(NotSure(score=hits[0].score if hits else 0.0))
    ctx.say("procedure_unsure", buttons=_candidate_buttons(ctx, hits[:MAX_CANDIDATES]))


@registry.payload(SOP_PAYLOAD, templates=("procedure_answer", "procedure_gone"))
async def procedure_chosen(ctx: ActionContext, sop_id: str) -> None:
    """A "Did you mean" button: answer with that procedure."""
    procedure = _svc(ctx).procedures.get(sop_id)
    if procedure is None:
        ctx.say("procedure_gone")
        return
    _answer(ctx, procedure)


# --------------------------------------------------------------------------- stock


def short_location(location: str, locations: Sequence[str]) -> str:
    """Drop the words every location shares ("Northwind Midtown" → "Midtown")."""
    shared = set.intersection(*(set(loc.split()) for loc in locations)) if len(locations) > 1 else set()
    return " ".join(w for w in location.split() if w not in shared) or location


def _store_aliases(stores: Sequence[Store], zh: ZhTerms | None = None) -> dict[str, list[str]]:
    aliases = {s.name: [s.id, *s.id.split("_")] for s in stores}
    for location, names in (zh.stores if zh else {}).items():
        aliases.setdefault(location, []).extend(names)
    return aliases


def _zh_location(text: str, zh: ZhTerms) -> str | None:
    """The store a Chinese name in ``text`` stands for ("中城店" -> Northwind Midtown)."""
    for location, names in zh.stores.items():
        if any(name in text for name in names):
            return location
    return None


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


async def _live(services: StaffServices, items: Sequence[InventoryItem]) -> list[InventoryItem]:
    """The items with the connected shop's stock per location, where it knows the SKU."""
    if services.backend is None:
        return list(items)
    levels = await asyncio.gather(*(services.backend.stock_levels(item.sku) for item in items))
    return [dataclasses.replace(item, levels=tuple(live)) if live else item for item, live in zip(items, levels)]


def _unknown_store(text: str, inventory: Inventory) -> str | None:
    """The name in "at the Portland store" when no location is called that."""
    for match in _STORE_NAMED.finditer(text):
        name = match.group(1)
        if name.lower() not in _NOT_STORE_NAMES and inventory.match_location(name) is None:
            return name
    return None


def _online_note(ctx: ActionContext, services: StaffServices, handle: str) -> str:
    """Say so when the shop does not sell the product online (the stores' stock is still real)."""
    product = services.catalog.get(handle)
    if product is None:
        return ctx.text("stock_not_online")
    if product.status != "active":
        return ctx.text("stock_status_online", status=product.status.capitalize())
    if not product.published:
        return ctx.text("stock_unpublished")
    return ""


@registry.intent("stock_lookup", templates=("stock_table", "stock_also", "stock_none", "stock_no_inventory",
                                           "stock_unknown_store", "stock_where", "stock_more", "stock_not_online",
                                           "stock_status_online", "stock_unpublished"))
async def stock_lookup(ctx: ActionContext) -> None:
    services = _svc(ctx)
    inventory = services.inventory
    text = ctx.understanding.text
    location = inventory.match_location(text, _store_aliases(services.stores, services.zh)) or _zh_location(
        text, services.zh)
    if location is None:
        unknown = _unknown_store(text, inventory)
        if unknown:
            ctx.say("stock_unknown_store", name=unknown,
                    stores=", ".join(short_location(loc, inventory.locations) for loc in inventory.locations))
    locations = [location] if location else list(inventory.locations)
    where = ctx.text("stock_where", location=location) if location else ""
    skus = find_skus(inventory, text)
    if skus:
        for item in skus:
            ctx.cite(f"sku:{item.sku}")
        first = skus[0]
        ctx.say("stock_table", title=first.title, handle=first.handle, where=where,
                table=stock_table(await _live(services, skus), locations, inventory.locations),
                more=_online_note(ctx, services, first.handle))
        return
    named = services.products.find(text)
    # A Chinese question is searched by the English words of the product it names, when it names one.
    english = services.zh.product_words(text) if named is None and has_cjk(text) else ""
    if named is None and english:
        named = services.products.find(english)
    if named is not None:
        handle, title, others = named.handle, named.title, []
    elif english:
        hits = await services.search.search(english, k=3)
    else:
        hits = await services.search.search(text, k=3, query_embedding=ctx.understanding.embedding)
    if named is None:
        if not hits:
            ctx.say("stock_none")
            return
        handle, title = hits[0].product.handle, hits[0].product.title
        others = [h.product for h in hits[1:] if h.score >= hits[0].score * 0.9]
    ctx.cite(f"product:{handle}")
    items = inventory.for_handle(handle)
    if not items:
        ctx.say("stock_no_inventory", title=title)
        return
    colors = tuple(getattr(ctx.entities, "colors", ()) or ())
    sizes = tuple(getattr(ctx.entities, "sizes", ()) or ())
    fitting = [item for item in items if _variant_fits(item, colors, sizes)] or items
    shown = await _live(services, fitting[:MAX_ROWS])
    more = ctx.text("stock_more", count=len(fitting) - len(shown)) if len(fitting) > len(shown) else ""
    ctx.say("stock_table", title=title, handle=handle, where=where,
            table=stock_table(shown, locations, inventory.locations), more=more + _online_note(ctx, services, handle))
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


ORDER_STATUS_TEMPLATES = tuple(f"order_status_{status.value}" for status in OrderStatus)


@registry.intent("order_lookup", templates=("staff_only", "order_which", "order_not_found", "order_details",
                                           "order_pickup", *ORDER_STATUS_TEMPLATES))
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
        shipping += ctx.text("order_pickup", store=order.pickup_store)
    contact = ", ".join(mask_pii(v) for v in (order.customer.email, order.customer.phone) if v) or "-"
    ctx.say("order_details", number=order.number, status=ctx.text(f"order_status_{order.status.value}"),
            placed=f"{order.created_at:%Y-%m-%d}", customer=order.customer.name, contact=contact,
            items=items, total=f"{order.total:.2f} {order.currency}", shipping=shipping)


# --------------------------------------------------------------------------- handoff queue


@registry.intent("handoff_queue", templates=("queue_empty", "queue_list", "staff_only", "queue_line", "queue_claimed",
                                            "queue_shopper"))
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
        who = mask_pii(t.user_name) or ctx.text("queue_shopper")
        claimed = ctx.text("queue_claimed", agent=t.claimed_by.label) if t.claimed_by else ""
        lines.append(ctx.text("queue_line", id=t.id, who=who, platform=t.shopper.platform.value,
                              reason=mask_pii(t.reason).replace("_", " "), status=t.status.value, claimed=claimed,
                              since=f"{t.opened_at:%H:%M}"))
    ctx.say("queue_list", count=len(tickets), lines="\n".join(lines))
