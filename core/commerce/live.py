"""A catalogue that changes while the bot runs, and the search index that follows it.

:class:`LiveShopCatalog` holds the products of a connected shop in memory,
built from a :class:`~core.commerce.shopify.snapshot.CatalogSnapshot`. It
follows the snapshot's change stream and, for each batch of changed
products, re-reads only those, re-embeds only products whose text changed
(embeddings are cached by text hash, in memory and in the snapshot, so a
second process reuses the first one's work), rebuilds the index off the
event loop and swaps it in at once: a search in flight keeps the view it
started with.

:attr:`LiveShopCatalog.catalog`, :attr:`~LiveShopCatalog.search` and
:attr:`~LiveShopCatalog.entities` are stable objects the bots keep; they
always delegate to the current view. When the shop's API is down, nothing
here needs it: the view is whatever was last synced.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from core.commerce.catalog import (
    Catalog,
    InMemoryCatalog,
    Product,
    Variant,
    Vocabulary,
    product_from_admin_json,
)
from core.commerce.entities import Entities, EntityExtractor
from core.commerce.search import ProductSearch, SearchFilters, SearchHit, product_document
from core.commerce.shopify.snapshot import FULL, CatalogSnapshot, is_tombstone
from core.errors import StorageError
from core.protocols import TextEncoder, embed_passages, encoder_fingerprint

logger = logging.getLogger(__name__)

_READ_BLOCK_MS = 500  # how long one read of the change stream waits for news


@dataclass(frozen=True)
class _View:
    catalog: InMemoryCatalog
    search: ProductSearch
    entities: EntityExtractor
    vocabulary: Vocabulary
    version: int


def _read(pid: str, record: dict[str, Any]) -> Product | None:
    """A record as a product; a product the reader refuses is logged and left out."""
    try:
        return product_from_admin_json(record)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        logger.warning("catalogue: product %s skipped: %s", pid, error)
        return None


class LiveCatalog:
    """A :class:`~core.commerce.catalog.Catalog` that always reads the current view."""

    def __init__(self, owner: LiveShopCatalog) -> None:
        self._owner = owner

    def products(self) -> Sequence[Product]:
        return self._owner.view.catalog.products()

    def offered(self) -> Sequence[Product]:
        return self._owner.view.catalog.offered()

    def get(self, handle: str) -> Product | None:
        return self._owner.view.catalog.get(handle)

    def find_variant(self, sku_or_id: str) -> tuple[Product, Variant] | None:
        return self._owner.view.catalog.find_variant(sku_or_id)

    def vocabulary(self) -> Vocabulary:
        return self._owner.view.catalog.vocabulary()

    def __len__(self) -> int:
        return len(self._owner.view.catalog)


class LiveSearch:
    """The current :class:`~core.commerce.search.ProductSearch`, whatever it is now."""

    def __init__(self, owner: LiveShopCatalog) -> None:
        self._owner = owner

    @property
    def catalog(self) -> Catalog:
        return self._owner.catalog

    @property
    def encoder(self) -> TextEncoder:
        return self._owner.encoder

    def __len__(self) -> int:
        return len(self._owner.view.search)

    async def search(self, query: str, *, filters: SearchFilters | None = None, k: int = 5, offset: int = 0,
                     query_embedding: np.ndarray | None = None) -> list[SearchHit]:
        return await self._owner.view.search.search(query, filters=filters, k=k, offset=offset,
                                                    query_embedding=query_embedding)

    def rank(self, query: str, **kwargs: Any) -> list[SearchHit]:
        return self._owner.view.search.rank(query, **kwargs)

    def similar(self, handle: str, k: int = 5) -> list[SearchHit]:
        return self._owner.view.search.similar(handle, k)

    def goes_with(self, handle: str, k: int = 3) -> list[SearchHit]:
        return self._owner.view.search.goes_with(handle, k)


class LiveEntities:
    """The current entity extractor (its vocabulary follows the catalogue)."""

    def __init__(self, owner: LiveShopCatalog) -> None:
        self._owner = owner

    def extract(self, text: str) -> Entities:
        return self._owner.view.entities.extract(text)


class LiveShopCatalog:
    """A connected shop's catalogue in this process, kept current from the snapshot.

    Args:
        snapshot: where the synced records live (shared by every process).
        encoder: embeds product texts (only new or changed ones).
        model_tag: names the encoder in cached-embedding keys (two models never share a vector).
        on_change: called with the product ids of each applied batch (after the swap).
    """

    def __init__(self, *, snapshot: CatalogSnapshot, encoder: TextEncoder, model_tag: str = "",
                 on_change: Callable[[set[str]], Awaitable[None]] | None = None) -> None:
        self.snapshot = snapshot
        self.encoder = encoder
        self.model_tag = model_tag or encoder_fingerprint(encoder)
        self.on_change = on_change
        #: The bot's own words beyond the catalogue's (see :meth:`use_words`).
        self.type_synonyms: dict[str, tuple[str, ...]] = {}
        self.complements: dict[str, tuple[str, ...]] = {}
        self._products: dict[str, Product] = {}
        self.records: dict[str, dict[str, Any]] = {}  # the snapshot records behind the products
        self._vectors: dict[str, np.ndarray] = {}
        self._keys: dict[int, tuple[Product, str]] = {}
        self.view = self._build_view({}, {}, 0)
        self.catalog = LiveCatalog(self)
        self.search = LiveSearch(self)
        self.entities = LiveEntities(self)
        self._position = "0-0"
        self._follower: asyncio.Task[None] | None = None
        self._stopping = False
        self.applied_at: dict[str, float] = {}  # product id -> loop time its change became searchable
        self.rebuilds = 0

    def use_words(self, *, type_synonyms: Mapping[str, Sequence[str]],
                  complements: Mapping[str, Sequence[str]]) -> None:
        """The bot's type synonyms and complements, used by this and every later view."""
        self.type_synonyms = {k: tuple(v) for k, v in type_synonyms.items()}
        self.complements = {k: tuple(v) for k, v in complements.items()}
        view = self.view
        view.search.complements = dict(self.complements)
        self.view = replace(view, entities=EntityExtractor(view.vocabulary, type_synonyms=self.type_synonyms))

    # --- building ------------------------------------------------------------------
    def _text_key(self, document: str) -> str:
        return f"{self.model_tag}:{hashlib.sha1(document.encode()).hexdigest()}"

    def _document_key(self, product: Product) -> str:
        """The cache key of a product's search text (memoised per product object: products are frozen)."""
        cached = self._keys.get(id(product))
        if cached is None or cached[0] is not product:
            cached = (product, self._text_key(product_document(product)))
            self._keys[id(product)] = cached
        return cached[1]

    def _build_view(self, products: dict[str, Product], vectors: dict[str, np.ndarray], version: int) -> _View:
        catalog = InMemoryCatalog(products=list(products.values()), source="shopify")
        offered = catalog.offered()
        if offered:
            matrix = np.stack([vectors[self._document_key(p)] for p in offered])
        else:
            matrix = np.zeros((0, self.encoder.dim), dtype=np.float32)
        search = ProductSearch(catalog=catalog, encoder=self.encoder, embeddings=matrix,
                               complements=getattr(self, "complements", None))
        vocabulary = catalog.vocabulary()
        previous = getattr(self, "view", None)
        # The extractor is rebuilt only when the catalogue's words changed (a price or stock change keeps them).
        entities = previous.entities if previous is not None and previous.vocabulary == vocabulary \
            else EntityExtractor(vocabulary, type_synonyms=getattr(self, "type_synonyms", None))
        return _View(catalog=catalog, search=search, entities=entities, vocabulary=vocabulary, version=version)

    async def _ensure_vectors(self, products: Iterable[Product]) -> None:
        """Embed the offered products whose text has no vector yet (memory, then snapshot, then encoder)."""
        wanted = {}
        for p in products:
            if p.offered:
                key = self._document_key(p)
                if key not in self._vectors:
                    wanted[key] = product_document(p)
        if not wanted:
            return
        try:
            cached = await self.snapshot.embeddings(list(wanted))
        except StorageError as error:
            logger.warning("catalogue: cached embeddings unreadable: %s", error)
            cached = {}
        self._vectors.update({k: v for k, v in cached.items() if v.shape == (self.encoder.dim,)})
        missing = [k for k in wanted if k not in self._vectors]
        if not missing:
            return
        vectors = await embed_passages(self.encoder, [wanted[k] for k in missing])
        fresh = {k: np.asarray(v, dtype=np.float32) for k, v in zip(missing, vectors)}
        self._vectors.update(fresh)
        with contextlib.suppress(StorageError):
            await self.snapshot.put_embeddings(fresh)

    async def _swap(self, changed: set[str]) -> None:
        await self._ensure_vectors(self._products.values())
        products, vectors = dict(self._products), dict(self._vectors)
        live = {id(p) for p in products.values()}
        self._keys = {k: v for k, v in self._keys.items() if k in live}
        view = await asyncio.to_thread(self._build_view, products, vectors, self.view.version + 1)
        self.view = view
        self.rebuilds += 1
        now = time.monotonic()
        for pid in changed:
            self.applied_at[pid] = now
        if self.on_change is not None and changed:
            await self.on_change(changed)

    # --- loading and following ---------------------------------------------------------
    async def load(self) -> int:
        """Build the view from everything in the snapshot; returns the number of products."""
        records, self._position = await self.snapshot.load()
        self.records = dict(records)
        self._products = {pid: p for pid, r in records.items() if (p := _read(pid, r)) is not None}
        await self._swap(set())
        logger.info("catalogue: %d products (%d offered) loaded from the snapshot",
                    len(self._products), len(self.view.catalog.offered()))
        return len(self._products)

    async def apply(self, ids: Iterable[str]) -> set[str]:
        """Re-read the given products from the snapshot and swap in a new view; returns the ids applied."""
        ids = set(ids)
        if FULL in ids:
            await self.load()
            return ids
        records = await self.snapshot.get_many(ids)
        for pid in ids:
            record = records.get(pid)
            product = None if record is None or is_tombstone(record) else _read(pid, record)
            if product is None:
                self._products.pop(pid, None)
                self.records.pop(pid, None)
            else:
                self._products[pid] = product
                self.records[pid] = records[pid]
        await self._swap(ids)
        return ids

    def start(self) -> None:
        """Follow the snapshot's change stream in the background (call after :meth:`load`)."""
        if self._follower is None or self._follower.done():
            self._follower = asyncio.get_running_loop().create_task(self._follow(), name="catalogue follower")

    async def stop(self) -> None:
        """Stop following. The follower ends after its current read; cancelling a blocked
        ``XREAD`` can leave the Redis connection stuck, so that is only the fallback."""
        follower, self._follower = self._follower, None
        if follower is None:
            return
        self._stopping = True
        try:
            await asyncio.wait_for(asyncio.shield(follower), timeout=_READ_BLOCK_MS / 1000 + 2.0)
        except TimeoutError:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
        finally:
            self._stopping = False

    async def _follow(self) -> None:
        while not self._stopping:
            try:
                ids, position = await self.snapshot.changes(self._position, block_ms=_READ_BLOCK_MS)
            except StorageError as error:
                logger.warning("catalogue: change stream unreadable, serving the last view: %s", error)
                await asyncio.sleep(1.0)
                continue
            try:
                if ids:
                    # Everything that arrived while the last batch was applied is one batch.
                    await self.apply(ids)
            except StorageError as error:
                logger.warning("catalogue: changes %s not applied yet: %s", sorted(ids)[:5], error)
                await asyncio.sleep(1.0)
                continue  # the same position is read again
            except Exception:
                logger.exception("catalogue: a change batch failed and was skipped")
            self._position = position
