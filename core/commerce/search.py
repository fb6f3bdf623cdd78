"""Hybrid product search over the offered catalogue.

Each offered product is indexed twice: an embedding of a short document
(title, type, tags, colours, first sentence of the description) and a BM25
keyword index with typo tolerance (:class:`core.retrieval.KeywordIndex`).
A query is scored by ``SEMANTIC_WEIGHT * cosine + (1 - SEMANTIC_WEIGHT) *
keyword``; then hard filters (type, colour, size, price, stock) remove what
does not fit and pick the variant that does. Filters are never relaxed
here: an empty result is the caller's cue to say so and suggest something.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np

from core.commerce.catalog import Catalog, Product, Variant, load_catalog
from core.commerce.entities import Entities, EntityExtractor
from core.protocols import TextEncoder, embed_passages, embed_passages_sync
from core.retrieval import KeywordIndex, keyword_scores, tokenize

SEMANTIC_WEIGHT = 0.6

@dataclass(frozen=True)
class SearchFilters:
    """Hard constraints on results. Empty tuples and None mean "any"."""

    price_min: Decimal | None = None
    price_max: Decimal | None = None
    colors: tuple[str, ...] = ()
    sizes: tuple[str, ...] = ()
    product_types: tuple[str, ...] = ()
    in_stock: bool = False
    sort: Literal["relevance", "price_asc", "price_desc"] = "relevance"

    @classmethod
    def from_entities(cls, entities: Entities) -> SearchFilters:
        sort = {"cheaper": "price_asc", "pricier": "price_desc"}.get(entities.sort or "", "relevance")
        return cls(price_min=entities.price_min, price_max=entities.price_max, colors=entities.colors,
                   sizes=entities.sizes, product_types=entities.product_types, in_stock=entities.in_stock,
                   sort=sort)  # type: ignore[arg-type]

    # Lower-cased once per filter: a search tests every product and variant against them.
    @cached_property
    def _colors(self) -> frozenset[str]:
        return frozenset(c.lower() for c in self.colors)

    @cached_property
    def _sizes(self) -> frozenset[str]:
        return frozenset(s.lower() for s in self.sizes)

    @cached_property
    def _types(self) -> frozenset[str]:
        return frozenset(t.lower() for t in self.product_types)

    def variant_fits(self, variant: Variant) -> bool:
        """Whether one variant meets the colour, size, price and stock constraints."""
        if self.colors and (variant.color or "").lower() not in self._colors:
            return False
        if self.sizes and (variant.size or "").lower() not in self._sizes:
            return False
        if self.price_min is not None and variant.price < self.price_min:
            return False
        if self.price_max is not None and variant.price > self.price_max:
            return False
        return not (self.in_stock and not variant.buyable)

    def match(self, product: Product) -> Variant | None:
        """The best-fitting variant (buyable first), or None when the product does not fit."""
        if self.product_types and product.product_type.lower() not in self._types:
            return None
        first = None
        for v in product.variants:
            if self.variant_fits(v):
                if v.buyable:
                    return v
                if first is None:
                    first = v
        return first


@dataclass(frozen=True)
class SearchHit:
    product: Product
    score: float
    semantic: float
    keyword: float
    matched_variant: Variant


def product_document(product: Product) -> str:
    """The short text a product is embedded and keyword-indexed by."""
    first_sentence = re.split(r"(?<=[.!?])\s", product.body_text, maxsplit=2)
    blurb = " ".join(first_sentence[:2])
    parts = [product.title, product.product_type, ", ".join(product.tags), " ".join(product.colors), blurb]
    return ". ".join(p for p in parts if p)


class ProductSearch:
    """Hybrid semantic + keyword search over a catalogue's offered products.

    Args:
        catalog: any :class:`~core.commerce.catalog.Catalog`; only ``offered()`` is indexed.
        encoder: any :class:`~core.protocols.TextEncoder`.
        embeddings: precomputed product embeddings in ``offered()`` order;
            when omitted they are computed here with ``encoder.embed_sync``
            (use :meth:`build` from async code).
        semantic_weight: share of the semantic score in the blend.
    """

    def __init__(self, *, catalog: Catalog, encoder: TextEncoder, embeddings: np.ndarray | None = None,
                 semantic_weight: float = SEMANTIC_WEIGHT,
                 complements: Mapping[str, Sequence[str]] | None = None,
                 on_progress: Callable[[int, int], None] | None = None) -> None:
        self.catalog = catalog
        self.complements = dict(complements or {})
        self.encoder = encoder
        self.semantic_weight = semantic_weight
        self.products: tuple[Product, ...] = tuple(catalog.offered())
        self.documents = [product_document(p) for p in self.products]
        if embeddings is None:
            embeddings = _embed_in_chunks(encoder, self.documents, on_progress)
        if embeddings.shape[0] != len(self.products):
            raise ValueError(f"{embeddings.shape[0]} embeddings for {len(self.products)} products")
        self._vectors = np.asarray(embeddings, dtype=np.float32)
        self._row = {p.handle: i for i, p in enumerate(self.products)}
        self._keywords = KeywordIndex(documents=[
            tokenize(" ".join((p.title, p.title, p.product_type, p.product_type, " ".join(p.tags),
                               " ".join(p.colors), p.body_text))) for p in self.products
        ])

    @classmethod
    async def build(cls, *, catalog: Catalog, encoder: TextEncoder,
                    semantic_weight: float = SEMANTIC_WEIGHT) -> ProductSearch:
        """Build the index without blocking the event loop (the encoder runs off-loop)."""
        documents = [product_document(p) for p in catalog.offered()]
        embeddings = (await embed_passages(encoder, documents) if documents
                      else np.zeros((0, encoder.dim), np.float32))
        return cls(catalog=catalog, encoder=encoder, embeddings=embeddings, semantic_weight=semantic_weight)

    def __len__(self) -> int:
        return len(self.products)

    async def search(self, query: str, *, filters: SearchFilters | None = None, k: int = 5, offset: int = 0,
                     query_embedding: np.ndarray | None = None) -> list[SearchHit]:
        """Products for ``query`` that satisfy ``filters``, best first.

        Args:
            query: the user's words; may be empty when filters alone drive the search.
            filters: hard constraints; never violated by a returned hit.
            k: page size.
            offset: hits to skip (for "show me more").
            query_embedding: the query's embedding when the caller already has it.
        """
        if query.strip() and query_embedding is None:
            query_embedding = (await self.encoder.embed([query]))[0]
        return self.rank(query, filters=filters, k=k, offset=offset, query_embedding=query_embedding)

    def rank(self, query: str, *, filters: SearchFilters | None = None, k: int = 5, offset: int = 0,
             query_embedding: np.ndarray | None = None) -> list[SearchHit]:
        """Synchronous scoring once the query is embedded (cheap: one matrix product)."""
        filters = filters or SearchFilters()
        n = len(self.products)
        if query_embedding is not None and n:
            semantic = self._vectors @ np.asarray(query_embedding, dtype=np.float32).reshape(-1)
        else:
            semantic = np.zeros(n, dtype=np.float32)
        keyword = keyword_scores(self._keywords, tokenize(query)) if n else np.zeros(0, np.float32)
        w = self.semantic_weight
        score = w * semantic + (1 - w) * keyword
        hits: list[SearchHit] = []
        # Ranked by relevance, the page is complete once it is full; a price
        # order needs every fitting product first.
        wanted = offset + max(k, 0) if filters.sort == "relevance" else n
        for i in np.argsort(-score, kind="stable"):
            if len(hits) >= wanted:
                break
            variant = filters.match(self.products[i])
            if variant is not None:
                hits.append(SearchHit(product=self.products[i], score=float(score[i]),
                                      semantic=float(semantic[i]), keyword=float(keyword[i]),
                                      matched_variant=variant))
        if filters.sort != "relevance":
            reverse = filters.sort == "price_desc"
            hits.sort(key=lambda h: (h.matched_variant.price, -h.score) if not reverse
                      else (-h.matched_variant.price, -h.score))
        return hits[offset: offset + max(k, 0)]

    def similar(self, handle: str, k: int = 5) -> list[SearchHit]:
        """Embedding neighbours of the same product type (the product itself excluded)."""
        row = self._row.get(handle)
        if row is None:
            return []
        product = self.products[row]
        sims = self._vectors @ self._vectors[row]
        hits = []
        for i in np.argsort(-sims, kind="stable"):
            other = self.products[i]
            if i == row or other.product_type != product.product_type or not other.in_stock:
                continue
            hits.append(self._hit(other, float(sims[i])))
            if len(hits) >= k:
                break
        return hits

    def goes_with(self, handle: str, k: int = 3) -> list[SearchHit]:
        """Complementary products: other types that go with this one, best embedding match per type.

        The types come from the bot's ``complements`` when it lists this type, else from the
        catalogue itself: types whose products share tags with products of this type (the shop's
        collections), most shared first. Picks round-robin across the types so the suggestions are
        varied, e.g. jeans → a t-shirt, sneakers, a belt.
        """
        row = self._row.get(handle)
        if row is None:
            return []
        product = self.products[row]
        types = tuple(self.complements.get(product.product_type, ())) or self._co_occurring_types(product)
        sims = self._vectors @ self._vectors[row]
        per_type: dict[str, list[int]] = {t: [] for t in types}
        for i in np.argsort(-sims, kind="stable"):
            other = self.products[i]
            if other.product_type in per_type and other.in_stock:
                per_type[other.product_type].append(int(i))
        hits: list[SearchHit] = []
        depth = 0
        while len(hits) < k and any(len(v) > depth for v in per_type.values()):
            for rank, t in enumerate(types):
                if len(per_type[t]) > depth and len(hits) < k:
                    i = per_type[t][depth]
                    hits.append(self._hit(self.products[i], float(sims[i]) - 0.01 * rank))
            depth += 1
        return hits

    def _co_occurring_types(self, product: Product, most: int = 6) -> tuple[str, ...]:
        """Other types that share tags with this product's type, most shared first."""
        own = product.product_type
        tags = {t.lower() for p in self.products if p.product_type == own for t in p.tags}
        if not own or not tags:
            return ()
        shared: dict[str, int] = {}
        for p in self.products:
            if p.product_type and p.product_type != own:
                n = sum(t.lower() in tags for t in p.tags)
                if n:
                    shared[p.product_type] = shared.get(p.product_type, 0) + n
        return tuple(sorted(shared, key=lambda t: -shared[t])[:most])

    @staticmethod
    def _hit(product: Product, score: float) -> SearchHit:
        variant = next((v for v in product.variants if v.buyable), product.variants[0])
        return SearchHit(product=product, score=score, semantic=score, keyword=0.0, matched_variant=variant)


def _embed_in_chunks(encoder: TextEncoder, documents: Sequence[str],
                     on_progress: Callable[[int, int], None] | None, chunk: int = 128) -> np.ndarray:
    """Embed the documents, reporting (done, total) after each chunk when asked (a progress bar)."""
    if not documents:
        return np.zeros((0, encoder.dim), dtype=np.float32)
    if on_progress is None:
        return embed_passages_sync(encoder, documents)
    parts = []
    for start in range(0, len(documents), chunk):
        parts.append(embed_passages_sync(encoder, documents[start:start + chunk]))
        on_progress(min(start + chunk, len(documents)), len(documents))
    return np.concatenate(parts)


def search_products(products: Sequence[Product], filters: SearchFilters) -> list[tuple[Product, Variant]]:
    """Filter without ranking (e.g. to count how many products a filter leaves)."""
    out = []
    for p in products:
        if (v := filters.match(p)) is not None:
            out.append((p, v))
    return out


def catalog_services(path: Path, encoder: TextEncoder, *, type_synonyms: Mapping[str, Sequence[str]] | None = None,
                     complements: Mapping[str, Sequence[str]] | None = None,
                     ) -> tuple[Catalog, ProductSearch, EntityExtractor]:
    """A catalogue with its search index (embeds every product) and entity vocabulary.

    Built once per runtime through ``SetupContext.share``: the staff helpdesk reads the same catalogue.
    ``type_synonyms`` and ``complements`` are the bot's own words (its data files), beyond the catalogue's.
    """
    catalog = load_catalog(path)
    return (catalog, ProductSearch(catalog=catalog, encoder=encoder, complements=complements),
            EntityExtractor(catalog.vocabulary(), type_synonyms=type_synonyms))
