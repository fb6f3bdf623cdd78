"""Chinese shoppers' words: prices, sizes, colours and kinds of product, read without any encoder.

The English encoder cannot read Chinese, so these rules (and the shop-independent lexicon) are what
understands a Chinese message on it; the multilingual encoder adds meaning on top (tests/bots/test_zh_search.py).
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from catalog_support import HashingEncoder, demo_extractor, demo_search, demo_words

from core.commerce.calibration import calibration_for
from core.commerce.catalog import Vocabulary
from core.commerce.entities import EntityExtractor, halfwidth
from core.commerce.finder import ProductFinder
from core.commerce.vocabulary import cjk_spans, default_lexicon


@pytest.fixture(scope="module")
def ex() -> EntityExtractor:
    return demo_extractor()


@pytest.fixture(scope="module")
def finder() -> ProductFinder:
    return ProductFinder(search=demo_search(HashingEncoder()), type_synonyms=demo_words().type_synonyms)


def _d(x: str | None) -> Decimal | None:
    return None if x is None else Decimal(x)


@pytest.mark.parametrize(("text", "lo", "hi"), [
    ("红色连帽衫 60 元以下", None, "60"),
    ("预算60块以内的牛仔裤", None, "60"),
    ("低于15美元的杯子", None, "15"),
    ("不超过15元", None, "15"),
    ("少于30块", None, "30"),
    ("便宜于40元的帽子", None, "40"),
    ("200 美元以上的靴子", "200", None),
    ("高于100元", "100", None),
    ("超过200块的外套", "200", None),
    ("50到80块的连帽衫", "50", "80"),
    ("50元到80元", "50", "80"),
    ("价格在40到60美元之间的裙子", "40", "60"),
    ("100元左右的运动鞋", "80.00", "120.00"),
    ("红色卫衣６０元以下", None, "60"),  # full-width digits
    ("５０到８０块", "50", "80"),
    ("价格50到80元", "50", "80"),  # a CJK character right before the number
])
def test_chinese_price_constraints(ex: EntityExtractor, text: str, lo: str | None, hi: str | None) -> None:
    e = ex.extract(text)
    assert (e.price_min, e.price_max) == (_d(lo), _d(hi))


@pytest.mark.parametrize("text", ["我要3件", "第2个", "订单号1001的状态", "尺码32"])
def test_numbers_that_are_not_prices(ex: EntityExtractor, text: str) -> None:
    e = ex.extract(text)
    assert e.price_min is None and e.price_max is None


@pytest.mark.parametrize(("text", "sizes"), [
    ("要M码", ("M",)),
    ("Ｍ码的黑色T恤", ("M",)),  # full-width letter
    ("有L号的吗", ("L",)),
    ("XXL码的T恤", ("XXL",)),
    ("32码的牛仔裤", ("32",)),
    ("尺码 XL", ("XL",)),
    ("大号的", ("L", "Large")),  # the demo has both (clothes and candles)
    ("中号袜子", ("M",)),
])
def test_chinese_sizes(ex: EntityExtractor, text: str, sizes: tuple[str, ...]) -> None:
    assert ex.extract(text).sizes == sizes


@pytest.mark.parametrize(("text", "colour"), [
    ("红色连帽衫", "Red"), ("紅色的連帽衫", "Red"), ("藏青色的夹克", "Navy"), ("酒红色卫衣", "Burgundy"),
    ("米色的杯子", "Cream"), ("有没有黑色的", "Black"), ("藍色牛仔褲", "Blue"),
])
def test_chinese_colours(ex: EntityExtractor, text: str, colour: str) -> None:
    assert ex.extract(text).colors[:1] == (colour,)


def test_chinese_colour_words_reach_any_catalogues_colours() -> None:
    """A shop whose purple is called "Lilac" and whose beige is "Sand": the lexicon's Chinese words find them."""
    ex = EntityExtractor(Vocabulary(colors=("Lilac", "Sand", "Black"), sizes=(), product_types=("Swimwear",)))
    assert ex.extract("紫色的泳衣").colors == ("Lilac",)
    assert ex.extract("驼色").colors == ("Sand",)
    assert ex.extract("黑色").colors == ("Black",)


def test_halfwidth_keeps_length() -> None:
    text = "Ｍ码６０元以下，＄５０"
    assert halfwidth(text) == "M码60元以下,$50" and len(halfwidth(text)) == len(text)


def test_cjk_words_are_found_inside_a_run_longest_first() -> None:
    lex = default_lexicon()
    found = [w for _, _, w in cjk_spans("酒红色连帽衫", [*lex.colour_family, *lex.zh_nouns])]
    assert found == ["酒红色", "连帽衫"]  # not also 红 or 帽


def test_finder_reads_a_chinese_query(finder: ProductFinder) -> None:
    q = finder.parse("红色连帽衫 60 元以下")
    assert q.types == ("Hoodies",) and q.colours == ("red",) and q.price_max == Decimal(60)
    assert "hoodie" in q.terms and not any("元" in t for t in q.terms)


def test_finder_reads_sizes_negations_and_materials_in_chinese(finder: ProductFinder) -> None:
    q = finder.parse("Ｍ码的酒红色卫衣")
    assert q.sizes == ("M",) and q.colours == ("burgundy",) and q.types == ("Hoodies",)
    q = finder.parse("不要黑色的运动鞋")
    assert q.negated == ("black",) and not q.colours and q.types == ("Sneakers",)
    q = finder.parse("黑色皮靴 9码")
    assert q.materials == ("leather",) and q.sizes == ("9",) and q.colours == ("black",)


def test_chinese_search_keeps_to_the_constraints(finder: ProductFinder) -> None:
    """Ranking plumbing only (hashing encoder): every result is a red hoodie under 60."""
    finding = finder.find("红色连帽衫 60 元以下", k=5)
    assert finding.results and not finding.none_buyable
    for r in finding.results:
        assert r.product.product_type == "Hoodies" and r.variant.price <= 60 and r.variant.color == "Red"


def test_a_chinese_noun_for_something_not_sold_is_not_a_kind_the_shop_has(finder: ProductFinder) -> None:
    q = finder.parse("你们卖笔记本电脑吗")
    assert "laptop" in q.terms and not q.types


class _Named:
    """An encoder that says which model it runs (what calibration_for reads); vectors are not used."""

    dim = 4

    def __init__(self, name: str) -> None:
        self.model_name = name

    async def embed(self, texts: list[str]) -> np.ndarray:
        return np.zeros((len(texts), 4), np.float32)

    def embed_sync(self, texts: list[str]) -> np.ndarray:
        return np.zeros((len(texts), 4), np.float32)


def test_similarity_floors_are_per_encoder() -> None:
    minilm = calibration_for(_Named("sentence-transformers/all-MiniLM-L6-v2"))
    e5 = calibration_for(_Named("intfloat/multilingual-e5-small"))
    assert minilm.noun_meaning_floor == pytest.approx(0.555)
    assert e5.noun_meaning_floor > 0.8 > minilm.noun_meaning_floor  # e5's cosines sit higher
    assert calibration_for(HashingEncoder()) == minilm  # an encoder that names no model: the first entry
    assert calibration_for(_Named("someone/else")) == minilm


def test_a_chinese_size_word_picks_the_variant_shown(finder: ProductFinder) -> None:
    finding = finder.find("大号的连帽衫", k=3)
    assert finding.results and all(r.variant.size == "L" for r in finding.results)
    finding = finder.find("Ｍ码的酒红色卫衣", k=3)
    assert finding.results and all(r.variant.size == "M" and r.variant.color == "Burgundy" for r in finding.results)
