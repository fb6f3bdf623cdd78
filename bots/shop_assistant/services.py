"""What every shopping-assistant action module shares: the one registry, the services, small helpers.

The action modules (:mod:`.products`, :mod:`.cart`, :mod:`.orders`, :mod:`.returns`,
:mod:`.stores`, :mod:`.policies`, :mod:`.smalltalk`) register their handlers on
:data:`registry`; :mod:`bots.shop_assistant.actions` imports them all.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import yaml

from core.actions import ActionContext, ActionRegistry, SetupContext
from core.commerce.backend import SHARED_BACKEND, SHARED_NOTIFIER, CommerceBackend
from core.commerce.catalog import Catalog
from core.commerce.entities import EntityExtractor
from core.commerce.finder import ProductFinder
from core.commerce.notify import Notifier
from core.commerce.offline import OfflineBackend
from core.commerce.search import ProductSearch, catalog_services
from core.commerce.shop import ShopIdentity, load_shop_defaults, resolve_identity
from core.commerce.shopdata import (
    PolicyBook,
    Store,
    load_orders,
    load_policies,
    load_stores,
)
from core.protocols import TextEncoder
from core.retrieval import (
    AnswerCalibration,
    PassageIndex,
    calibrate_answer,
    choose_cjk_weight,
    tokenize,
)
from models.intent import ZH_NEGATIVES_FILE, load_zh_negatives

logger = logging.getLogger(__name__)

PAGE = 5

registry = ActionRegistry(
    templates=(
        "button_details", "button_add", "button_similar", "button_goes_with", "button_show_more",
        "button_view_cart", "button_checkout", "button_remove", "which_product",
        "stock_text_in", "stock_text_low", "stock_text_out", "closed", "shop_unavailable",
    )
)


@dataclass(frozen=True)
class ShopWords:
    """The shop's own words beyond its catalogue (``data/vocabulary.yaml``)."""

    type_synonyms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    complements: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> ShopWords:
        """Read the file; a missing file means no extra words."""
        if not path.is_file():
            return cls()
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return cls(
            type_synonyms={str(k): tuple(str(x) for x in v) for k, v in (doc.get("type_synonyms") or {}).items()},
            complements={str(k): tuple(str(x) for x in v) for k, v in (doc.get("complements") or {}).items()},
        )


BOT_DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True, kw_only=True)
class ShopServices:
    """What the shopping assistant's actions use; built once by :func:`setup`."""

    catalog: Catalog
    search: ProductSearch
    entities: EntityExtractor
    policies: PolicyBook
    policy_index: PassageIndex
    stores: tuple[Store, ...]
    backend: CommerceBackend
    notifier: Notifier | None = None
    words: ShopWords = field(default_factory=ShopWords)
    shop: ShopIdentity = field(default_factory=lambda: ShopIdentity(name="our shop", currency="USD", locale="en",
                                                                    url=""))
    #: Floor and margin for policy questions in Chinese script (their own blend and cross-lingual cosines);
    #: None: every question uses ``core.retrieval.CONFIDENT_FLOOR``. See :func:`policy_index`.
    policy_calibration: AnswerCalibration | None = None
    _finders: dict[int, ProductFinder] = field(default_factory=dict, compare=False, repr=False)

    @property
    def finder(self) -> ProductFinder:
        """The finder over the current index (a connected shop swaps its index in as the catalogue changes)."""
        current = getattr(getattr(self.search, "_owner", None), "view", None)
        index: ProductSearch = current.search if current is not None else self.search
        found = self._finders.get(id(index))
        if found is None or found.search is not index:
            self._finders.clear()
            found = self._finders[id(index)] = ProductFinder(search=index,
                                                             type_synonyms=self.words.type_synonyms)
        return found


async def setup(ctx: SetupContext) -> ShopServices:
    """Load the catalogue and shop data and build the search indexes (embeds once).

    With a connected shop (the runtime put its backend in ``ctx.shared``) the
    catalogue, search and vocabulary are the shop's live ones; otherwise the
    offline backend reads the demo files (or ``--catalog``).
    """
    encoder = ctx.encoder
    if encoder is None:
        raise ValueError("the shopping assistant needs a text encoder")
    data = ctx.bot_dir / "data"
    catalog_path = Path(ctx.catalog) if ctx.catalog else data / "products.csv"
    connected: Any = ctx.shared.get(SHARED_BACKEND)
    notifier: Notifier | None = ctx.shared.get(SHARED_NOTIFIER)

    words = ShopWords.load(data / "vocabulary.yaml")

    def build() -> ShopServices:
        stores = load_stores(data / "stores.yaml")
        if connected is not None:
            connected.live.use_words(type_synonyms=words.type_synonyms, complements=words.complements)
            catalog, search, entities = connected.live.catalog, connected.live.search, connected.live.entities
            backend: CommerceBackend = connected
        else:
            catalog, search, entities = ctx.share(("catalog", catalog_path.resolve()), lambda: catalog_services(
                catalog_path, encoder, type_synonyms=words.type_synonyms, complements=words.complements))
            backend = OfflineBackend(catalog=catalog, orders=load_orders(data / "orders.yaml"), stores=stores,
                                     today=ctx.settings.demo_today)
        policies = load_policies(data / "policies.yaml")
        own = connected is None and catalog_path.resolve() == (data / "products.csv").resolve()
        settings = ctx.settings
        custom_url = settings.shop_url if settings.shop_url != DEMO_SHOP_URL else None
        shop = resolve_identity(catalog=catalog, own_catalog=own, defaults=load_shop_defaults(data / "shop.yaml"),
                                name=settings.shop_name, currency=settings.shop_currency,
                                locale=settings.shop_locale, url=custom_url, source=str(catalog_path))
        if not shop.url:
            shop = dataclasses.replace(shop, url=f"https://{_slug(shop.name)}.myshopify.com")
        index, calibration = policy_index(policies, encoder)
        return ShopServices(
            catalog=catalog,
            search=search,
            entities=entities,
            policies=policies,
            policy_index=index,
            policy_calibration=calibration,
            stores=stores,
            backend=backend,
            notifier=notifier,
            words=words,
            shop=shop,
        )

    def build_all() -> ShopServices:
        services = build()
        _ = services.finder  # the vocabulary is derived now, not on the first message
        return services

    return await asyncio.to_thread(build_all)


def svc(ctx: ActionContext) -> ShopServices:
    return ctx.services


@registry.entities
def extract_entities(ctx: ActionContext) -> Any:
    return svc(ctx).entities.extract(ctx.understanding.text)


def ent(ctx: ActionContext, name: str) -> Any:
    return getattr(ctx.entities, name, None) if ctx.entities is not None else None


#: A bare position typed as a reply ("2"). ASCII digits only: str.isdigit() also
#: accepts "²" or "¹9", which int() refuses.
POSITION = re.compile(r"[0-9]{1,3}")


T = TypeVar("T")


def pick(ctx: ActionContext, items: Sequence[T]) -> T | None:
    """The item the user pointed at ("the second one", "2", "the last one")."""
    value = ent(ctx, "list_index")
    text = ctx.message.text.strip()
    if value is None and POSITION.fullmatch(text):
        value = int(text)
    if not isinstance(value, int) or not items:
        return None
    if value == -1:
        return items[-1]
    return items[value - 1] if 1 <= value <= len(items) else None


async def maybe(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def content_words(text: str) -> set[str]:
    """Stemmed content words ("sneakers" and "Sneaker" agree)."""
    return {w for w in tokenize(text) if len(w) > 2 and not w.isdigit()}


def money(amount: Decimal, shop: ShopIdentity | None = None) -> str:
    """An amount in the shop's currency ("$12.00" when the shop is unknown)."""
    return shop.money(amount) if shop is not None else f"${amount:.2f}"


def price(ctx: ActionContext, amount: Decimal) -> str:
    """An amount in this conversation's shop's currency."""
    return svc(ctx).shop.money(amount)


def shop_url(ctx: ActionContext) -> str:
    return svc(ctx).shop.url


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "shop"


#: The settings' default shop URL (the demo's): a custom one in settings wins over every default.
DEMO_SHOP_URL = "https://demo-shopkeep.myshopify.com"


#: Off-topic messages are the intent head's to turn away; they weigh here only as far as it misses them.
POLICY_OFF_TOPIC_MISSED = 0.25


def policy_index(policies: PolicyBook, encoder: TextEncoder) -> tuple[PassageIndex, AnswerCalibration | None]:
    """The policies' retrieval index and, when enough of their phrasings are Chinese, a floor for Chinese questions.

    English questions keep :data:`core.retrieval.CONFIDENT_FLOOR` (calibrated on MiniLM). A Chinese question
    scores on another blend (the semantic share that ranks the Chinese phrasings best for this encoder: high
    for multilingual-e5, nil for an encoder that cannot read Han characters) and on cross-lingual cosines, so
    it gets a floor cross-validated on the policies' own Chinese phrasings against off-topic Chinese messages.
    """
    index = PassageIndex(passages=policies.passages(), encoder=encoder)
    index.cjk_semantic_weight = choose_cjk_weight(index)
    if index.cjk_semantic_weight is None:
        return index, None
    # The intent heads' hand-written off-topic Chinese messages.
    negatives = load_zh_negatives() if ZH_NEGATIVES_FILE.is_file() else []
    calibration = calibrate_answer(index, negatives=negatives, negatives_weight=POLICY_OFF_TOPIC_MISSED)
    if calibration.cjk is not None:
        logger.info("policies (zh): floor %.2f, blend %.2f semantic (cross-validated on %d questions: %.1f%% "
                    "answered right)", calibration.cjk.floor, index.cjk_semantic_weight, calibration.cjk.size,
                    100 * calibration.cjk.answered_right)
    return index, calibration

