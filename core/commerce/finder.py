"""Finding products for a shopper's words in any shop's catalogue.

:class:`ProductFinder` is what both the chat and ``shopkeep search`` call:

1. **Parse** the query against the catalogue's own vocabulary
   (:class:`~core.commerce.vocabulary.CatalogVocabulary`): price range (any
   currency), stock wording, negations ("not black", "without fruit"),
   colour families, option values the shop uses ("Chryso Black", "25 g",
   "Roasted Groundnuts"), size words, materials, product types, and the
   query's distinctive words.
2. **Name a product**: a query that is (nearly) a product's title or handle
   names it; that product comes first whatever else the query says.
3. **Rank** every offered product by the hybrid score of
   :class:`~core.commerce.search.ProductSearch` (embeddings + BM25) plus soft
   constraint scores: a colour, size or material matched in the variant
   options counts most, in title, tags or handle next, in the description last.
4. **Filter, then relax in a stated order** (:data:`RELAX_ORDER`) when the
   strict constraints leave nothing: what was relaxed is reported so the
   reply can say it ("nothing under 20 — the cheapest start at 24").
5. **Be honest**: when the shop has nothing active and buyable of the kind
   asked for (a word only drafts use, a product noun no offered product
   mentions, every match sold out), ``none_buyable`` is set and the results
   shown are labelled ``alternative``.

Drafts, archived and unpublished products are never candidates: only
``catalog.offered()`` is indexed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import pairwise
from typing import Any, Literal

import numpy as np

from core.commerce.calibration import calibration_for
from core.commerce.catalog import Product, Variant
from core.commerce.entities import EntityExtractor, halfwidth
from core.commerce.search import ProductSearch
from core.commerce.vocabulary import (
    CatalogVocabulary,
    Lexicon,
    cjk_spans,
    default_lexicon,
    effective_type,
    fold,
    has_cjk,
    norm_words,
    phrases,
    type_forms,
    words,
)
from core.retrieval import STOPWORDS, edit_distance, stem, tokenize, typo_budget

Match = Literal["named", "match", "alternative"]

#: Constraints given up one at a time, in this order, when together they leave nothing.
RELAX_ORDER = ("size", "option", "colour", "material", "price", "stock", "type", "terms")
#: Bonus of a product named by the query (it must come first).
NAMED_BONUS = 2.0
#: A distinctive query word narrows the candidates when at most this share of products use it.
RARE_SHARE = 0.06
RARE_MIN = 12
_NO_ROWS = np.zeros(0, np.int64)
#: Bonus for the share of the query's words in a product's title (titles say what a product is).
TITLE_WEIGHT = 0.3
#: Bonus when a product's title holds the query's last content word (its head noun).
HEAD_WEIGHT = 0.08

_NEGATION = re.compile(
    r"\b(?:not|no|without|isn'?t|aren'?t|non|except|excluding|but\s+not|free\s+of)\s+(?:an?\s+|any\s+|the\s+)?"
    r"([\w'-]+(?:\s+(?:or|and|nor)\s+[\w'-]+)?)", re.IGNORECASE)
_FREE = re.compile(r"\b([a-z]+)[- ]free\b", re.IGNORECASE)
_STOCK = re.compile(
    r"\b(?:in[\s-]stock|available(?:\s+(?:now|today|to\s+buy(?:\s+now)?))?|can\s+buy|buy\s+(?:now|today)"
    r"|ready\s+to\s+ship|actually\s+in\s+stock|right\s+now|today)\b|有货|现货", re.IGNORECASE)
_UPPER_SIZE = re.compile(r"(?<![\w'])(XXS|XS|S|M|L|XL|XXL|XXXL|[2-6]XL)(?![\w'])")
_SIZE_KEY = re.compile(r"\b(?:size|sz)\s*:?\s*([a-z0-9/]{1,5})\b|\b([a-z0-9/]{1,4})\s+size\b", re.IGNORECASE)
_ZH_NEGATION = re.compile(r"(?:不要|不想要|不喜欢|除了|别要|不是|非)\s*([\u4e00-\u9fff]{1,4}?)(?:色|的|之外|以外|[,，。、 ]|$)")
_ZH_SIZE = re.compile(r"(?<![A-Za-z0-9.])(?:([0-9]{1,2}(?:\.5)?)\s*码|([2-6]?X{0,3}[SML])\s*(?:码|号))", re.IGNORECASE)
_NEG_STOP = frozenset({"more", "less", "than", "over", "under", "longer", "problem", "thanks", "thank"})


@dataclass(frozen=True)
class ParsedQuery:
    """What a query asks for, in the catalogue's words."""

    text: str
    terms: tuple[str, ...] = ()
    rare_terms: tuple[str, ...] = ()
    missing_terms: tuple[str, ...] = ()
    negated: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    colours: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    sizes: tuple[str, ...] = ()
    materials: tuple[str, ...] = ()
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    in_stock: bool = False
    sort: str | None = None
    search_text: str = ""
    spellings: tuple[tuple[str, str], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in ("types", "colours", "options", "sizes", "materials", "negated", "rare_terms", "missing_terms"):
            if value := getattr(self, name):
                out[name] = list(value)
        for name in ("price_min", "price_max"):
            if (value := getattr(self, name)) is not None:
                out[name] = str(value)
        if self.in_stock:
            out["in_stock"] = True
        if self.sort:
            out["sort"] = self.sort
        return out


@dataclass(frozen=True)
class FoundProduct:
    product: Product
    variant: Variant
    score: float
    match: Match
    reasons: tuple[str, ...] = ()

    @property
    def matched_variant(self) -> Variant:
        return self.variant


@dataclass(frozen=True)
class Finding:
    """The answer to one query: results best first, what was relaxed, whether anything fits at all."""

    query: ParsedQuery
    results: tuple[FoundProduct, ...]
    none_buyable: bool = False
    relaxed: tuple[str, ...] = ()
    named: tuple[Product, ...] = ()
    cheapest: Decimal | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "query": self.query.text,
            "understood": self.query.as_dict(),
            "none_buyable": self.none_buyable,
            "relaxed": list(self.relaxed),
            "results": [{
                "handle": r.product.handle,
                "title": r.product.title,
                "match": r.match,
                "score": round(r.score, 4),
                "sku": r.variant.sku,
                "variant": r.variant.title,
                "price": str(r.variant.price),
                "buyable": r.product.in_stock,
                "reasons": list(r.reasons),
            } for r in self.results],
        }


@dataclass
class _Facts:
    """Per-product text prepared once for constraint checks."""

    words: frozenset[str]
    title_words: tuple[str, ...]
    body: str
    body_words: frozenset[str]
    type_words: frozenset[str]
    colour_families: dict[str, set[str]] = field(default_factory=dict)
    text_colour_families: frozenset[str] = frozenset()
    has_colour_option: bool = False
    has_size_option: bool = False
    option_values: frozenset[str] = frozenset()
    size_values: frozenset[str] = frozenset()
    title_folded: str = ""


class ProductFinder:
    """Query understanding, named products, soft constraints and honest answers over one catalogue.

    Args:
        search: the hybrid index (embeddings + keywords) of the catalogue's offered products.
        lexicon: shop-independent word knowledge; the default is ``data/lexicon.yaml``.
    """

    def __init__(self, *, search: ProductSearch, lexicon: Lexicon | None = None,
                 type_synonyms: Mapping[str, Sequence[str]] | None = None) -> None:
        self.search = search
        self.lexicon = lexicon or default_lexicon()
        self.catalog = search.catalog
        # Dense-similarity thresholds fitted for this encoder (cosines sit higher on e5 than on MiniLM).
        self.calibration = calibration_for(search.encoder)
        self.vocabulary = CatalogVocabulary.from_products(self.catalog.products(), self.lexicon)
        # The bot's own words for types this catalogue has ("hoody", "卫衣"); CJK ones match as substrings.
        self._cjk_forms: list[tuple[str, str]] = []
        for t, synonyms in (type_synonyms or {}).items():
            if t not in self.vocabulary.types:
                continue
            for syn in synonyms:
                if syn.isascii():
                    form = " ".join(norm_words(syn))
                    if form:
                        self.vocabulary.type_forms.setdefault(form, set()).add(t)
                else:
                    self._cjk_forms.append((syn, t))
        self._prices = EntityExtractor(self.catalog.vocabulary())
        self.products = search.products
        self._colour_stems = [(c, f) for c, f in self.lexicon.colour_family.items()
                              if c.isalpha() and len(c) >= 4 and " " not in c]
        self._facts = [self._facts_of(p) for p in self.products]
        # Per-product arrays and word → rows indexes: a query costs a few vector operations.
        self._in_stock = np.array([p.in_stock for p in self.products], bool)
        self._types = [effective_type(p) for p in self.products]
        self._has_type = np.array([bool(t) for t in self._types], bool)
        self._variant_prices = np.array([float(v.price) for p in self.products for v in p.variants], np.float64)
        self._variant_rows = np.array([i for i, p in enumerate(self.products) for _ in p.variants], np.int64)
        word_rows: dict[str, list[int]] = {}
        title_rows: dict[str, list[int]] = {}
        for i, f in enumerate(self._facts):
            for w in f.words:
                word_rows.setdefault(w, []).append(i)
            for w in set(f.title_words):
                title_rows.setdefault(w, []).append(i)
        self._word_rows = {w: np.array(r, np.int64) for w, r in word_rows.items()}
        self._title_rows = {w: np.array(r, np.int64) for w, r in title_rows.items()}
        self._titles: dict[str, list[int]] = {}
        for i, p in enumerate(self.products):
            self._titles.setdefault(" ".join(norm_words(p.title)), []).append(i)
            self._titles.setdefault(" ".join(norm_words(p.handle)), []).append(i)
        self._inactive_titles = {" ".join(norm_words(p.title)) for p in self.catalog.products() if not p.offered}
        self._option_keys = sorted(self.vocabulary.option_phrases, key=len, reverse=True)
        self._size_values = frozenset(fold(value) for family, value in self.vocabulary.option_phrases.values()
                                      if family == "size")
        self._meaning: dict[str, bool] = {}
        self._spellings: dict[tuple[str, int, int], str | None] = {}
        self._words: list[str] = []
        self._word_vectors: np.ndarray | None = None

    # ------------------------------------------------------------------ facts

    def _facts_of(self, p: Product) -> _Facts:
        lex = self.lexicon
        fam: dict[str, set[str]] = {}
        colour_names = [n for n in p.option_names if lex.option_family(n) == "colour"]
        for v in p.variants:
            for n in colour_names:
                if (value := v.options.get(n)) and (f := lex.colour_of(value)):
                    fam.setdefault(f, set()).add(value)
        text = " ".join((p.title, " ".join(p.tags), p.handle.replace("-", " ")))
        text_fams = set()
        ws = words(text)
        for _, _, ph in phrases(ws, 2):
            if ph in lex.colour_family:
                text_fams.add(lex.colour_family[ph])
        for w in ws:  # trade names built on a colour: "Goldie", "Rosy"
            if w not in lex.colour_family and len(w) > 4:
                for c, family in self._colour_stems:
                    if w.startswith(c):
                        text_fams.add(family)
        return _Facts(
            words=frozenset(CatalogVocabulary.product_words(p)),
            title_words=tuple(norm_words(p.title)),
            body=fold(p.body_text[:3000]),
            body_words=frozenset(norm_words(p.body_text[:3000])),
            type_words=frozenset(norm_words(effective_type(p))),
            colour_families=fam,
            text_colour_families=frozenset(text_fams),
            has_colour_option=bool(colour_names),
            has_size_option=any(lex.option_family(n) == "size" for n in p.option_names),
            option_values=frozenset(fold(x) for v in p.variants for x in v.options.values()),
            size_values=frozenset(fold(value) for v in p.variants for name, value in v.options.items()
                                  if lex.option_family(name) == "size"),
            title_folded=fold(p.title),
        )

    # ------------------------------------------------------------------ parsing

    def parse(self, text: str) -> ParsedQuery:
        """Read one query; never raises on odd input."""
        text = halfwidth((text or "").strip())
        lex, vocab = self.lexicon, self.vocabulary
        ents = self._prices.extract(text)
        work = text
        cjk = has_cjk(text)
        if cjk and (ents.price_min is not None or ents.price_max is not None):
            work = self._prices.without_prices(work)  # "60元以下", "50到80块"
        negated: list[str] = []
        if cjk:  # "不要黑色", "除了白色": a colour not wanted
            for m in _ZH_NEGATION.finditer(work):
                for _, _, w in cjk_spans(m.group(1), lex.colour_family):
                    negated.append(lex.colour_family[w])
                    work = work.replace(m.group(0), " ")
        for m in list(_NEGATION.finditer(work)):
            for w in re.split(r"\s+(?:or|and|nor)\s+", m.group(1)):
                nw = norm_words(w)
                if nw and nw[0] not in _NEG_STOP and nw[0] not in STOPWORDS:
                    negated.append(nw[0])
            work = work.replace(m.group(0), " ")
        for m in list(_FREE.finditer(work)):
            negated.append(stem(fold(m.group(1))))
            work = work.replace(m.group(0), " ")
        in_stock = bool(_STOCK.search(work))
        work = _STOCK.sub(" ", work)
        # Money and ranges are understood by the entity rules; drop them from the words.
        work = re.sub(r"(?:under|below|over|above|less than|more than|cheaper than|between|nothing over|up to)?\s*"
                      r"(?:[A-Za-z]{1,3}\$|[$€£¥₹]|\b(?:RM|R|EUR|USD|AUD|ZAR|MYR)\s?)?\d[\d,.]*\s*"
                      r"(?:euros?|dollars?|rand|ringgit|bucks)?(?:\s*(?:and|to|-)\s*[$€£R]?\s*\d[\d,.]*)?",
                      lambda m: m.group(0) if re.search(r"\d\s*(?:g|kg|ml|oz|xl|cm|mm|pc|pack)\b", m.group(0), re.IGNORECASE)
                      and not re.search(r"[$€£]|RM|\bR\d", m.group(0)) else " ", work) \
            if (ents.price_min is not None or ents.price_max is not None) else work

        sizes: list[str] = []
        for m in _UPPER_SIZE.finditer(work):
            sizes.append(m.group(1))
        for m in _ZH_SIZE.finditer(work):  # "M码", "L号", "32码"
            raw = (m.group(1) or m.group(2)).upper()
            if raw not in sizes:
                sizes.append(raw)
        for m in _SIZE_KEY.finditer(work):
            raw = (m.group(1) or m.group(2) or "")
            folded_raw = fold(raw)
            known_size = raw.isdigit() or folded_raw in lex.size_words or folded_raw in self._size_values
            if raw and known_size and raw.upper() not in sizes:
                sizes.append(raw.upper() if len(raw) <= 3 else raw)
        tokens = norm_words(work)
        # Words that only widen the search (never required): needs and other forms of the words said.
        widen: list[str] = []
        zh_colours: list[str] = []
        if cjk:  # Chinese has no spaces: known words are found inside the text
            tokens = [t for t in tokens if not has_cjk(t) or vocab.active_df.get(t)]
            for _, _, w in cjk_spans(work, [*lex.colour_family, *lex.size_words, *lex.zh_nouns, *lex.zh_words]):
                if w in lex.colour_family:
                    zh_colours.append(lex.colour_family[w])
                elif w in lex.size_words:
                    sizes.append(w)
                elif w in lex.zh_nouns:  # the catalogue's own word for it; else all (an honest "none")
                    said = [t for english in lex.zh_nouns[w] for t in norm_words(english)]
                    tokens += [t for t in said if vocab.active_df.get(t)] or said
                else:
                    said = [t for english in lex.zh_words[w] for t in norm_words(english)]
                    widen += [t for t in said if vocab.active_df.get(t) or t in vocab.body_words]
                    work += " " + " ".join(m for m in lex.zh_words[w] if m in lex.materials)
        folded_work = f" {' '.join(words(work))} "
        for when, add in lex.needs:  # "something to throw over my swimsuit" → cover-up, pareo
            if any(f" {w} " in folded_work for w in when):
                widen += [t for a in add for t in norm_words(a) if vocab.active_df.get(t) or t in vocab.body_words]
        known = self.search._keywords._idf
        for t in list(tokens):  # "scent" finds "scented", "oily" finds "oil"
            for other in (t + "ed", t + "d", t + "ing", t[:-1] if t.endswith("y") else "", t[:-2] if
                          t.endswith("ed") else ""):
                if len(other) > 3 and other in known and other not in tokens:
                    widen.append(other)
        # "one piece" → "onepiece", "t shirt" → "tshirt" when the shop writes it as one word.
        tokens += [a + b for a, b in pairwise(tokens) if vocab.active_df.get(a + b)]
        # Option values the shop uses, longest first ("chryso black" before "black").
        options: list[str] = []
        used: set[int] = set()
        for i, j, ph in phrases(tokens, 4):
            if any(k in used for k in range(i, j)):
                continue
            hit = vocab.option_phrases.get(ph)
            if hit is None:
                continue
            family, value = hit
            if len(ph) <= 2 and not ph.isdigit():
                continue  # "s", "m", "l": only when written as a size (above)
            if family == "colour" or len(ph) > 3 or any(c.isdigit() for c in ph):
                options.append(value)
                used.update(range(i, j))
        colours: list[str] = []
        fws = words(work)
        taken: set[int] = set()
        for i, j, ph in phrases(fws, 3):
            if any(k in taken for k in range(i, j)):
                continue
            if ph in lex.colour_family and not (ph in ("rose", "rosa") and j < len(fws) and fws[j] == "gold"):
                colours.append(lex.colour_family[ph])
                taken.update(range(i, j))
        colours += [c for c in zh_colours if c not in negated]
        for w in fws:
            if w in lex.size_words and w not in ("s", "m", "l"):
                sizes.append(w)
        materials = [m for m in lex.materials if re.search(rf"\b{re.escape(m)}\b", fold(work))
                     and lex.colour_family.get(m) not in colours]  # "gold" asked once, as a colour
        types: list[str] = [t for form, t in self._cjk_forms if form in work]
        for _, _, ph in phrases(tokens, 3):
            for t in vocab.type_forms.get(ph, ()):
                if t not in types:
                    types.append(t)
            if types:
                break
        if types and not any(t in vocab.type_forms for t in tokens):
            tokens += norm_words(" ".join(types))  # "卫衣" searches as "hoodies"
        content = [t for t in tokens if t not in STOPWORDS and t not in lex.filler and len(t) > 1
                   and not t.isdigit() and t not in negated]
        rare: list[str] = []
        missing: list[str] = []
        n = max(vocab.offered_count, 1)
        limit = max(RARE_MIN, RARE_SHARE * n)
        extra: list[str] = []
        spellings: list[tuple[str, str]] = []
        for t in content:
            df = vocab.active_df.get(t, 0)
            better = self._spelling(t, df, 1) if 0 < df <= limit and len(t) >= 6 else None
            if df == 0:
                if vocab.inactive_df.get(t, 0) > 0 and t not in vocab.body_words \
                        and not (t.isalpha() and self._close_in_meaning(t)):
                    missing.append(t)  # a word only drafts or archived products use
                elif t in lex.product_nouns and not self._typo_known(t) and not self._close_in_meaning(t):
                    missing.append(t)  # a kind of product nobody here mentions
                elif t not in vocab.body_words and len(t) >= 5 and (fixed := self._spelling(t)):
                    extra.append(fixed)  # a typo: "tenderlion" → "tenderloin"
                    spellings.append((t, fixed))
                    if vocab.active_df.get(fixed, 0) <= limit:
                        rare.append(fixed)
            elif better:
                extra.append(better)  # the shop's own misspelling ("pendent") also finds "pendant"
                spellings.append((t, better))
            elif df <= limit and t not in lex.colour_family and t not in lex.size_words:
                rare.append(t)
        tokens = tokens + extra + widen
        return ParsedQuery(
            text=text, terms=tuple(content), rare_terms=tuple(dict.fromkeys(rare)),
            missing_terms=tuple(dict.fromkeys(missing)), negated=tuple(dict.fromkeys(negated)),
            types=tuple(types), colours=tuple(dict.fromkeys(colours)), options=tuple(dict.fromkeys(options)),
            sizes=tuple(dict.fromkeys(sizes)), materials=tuple(materials),
            price_min=ents.price_min, price_max=ents.price_max, in_stock=in_stock or ents.in_stock,
            sort=ents.sort, search_text=" ".join(t for t in tokens if t not in negated),
            spellings=tuple(spellings),
        )

    def _typo_known(self, token: str) -> bool:
        return any(w != token for w, _ in self.search._keywords.expand(token))

    def _spelling(self, token: str, df: int = 0, most: int = 2) -> str | None:
        """A catalogue word within the token's typo budget used by at least three times as many products."""
        budget = min(typo_budget(token), most)
        if not budget:
            return None
        key = (token, df, budget)
        if key in self._spellings:
            return self._spellings[key]
        best, best_df = None, max(3 * df, 1)
        for word, _ in self.search._keywords._fuzzy(token):
            wdf = self.vocabulary.active_df.get(word, 0)
            if word != token and wdf >= best_df and edit_distance(token, word, budget) <= budget:
                best, best_df = word, wdf
        self._spellings[key] = best
        return best

    def _close_in_meaning(self, noun: str) -> bool:
        """Whether an unmentioned product noun means something the shop sells ("lipstick" ~ lip kits).

        Mean of its best cosine to an offered product and to a catalogue word, at least the encoder's
        ``noun_meaning_floor`` (:mod:`core.commerce.calibration`; for all-MiniLM-L6-v2 fitted on the
        development exports: sold kinds 0.57-0.71, unsold 0.40-0.54).
        """
        cached = self._meaning.get(noun)
        if cached is not None:
            return cached
        encoder = self.search.encoder
        if self._word_vectors is None:
            self._words = sorted(w for w in self.vocabulary.active_df if w.isalpha() and len(w) > 2)
            self._word_vectors = (encoder.embed_sync(self._words) if self._words
                                  else np.zeros((0, encoder.dim), np.float32))
        vector = encoder.embed_sync([noun])[0]
        product = float((self.search._vectors @ vector).max()) if len(self.products) else 0.0
        word = float((self._word_vectors @ vector).max()) if len(self._words) else 0.0
        close = (product + word) / 2 >= self.calibration.noun_meaning_floor
        self._meaning[noun] = close
        return close

    # ------------------------------------------------------------------ finding

    def find(self, text: str, *, k: int = 5, query_embedding: np.ndarray | None = None,
             parsed: ParsedQuery | None = None, offset: int = 0, allow_named: bool = True,
             relax_order: Sequence[str] | None = None) -> Finding:
        """Products for ``text``, best first (see the module docstring).

        Args:
            text: the shopper's words.
            k: page size; offset: results to skip ("show me more").
            query_embedding: the text's embedding when the caller has it (the intent model's pass).
            parsed: an already parsed (e.g. refined) query.
            allow_named: whether a product the text names comes first (not for refinements).
            relax_order: the order constraints are given up in (default :data:`RELAX_ORDER`).
        """
        q = parsed or self.parse(text)
        order_of_relaxing = tuple(relax_order or RELAX_ORDER)
        n = len(self.products)
        if not n:
            return Finding(query=q, results=(), none_buyable=True)
        if query_embedding is None and (q.search_text.strip() or has_cjk(q.text)):  # Chinese: meaning alone
            query_embedding = self.search.encoder.embed_sync([q.text])[0]
        semantic = (self.search._vectors @ np.asarray(query_embedding, np.float32).reshape(-1)
                    if query_embedding is not None else np.zeros(n, np.float32))
        from core.retrieval import keyword_scores
        keyword = keyword_scores(self.search._keywords, tokenize(q.search_text)) \
            if q.search_text.strip() else np.zeros(n, np.float32)
        score = 0.55 * self.calibration.semantic_scale * semantic + 0.45 * keyword
        named = self._named(q) if allow_named else []
        named_set = set(named)
        checks = {name: np.ones(n, bool) for name in RELAX_ORDER}
        negated_ok = np.ones(n, bool)
        # The rarest distinctive word must be there ("Tiffany earrings": Tiffany, not any earrings).
        anchor = min(q.rare_terms, key=lambda t: self.vocabulary.active_df.get(t, 0)) if q.rare_terms else ""
        fixes = dict(q.spellings)
        content = [fixes.get(t, t) for t in q.terms if t not in q.negated]
        head = content[-1] if content else ""
        bonus = np.where(self._in_stock, 0.1, 0.0)
        # Word-level parts, through the inverted indexes (no loop over products).
        for t in content:
            bonus[self._rows(self._title_rows, t)] += TITLE_WEIGHT / len(content)
        if head:
            bonus[self._rows(self._title_rows, head)] += HEAD_WEIGHT  # "bikini top" is a top
        if q.rare_terms:
            for t in q.rare_terms:
                bonus[self._rows(self._word_rows, t)] += 0.12
            if q.in_stock:  # "nothing buyable" needs the thing itself: the rarest word, not any word
                checks["terms"] = self._mask(self._word_rows, anchor)
            elif len(content) <= 2 and head in q.rare_terms:  # "dresses?": dresses, not pareos
                checks["terms"] = self._mask(self._word_rows, head)
        if q.missing_terms:
            checks["terms"] = np.zeros(n, bool)
        if q.in_stock:
            checks["stock"] = self._in_stock.copy()
        if q.price_min is not None or q.price_max is not None:
            lo = float(q.price_min) if q.price_min is not None else -np.inf
            hi = float(q.price_max) if q.price_max is not None else np.inf
            fits = (self._variant_prices >= lo) & (self._variant_prices <= hi)
            checks["price"] = np.zeros(n, bool)
            checks["price"][self._variant_rows[fits]] = True
        if q.types:
            wanted = set(q.types)
            typed = np.array([t in wanted for t in self._types], bool)
            untyped_ok = np.zeros(n, bool)
            for t in q.types:
                for form in type_forms(t):
                    untyped_ok[self._rows(self._title_rows, form.split()[-1])] = True
            checks["type"] = np.where(self._has_type, typed, untyped_ok)
            bonus += np.where(typed, 0.15, np.where(checks["type"], 0.08, 0.0))
        if named:
            bonus[named] += NAMED_BONUS
        # Attribute parts need each product's options and text: only when the query has them.
        if q.negated or q.colours or q.options or q.sizes or q.materials:
            option_keys = [(o, fold(o), frozenset(norm_words(o))) for o in q.options]
            wanted_sizes = self._wanted_sizes(q.sizes)
            for i, f in enumerate(self._facts):
                extra = 0.0
                if q.negated and any(w in f.words or w in f.text_colour_families or w in f.colour_families
                                     for w in q.negated):
                    negated_ok[i] = False
                if q.colours:
                    c_ok, c_bonus = self._colour_fit(f, q.colours)
                    checks["colour"][i] = c_ok
                    extra += c_bonus
                if q.options:
                    hits = [o for o, fo, _ in option_keys if fo in f.option_values]
                    in_text = [o for o, fo, ws in option_keys if fo in f.body or ws <= f.words]
                    checks["option"][i] = bool(hits or in_text)
                    extra += 0.35 * len(hits) + 0.1 * len(in_text)
                if q.sizes:
                    s_ok = self._size_fit(f, wanted_sizes)
                    checks["size"][i] = s_ok
                    extra += 0.1 if s_ok else 0.0
                if q.materials:
                    m_ok = all(m in f.words or m in f.body for m in q.materials)
                    checks["material"][i] = m_ok
                    extra += 0.1 if m_ok else 0.0
                bonus[i] += extra
        score = score + bonus
        order = np.argsort(-score, kind="stable")
        relaxed: list[str] = []
        active = [c for c in order_of_relaxing if not checks[c].all()]
        for c in RELAX_ORDER:  # a constraint left out of the order is never given up
            if c not in order_of_relaxing:
                negated_ok = negated_ok & checks[c]
        pool = self._pool(checks, active, negated_ok)
        strict_pool = pool
        if not pool.any():  # give up one constraint if that is enough ("silver bracelets, but not under 20")
            for c in active:
                candidate = self._pool(checks, [a for a in active if a != c], negated_ok)
                if candidate.any():
                    pool, relaxed, active = candidate, [c], [a for a in active if a != c]
                    break
        while not pool.any() and active:  # else give them up in order until something is left
            give_up = active.pop(0)
            relaxed.append(give_up)
            pool = self._pool(checks, active, negated_ok)
        strict_buyable = any(self.products[i].in_stock for i in np.flatnonzero(strict_pool))
        none_buyable = not strict_buyable
        if named and not any(self.products[i].in_stock for i in named):
            none_buyable = True
        if not pool.any():
            pool = negated_ok.copy()
        cheapest = None
        if "price" in relaxed and q.price_max is not None:
            prices = [v.price for i in np.flatnonzero(pool) for v in self.products[i].variants]
            cheapest = min(prices) if prices else None
        label: Match = "alternative" if relaxed or (none_buyable and not strict_pool.any()) else "match"
        ranked = [int(i) for i in order if (int(i) in named_set if named else pool[i])]
        if q.sort in ("cheaper",) and not named:
            ranked.sort(key=lambda i: self.products[i].min_price)
        results = []
        for i in ranked[offset: offset + k]:
            p = self.products[i]
            results.append(FoundProduct(
                product=p, variant=self.pick_variant(p, q), score=float(score[i]),
                match="named" if i in named_set else label, reasons=self._reasons(i, q),
            ))
        return Finding(query=q, results=tuple(results), none_buyable=none_buyable, relaxed=tuple(relaxed),
                       named=tuple(self.products[i] for i in named), cheapest=cheapest)

    def _reasons(self, i: int, q: ParsedQuery) -> tuple[str, ...]:
        """The query's words this product matched (for /why)."""
        f = self._facts[i]
        out = [t for t in q.rare_terms if t in f.words]
        if q.colours and self._colour_fit(f, q.colours)[0]:
            out.extend(q.colours)
        out.extend(o for o in q.options if fold(o) in f.option_values or fold(o) in f.body)
        return tuple(dict.fromkeys(out))

    @staticmethod
    def _rows(index: dict[str, np.ndarray], word: str) -> np.ndarray:
        return index.get(word, _NO_ROWS)

    def _mask(self, index: dict[str, np.ndarray], word: str) -> np.ndarray:
        mask = np.zeros(len(self.products), bool)
        mask[self._rows(index, word)] = True
        return mask

    @staticmethod
    def _pool(checks: dict[str, np.ndarray], active: Sequence[str], base: np.ndarray) -> np.ndarray:
        pool = base.copy()
        for c in active:
            pool &= checks[c]
        return pool

    def looks_like_product_request(self, text: str, *, new_search: bool = False) -> bool:
        """Whether the catalogue recognises the text as asking for something it sells (or used to).

        Most of the content words must be the shop's own words (titles, types, tags, options) and
        at least one must be distinctive (a type, an option value, a rare word, a word only drafts use).
        """
        q = self.parse(text)
        content = [t for t in q.terms if t not in self.lexicon.colour_family]
        known = [t for t in content if self.vocabulary.active_df.get(t) or self.vocabulary.inactive_df.get(t)
                 or self._typo_known(t)]
        distinctive = bool(q.types or q.options or q.rare_terms or q.missing_terms or self._named(q))
        if new_search and not (q.types or q.rare_terms or self._named(q)):
            return False
        return distinctive and len(known) * 2 >= len(content) and bool(known)

    def named_in(self, text: str) -> tuple[list[Product], bool]:
        """Products the text names, and whether it is exactly a title or handle."""
        q = self.parse(text)
        found = self._named(q)
        exact = " ".join(norm_words(q.text)) in self._titles
        return [self.products[i] for i in found], exact

    def _named(self, q: ParsedQuery) -> list[int]:
        """Products whose title or handle the query is (or contains, with only filler around it)."""
        tokens = norm_words(q.text)
        key = " ".join(tokens)
        if not tokens:
            return []
        if key in self._titles:
            return list(dict.fromkeys(self._titles[key]))
        best: list[int] = []
        best_len = 0
        for i, j, ph in phrases(tokens, 8):
            if j - i < 2 or j - i < best_len:
                continue
            if ph in self._titles:
                rest = tokens[:i] + tokens[j:]
                extra = [t for t in rest if t not in STOPWORDS and t not in self.lexicon.filler
                         and not any(fold(o) == t for o in q.options) and t not in q.colours]
                if not extra and j - i > best_len:
                    best, best_len = list(dict.fromkeys(self._titles[ph])), j - i
        return best

    def _colour_fit(self, f: _Facts, colours: Sequence[str]) -> tuple[bool, float]:
        fams = set(f.colour_families) | set(f.text_colour_families)
        wanted = set(colours)
        if wanted & set(f.colour_families):
            return True, 0.3
        if wanted & set(f.text_colour_families):
            return True, 0.2
        if not f.has_colour_option and not fams:
            hit = any(re.search(rf"\b{re.escape(c)}\b", f.body) for c in colours)
            return hit, 0.05 if hit else 0.0
        return False, -0.2

    def _wanted_sizes(self, sizes: Sequence[str]) -> tuple[frozenset[str], tuple[re.Pattern[str], ...],
                                                           tuple[re.Pattern[str], ...]]:
        wanted = set()
        for size in sizes:
            wanted.add(fold(size))
            for v in self.lexicon.size_words.get(fold(size), ()):
                wanted.add(fold(v))
        in_title = tuple(re.compile(rf"\b{re.escape(w)}\b") for w in wanted)
        in_body = tuple(re.compile(rf"\bsize\b[^.]{{0,40}}?\b{re.escape(w)}\b") for w in wanted if len(w) <= 3)
        return frozenset(wanted), in_title, in_body

    @staticmethod
    def _size_fit(f: _Facts, wanted: tuple[frozenset[str], tuple[re.Pattern[str], ...],
                                            tuple[re.Pattern[str], ...]]) -> bool:
        """A size option has the size; without one, the title or a "size …" phrase in the description says it."""
        values, in_title, in_body = wanted
        if f.has_size_option:
            return bool(values & f.size_values)
        return any(r.search(f.title_folded) for r in in_title) or any(r.search(f.body) for r in in_body)

    @staticmethod
    def _price_ok(v: Variant, q: ParsedQuery) -> bool:
        return (q.price_min is None or v.price >= q.price_min) and (q.price_max is None or v.price <= q.price_max)

    def pick_variant(self, product: Product, q: ParsedQuery | None) -> Variant:
        """The variant to show: fitting the query's options, colour, size and price; buyable first."""
        if q is None:
            return next((v for v in product.variants if v.buyable), product.variants[0])

        said_sizes = {fold(s) for s in q.sizes}
        size_values = self._wanted_sizes(q.sizes)[0] if q.sizes else frozenset()

        def fit(v: Variant) -> int:
            score = 0
            values = {fold(x) for x in v.options.values()}
            score += 4 * sum(fold(o) in values for o in q.options)
            if q.colours and any(self.lexicon.colour_of(x) in q.colours for x in v.options.values()):
                score += 2
            if q.sizes:  # the size said ("M") first, then what a size word stands for ("大号", "large": L)
                score += 2 * bool(said_sizes & values) + bool(size_values & values)
            if self._price_ok(v, q):
                score += 1
            return score

        return max(product.variants, key=lambda v: (fit(v), v.buyable))

    def variants_for(self, product: Product, text: str) -> list[Variant]:
        """The product's variants that the text's option words pick ("in size M", "the roasted groundnuts one")."""
        tokens = norm_words(text)
        joined = f" {' '.join(tokens)} "
        upper = {m.group(1) for m in _UPPER_SIZE.finditer(text)}
        for m in _SIZE_KEY.finditer(text):
            raw = m.group(1) or m.group(2) or ""
            if raw:
                upper.add(raw.upper())
        colours = set()
        fws = words(text)
        for _, _, ph in phrases(fws, 3):
            if ph in self.lexicon.colour_family:
                colours.add(self.lexicon.colour_family[ph])
        per_option: dict[str, set[str]] = {}
        for name in product.option_names:
            for v in product.variants:
                value = v.options.get(name)
                if not value:
                    continue
                key = " ".join(norm_words(value))
                label = " ".join(norm_words(re.split(r"[|(]", value)[0]))
                parts = {x.strip().upper() for x in value.split("/")}
                said = (len(key) > 2 and f" {key} " in joined) or value.upper() in upper \
                    or (len(label) > 2 and f" {label} " in joined) \
                    or (self.lexicon.option_family(name) == "size" and bool(parts & upper))
                if said:
                    per_option.setdefault(name, set()).add(value)
        if not per_option:  # partly said: "for the Galaxy S9" → "Samsung Galaxy S9" (not "S9+")
            said_words = set(tokens)
            raw_words = set(re.findall(r"[\w+]+", text.lower()))
            for name in product.option_names:
                best: tuple[float, float] = (0.0, 0.0)
                picked: set[str] = set()
                for v in product.variants:
                    value = v.options.get(name)
                    vw = norm_words(value or "")
                    hits = sum(w in said_words for w in vw)
                    if not value or hits < 2 or hits / len(vw) < 0.6:
                        continue
                    raw = re.findall(r"[\w+]+", value.lower())
                    rank = (hits / len(vw), sum(w in raw_words for w in raw) / len(raw))
                    if rank > best:
                        best, picked = rank, {value}
                    elif rank == best:
                        picked.add(value)
                if picked:
                    per_option[name] = picked
        if not per_option:
            for name in product.option_names:
                if self.lexicon.option_family(name) != "colour":
                    continue
                for v in product.variants:
                    value = v.options.get(name)
                    if value and self.lexicon.colour_of(value) in colours:
                        per_option.setdefault(name, set()).add(value)
        if not per_option:
            return list(product.variants)
        return [v for v in product.variants
                if all(v.options.get(name) in values for name, values in per_option.items())]
