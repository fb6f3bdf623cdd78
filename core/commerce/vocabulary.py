"""What understanding needs, derived from the loaded catalogue itself.

When a catalogue loads, :class:`CatalogVocabulary` reads its products (every
export layout: ``Type``, ``Custom Product Type``, ``Product Category`` paths,
option names in other languages) and collects:

* **types** and their surface forms: the type itself, singular and plural,
  its head noun ("Concrete Pots" → "pot"), the last step of a category path;
* **option values** folded into families: colours (through the colour lexicon
  in ``data/lexicon.yaml``: lilac is purple, navy is blue, rose gold is a metal
  colour, trade names such as "Chryso Black" keep their own name), sizes,
  materials and any other option (flavours, styles);
* **vendors**, and the words of every product's title, tags and handle with
  how many offered and inactive products use them (what a query word can
  stand for, and whether the shop only has it as a draft).

Nothing here knows a particular shop: a bot that needs more than its
catalogue keeps that in its own data files.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

import yaml

from core.commerce.catalog import Product
from core.retrieval import stem

OptionFamily = Literal["colour", "size", "material", "other"]

LEXICON_PATH = Path(__file__).resolve().parent / "data" / "lexicon.yaml"
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[\u4e00-\u9fff]+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_UNIT = re.compile(r"(\d+(?:[.,]\d+)?)\s*(g|kg|mg|ml|l|oz|lb|lbs|cm|mm|m|ct|k|pc|pcs|pack)\b")


def fold(text: str) -> str:
    """Lower-case without accents, units glued to their number ("25 g" → "25g", "Cäcilia" → "cacilia")."""
    decomposed = unicodedata.normalize("NFKD", text.replace("ß", "ss"))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return _UNIT.sub(lambda m: m.group(1).replace(",", ".") + m.group(2), plain)


def words(text: str) -> list[str]:
    """Folded words of a text (apostrophes kept inside a word: "men's")."""
    return _WORD.findall(fold(text).replace("-", " ").replace("_", " "))


def norm_words(text: str) -> list[str]:
    """Folded, plural-stemmed words: what two texts compare on."""
    return [stem(w.replace("'s", "").replace("'", "")) for w in words(text)]


@dataclass(frozen=True)
class Lexicon:
    """Shop-independent word knowledge (``data/lexicon.yaml``)."""

    colour_family: dict[str, str]
    materials: frozenset[str]
    option_names: dict[str, OptionFamily]
    size_words: dict[str, tuple[str, ...]]
    product_nouns: frozenset[str]
    filler: frozenset[str]
    needs: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()
    #: Chinese kinds of product → the English words catalogues use for them ("连帽衫" → hoodie).
    zh_nouns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Chinese materials, qualities, seasons and occasions → English words ("保暖" → warm, thermal).
    zh_words: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path = LEXICON_PATH) -> Lexicon:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        colour_family = {fold(str(w)): family for family, ws in doc["colours"].items() for w in ws}
        option_names: dict[str, OptionFamily] = {}
        for family, names in doc["option_names"].items():
            for n in names:
                option_names[fold(str(n))] = family
        return cls(
            colour_family=colour_family,
            materials=frozenset(fold(str(m)) for m in doc["materials"]),
            option_names=option_names,
            size_words={fold(str(k)): tuple(str(v) for v in vs) for k, vs in doc["sizes"].items()},
            product_nouns=frozenset(stem(fold(str(n))) for n in doc["product_nouns"]),
            filler=frozenset(stem(fold(str(n))) for n in doc["filler"]),
            needs=tuple((tuple(fold(str(w)) for w in need["when"]), tuple(str(a) for a in need["add"]))
                        for need in doc.get("needs") or ()),
            zh_nouns={fold(str(k)): tuple(str(v) for v in vs) for k, vs in (doc.get("zh_nouns") or {}).items()},
            zh_words={fold(str(k)): tuple(str(v) for v in vs) for k, vs in (doc.get("zh_words") or {}).items()},
        )

    def option_family(self, name: str) -> OptionFamily:
        """What an option carries, from its name in any of the lexicon's languages ("Farbe", "Link Size")."""
        key = fold(name).strip()
        if key in self.option_names:
            return self.option_names[key]
        parts = words(key)
        for part in reversed(parts):
            if part in self.option_names:
                return self.option_names[part]
        return "other"

    def colour_of(self, text: str) -> str | None:
        """The colour family a value or phrase names ("OCEAN BLUE" → blue, "Rose Gold" → rose gold)."""
        folded = " ".join(words(text))
        if folded in self.colour_family:
            return self.colour_family[folded]
        ws = folded.split()
        for n in (2, 1):  # "rose gold" before "gold", the last words first ("chryso black" → black)
            for i in range(len(ws) - n, -1, -1):
                phrase = " ".join(ws[i:i + n])
                if phrase in self.colour_family:
                    return self.colour_family[phrase]
        return None


def has_cjk(text: str) -> bool:
    """Whether the text holds a CJK ideograph (then words are not separated by spaces)."""
    return bool(_CJK.search(text))


def cjk_spans(text: str, table: Iterable[str]) -> list[tuple[int, int, str]]:
    """Where the table's non-ASCII words occur in ``text`` (folded), longest first, never overlapping.

    Chinese writes no spaces between words, so "红色连帽衫" is read by looking for known words
    inside it: "红色" and "连帽衫"; a longer word wins ("酒红" is not also "红").
    """
    folded = fold(text)
    if not has_cjk(folded):
        return []
    taken = [False] * len(folded)
    found: list[tuple[int, int, str]] = []
    for word in sorted((w for w in table if not w.isascii()), key=len, reverse=True):
        start = folded.find(word)
        while start >= 0:
            end = start + len(word)
            if not any(taken[start:end]):
                found.append((start, end, word))
                taken[start:end] = [True] * (end - start)
            start = folded.find(word, end)
    return sorted(found)


@cache
def default_lexicon() -> Lexicon:
    return Lexicon.load()


def effective_type(product: Product) -> str:
    """The product's type: ``Type`` (or ``Custom Product Type``), else the last step of its category."""
    if product.product_type.strip():
        return product.product_type.strip()
    if product.category.strip():
        return product.category.split(">")[-1].strip()
    return ""


def option_values(product: Product, lexicon: Lexicon, family: OptionFamily) -> tuple[str, ...]:
    """The product's option values of one family, in variant order."""
    names = [n for n in product.option_names if lexicon.option_family(n) == family]
    seen: dict[str, None] = {}
    for v in product.variants:
        for name in names:
            value = v.options.get(name)
            if value:
                seen.setdefault(value, None)
    return tuple(seen)


@dataclass
class CatalogVocabulary:
    """Words of one catalogue, for query understanding (see the module docstring).

    Attributes:
        types: canonical type → its surface forms (folded, stemmed word tuples).
        type_forms: a surface form (space-joined stemmed words) → the types it names.
        option_phrases: folded option value → (family, original value) for every offered product.
        colours: colour family → option values of that family.
        active_df / inactive_df: per stemmed word of titles, types, tags, handles and
            option values, how many offered / not offered products use it.
        vendors: vendor names as written.
    """

    lexicon: Lexicon
    types: dict[str, set[str]] = field(default_factory=dict)
    type_forms: dict[str, set[str]] = field(default_factory=dict)
    option_phrases: dict[str, tuple[OptionFamily, str]] = field(default_factory=dict)
    colours: dict[str, set[str]] = field(default_factory=dict)
    active_df: Counter[str] = field(default_factory=Counter)
    inactive_df: Counter[str] = field(default_factory=Counter)
    body_words: set[str] = field(default_factory=set)
    vendors: tuple[str, ...] = ()
    offered_count: int = 0

    @classmethod
    def from_products(cls, products: Iterable[Product], lexicon: Lexicon | None = None) -> CatalogVocabulary:
        vocab = cls(lexicon=lexicon or default_lexicon())
        vendors: Counter[str] = Counter()
        for p in products:
            vocab.add(p)
            if p.offered and p.vendor:
                vendors[p.vendor] += 1
        vocab.vendors = tuple(v for v, _ in vendors.most_common())
        return vocab

    def add(self, product: Product) -> None:
        """Count one product's words (cheap: a webhook's update adds one product)."""
        lex = self.lexicon
        field_words = set(self.product_words(product))
        if product.offered:
            self.offered_count += 1
            self.active_df.update(field_words)
            self.body_words.update(norm_words(product.body_text[:2000]))
            ptype = effective_type(product)
            if ptype:
                forms = self.types.setdefault(ptype, set())
                for form in type_forms(ptype):
                    forms.add(form)
                    self.type_forms.setdefault(form, set()).add(ptype)
            for name in product.option_names:
                family = lex.option_family(name)
                for v in product.variants:
                    value = v.options.get(name)
                    if not value:
                        continue
                    key = " ".join(norm_words(value))
                    if key and key not in self.option_phrases:
                        self.option_phrases[key] = (family, value)
                    if family == "colour" and (fam := lex.colour_of(value)):
                        self.colours.setdefault(fam, set()).add(value)
        else:
            self.inactive_df.update(field_words)

    @staticmethod
    def product_words(product: Product) -> list[str]:
        """Stemmed words a product is found by: title, type, category, tags, handle, vendor, option values."""
        parts = [product.title, product.product_type, product.category.split(">")[-1], " ".join(product.tags),
                 product.handle, product.vendor]
        for v in product.variants:
            parts.extend(v.options.values())
        return norm_words(" ".join(parts))

    def known(self, word: str) -> bool:
        """Whether an offered product uses the (stemmed) word in its title, type, tags, handle or options."""
        return self.active_df.get(word, 0) > 0

    def only_inactive(self, word: str) -> bool:
        """Whether only drafts, archived or unpublished products use the word."""
        return self.active_df.get(word, 0) == 0 and self.inactive_df.get(word, 0) > 0


@cache
def type_forms(product_type: str) -> frozenset[str]:
    """Surface forms of a type: whole (stemmed), head noun, without a leading material/descriptor."""
    ws = norm_words(product_type)
    if not ws:
        return frozenset()
    forms = {" ".join(ws), ws[-1]}
    if len(ws) > 2:
        forms.add(" ".join(ws[-2:]))
    return frozenset(forms)


def phrases(tokens: Sequence[str], longest: int = 4) -> Iterable[tuple[int, int, str]]:
    """Every run of up to ``longest`` tokens as (start, end, space-joined), longest first."""
    for n in range(min(longest, len(tokens)), 0, -1):
        for i in range(len(tokens) - n + 1):
            yield i, i + n, " ".join(tokens[i:i + n])


def vocabulary_index(vocab: CatalogVocabulary) -> dict[str, set[str]]:
    """Stemmed word → the type names it belongs to (for explaining a match)."""
    out: dict[str, set[str]] = defaultdict(set)
    for t, forms in vocab.types.items():
        for f in forms:
            for w in f.split():
                out[w].add(t)
    return out
