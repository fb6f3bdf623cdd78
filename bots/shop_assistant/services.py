"""What every shopping-assistant action module shares: the one registry, the services, small helpers.

The action modules (:mod:`.products`, :mod:`.cart`, :mod:`.orders`, :mod:`.returns`,
:mod:`.stores`, :mod:`.policies`, :mod:`.smalltalk`) register their handlers on
:data:`registry`; :mod:`bots.shop_assistant.actions` imports them all.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from core.actions import ActionContext, ActionRegistry, SetupContext
from core.commerce.backend import SHARED_BACKEND, SHARED_NOTIFIER, CommerceBackend
from core.commerce.catalog import Catalog
from core.commerce.entities import EntityExtractor
from core.commerce.notify import Notifier
from core.commerce.offline import OfflineBackend
from core.commerce.search import ProductSearch, catalog_services
from core.commerce.shopdata import (
    PolicyBook,
    Store,
    load_orders,
    load_policies,
    load_stores,
)
from core.retrieval import PassageIndex, tokenize

PAGE = 5

registry = ActionRegistry(
    templates=(
        "button_details", "button_add", "button_similar", "button_goes_with", "button_show_more",
        "button_view_cart", "button_checkout", "button_remove", "which_product",
        "stock_text_in", "stock_text_low", "stock_text_out", "closed", "shop_unavailable",
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
    backend: CommerceBackend
    notifier: Notifier | None = None


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

    def build() -> ShopServices:
        stores = load_stores(data / "stores.yaml")
        if connected is not None:
            catalog, search, entities = connected.live.catalog, connected.live.search, connected.live.entities
            backend: CommerceBackend = connected
        else:
            catalog, search, entities = ctx.share(("catalog", catalog_path.resolve()), lambda: catalog_services(
                catalog_path, encoder))
            backend = OfflineBackend(catalog=catalog, orders=load_orders(data / "orders.yaml"), stores=stores,
                                     today=ctx.settings.demo_today)
        policies = load_policies(data / "policies.yaml")
        return ShopServices(
            catalog=catalog,
            search=search,
            entities=entities,
            policies=policies,
            policy_index=PassageIndex(passages=policies.passages(), encoder=encoder),
            stores=stores,
            backend=backend,
            notifier=notifier,
        )

    return await asyncio.to_thread(build)


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


def money(amount: Decimal, currency: str = "USD") -> str:
    return f"${amount:.2f}" if currency == "USD" else f"{amount:.2f} {currency}"
