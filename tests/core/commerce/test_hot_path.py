"""The hot path's shortcuts give the same answers as the plain algorithms they replace.

Typo matching goes through a deletion index instead of an edit distance to
every word, entity rules skip words absent from the text, search stops at
the page, and the dialogue manager restores a failed action's state from
JSON instead of deep-copying it up front. Each test compares the shortcut
with the brute-force definition.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest
from catalog_support import HashingEncoder, demo_extractor, demo_search
from hypothesis import given, settings
from hypothesis import strategies as st

from core.actions import ActionContext, ActionRegistry
from core.commerce.entities import _REAL_WORDS, EntityExtractor, _fold
from core.commerce.search import ProductSearch, SearchFilters
from core.protocols import SessionStore
from core.retrieval import KeywordIndex, deletions, edit_distance, stem, tokenize, typo_budget
from tests.bots.shop_support import ShopParts, message, shop_parts

WORDS = st.text(alphabet="abcdehost", min_size=0, max_size=8)


@pytest.fixture(scope="module")
def ex() -> EntityExtractor:
    return demo_extractor()


@pytest.fixture(scope="module")
def index() -> ProductSearch:
    return demo_search(HashingEncoder())


@settings(max_examples=300, deadline=None)
@given(a=WORDS, b=WORDS)
def test_words_within_two_edits_share_a_deletion(a: str, b: str) -> None:
    shared = set(deletions(a, 2)) & set(deletions(b, 2))
    if edit_distance(a, b, 2) <= 2:
        assert shared


def _mutations(word: str) -> list[str]:
    """One deletion, substitution, insertion and transposition of ``word`` (all positions)."""
    out = {word[:i] + word[i + 1:] for i in range(len(word))}
    out |= {word[:i] + "x" + word[i + 1:] for i in range(len(word))}
    out |= {word[:i] + "e" + word[i:] for i in range(len(word) + 1)}
    out |= {word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in range(len(word) - 1)}
    return sorted(out)


def test_keyword_typo_expansion_equals_a_scan_of_the_vocabulary(index: ProductSearch) -> None:
    keywords: KeywordIndex = index._keywords
    vocabulary = list(keywords.vocabulary)
    tokens = [m for w in vocabulary[:60] for m in _mutations(w)] + ["a" * 300, "zzzzzz"]
    for token in tokens:
        budget = typo_budget(token)
        scanned = [] if not budget else [
            (w, KeywordIndex.FUZZY_DISCOUNT ** d) for w in vocabulary
            if (d := edit_distance(token, w, budget)) <= budget
        ]
        expected = [(token, 1.0)] if token in vocabulary else scanned
        assert keywords.expand(token) == expected, token


def test_typo_tolerant_types_equal_a_scan_of_every_form(ex: EntityExtractor) -> None:
    forms = ex._typo_forms
    tokens = [m for form, _ in forms for m in _mutations(form) if m.isalpha()] + ["stock", "a" * 300]
    for token in tokens:
        budget = 0 if token in _REAL_WORDS else typo_budget(token)  # "stock" is never a misspelt "sock"
        expected = next((t for form, t in forms if budget and edit_distance(stem(token), form, budget) <= budget),
                        None)
        assert ex._typo_type(token) == expected, token


@pytest.mark.parametrize(("text", "types"), [
    ("HOODIES please", ("Hoodies",)),
    ("a \u017fock", ("Socks",)),  # long s: re.IGNORECASE reads it as "s"
    ("a \u212aids hat", ("Hats",)),  # Kelvin sign K
    ("T-SH\u0130RT", ("T-Shirts",)),  # dotted capital I: "i" for re.IGNORECASE, "i̇" for str.lower()
    ("gift card and a gift cards", ("Gift Cards",)),
])
def test_skipping_absent_words_never_skips_a_match(ex: EntityExtractor, text: str, types: tuple[str, ...]) -> None:
    assert ex.extract(text).product_types == types
    for word in ex._type_res:  # wherever a regex matches, its needle is in the (folded) text
        if word.pattern.search(text):
            assert word.needle in (_fold(text) if word.folded else text), (word.needle, text)


def test_match_prefers_a_buyable_variant_else_the_first_fitting(index: ProductSearch) -> None:
    for product in index.products:
        filters = SearchFilters(price_max=Decimal(1000))
        fitting = [v for v in product.variants if filters.variant_fits(v)]
        expected = next((v for v in fitting if v.buyable), fitting[0] if fitting else None)
        assert filters.match(product) == expected


@pytest.mark.parametrize("query", ["hoodie", "warm jaket", "mug", ""])
def test_a_relevance_page_is_a_slice_of_the_full_ranking(index: ProductSearch, query: str) -> None:
    filters = SearchFilters(in_stock=True)
    full = index.rank(query, filters=filters, k=len(index))
    for offset in (0, 3, 7):
        page = index.rank(query, filters=filters, k=5, offset=offset)
        assert [h.product.handle for h in page] == [h.product.handle for h in full[offset:offset + 5]]


def test_tokenize_still_stems_plurals() -> None:
    assert tokenize("Hoodies and T-shirts") == ["hoodie", "tshirt"]


@pytest.fixture(scope="module")
def parts(artifacts_dir: Path) -> ShopParts:
    return shop_parts(artifacts_dir)


async def test_a_failed_action_leaves_the_earlier_state_untouched(parts: ShopParts, store: SessionStore) -> None:
    registry = ActionRegistry()

    @registry.intent("greet")
    async def remember(ctx: ActionContext) -> None:
        ctx.state.data.setdefault("cart", []).append({"sku": "A", "qty": 1})
        ctx.say("greet", shop_name="Test Shop")

    @registry.intent("goodbye")
    async def broken(ctx: ActionContext) -> None:
        ctx.state.data["cart"][0]["qty"] = 99
        ctx.state.data["cart"].append({"sku": "B", "qty": 1})
        ctx.state.slots["colour"] = "red"
        ctx.state.history.clear()
        raise RuntimeError("boom")

    manager = parts.manager(store, bot=dataclasses.replace(parts.bot, registry=registry))
    await manager.handle(message("hello"))
    before = await store.load(message().conversation)
    assert before is not None and before.data["cart"] == [{"sku": "A", "qty": 1}]
    replies = await manager.handle(message("bye, see you"))
    assert replies[0].text.startswith("Sorry, something went wrong")
    after = await store.load(message().conversation)
    assert after is not None
    assert after.data == before.data and after.slots == before.slots
    assert [t.text for t in after.history[: len(before.history)]] == [t.text for t in before.history]
    assert [t.role for t in after.history[len(before.history):]] == ["user", "bot"]
