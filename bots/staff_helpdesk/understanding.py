"""How the staff helpdesk reads a message: retrieval first, the intent head only for actions.

A staff question is a procedure question unless something in it says
otherwise. The procedure index is the primary signal; the intent head
decides the actions, and an action wins only when what it needs is in the
message:

* an order look-up needs an order reference (``#1004``, ``order 1012``,
  ``SK-1019``, ``order no. 1021``; one always means a look-up) or, when the
  head reads a look-up, a customer's e-mail or phone;
* a stock look-up needs a SKU or a product named by its title (typos and
  plurals tolerated), unless the head is sure it is a stock question; a
  product named in what retrieval and the head read as a procedure question
  stays a procedure unless the message asks for a quantity or names the
  product in full; a Chinese product word ("连帽衫", ``names_product_type``)
  with a stock word ("多少件", "有货") is a stock question;
* small talk (hello, thanks, bye, help, cancel) needs a short message;
* off-topic (the head's ``out_of_scope`` class) needs retrieval not to be
  sure of a procedure; when the calibration says retrieval overrules the
  head (Chinese questions with an encoder that cannot read Chinese: the head
  reads them only through its character fallback, and the Chinese floor is
  calibrated against Chinese off-topic messages at full weight), retrieval
  above its floor (an answer, or a "did you mean") wins.

:func:`route` returns the intent whose handler runs; the reason is kept for ``/why``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from core.retrieval import AnswerCalibration, KeywordIndex, PassageHit, tokenize

SMALL_TALK = frozenset({"greet", "thanks", "goodbye", "help", "cancel"})
OUT_OF_SCOPE = "out_of_scope"
#: The routed intent for messages outside the helpdesk (its handler declines politely).
OFF_TOPIC = "off_topic"
#: Small talk is a short message: "thanks!", "bye for now", not a question about closing up.
SMALL_TALK_MAX_WORDS = 6
#: A stock question without a product it can find still goes to stock when the head is this sure.
STOCK_SURE = 0.85
#: An off-topic reading whose best intent is a procedure at least this likely is a doubt retrieval settles.
OFF_TOPIC_DOUBT = 0.3

_ORDER_REF = re.compile(r"(?:#|\bsk-?|\border\s+(?:no\.?|number|num|#)?\s*|订单(?:号|编号)?\s*[:：]?\s*#?\s*)(\d{3,8})(?![0-9A-Za-z])",
                        re.IGNORECASE)
_PREFIXED_ORDER_REF = re.compile(r"#\s?([a-z]{1,4}-\d{3,8})\b", re.IGNORECASE)  # "#R-2231": a shop's own prefix
_CONTACT = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+|\+?\d[\d ()-]{7,}\d")
_WORDS = re.compile(r"[a-z0-9]+|[\u3400-\u9fff]{1,2}")  # a Chinese "word": two characters at most
#: Words that ask for a quantity or availability ("how many trail runners at the outlet?").
_STOCK_WORDS = re.compile(
    r"\b(?:how many|stock|counts?|qty|quantity|available|availability|units?|inventory|on hand|left"
    r"|got any|have any|do we have|who has|anywhere|numbers?|showing)\b"
    r"|多少件|多少个|多少双|多少条|几件|几个|几双|几条|库存|有货|有没有|还有|剩", re.IGNORECASE)


def order_reference(text: str) -> str | None:
    """``#1004`` for "order no. 1004", "SK-1004", "#1004"; None when the text names no order."""
    if match := _ORDER_REF.search(text):
        return f"#{match.group(1)}"
    if match := _PREFIXED_ORDER_REF.search(text):
        return f"#{match.group(1).upper()}"
    return None


def names_a_customer(text: str) -> bool:
    """An e-mail address or a phone number (an order can be found by either)."""
    return _CONTACT.search(text) is not None


@dataclass(frozen=True)
class ProductMatch:
    """A product named in a message: its handle, title and the share of its title's weight matched."""

    handle: str
    title: str
    coverage: float
    words: int


class ProductFinder:
    """Finds a product named by its title in free text, over every product of the inventory.

    The inventory is what the stores hold, including products unpublished or
    archived online, so staff find those too (the shopper catalogue would not).
    A title word counts by its rarity among titles ("Ridge" identifies a
    product, "Jacket" does not); typos and plurals are tolerated.

    Args:
        titles: (handle, title) pairs, one per product.
        min_coverage: least share of a title's weight the message must hold.
    """

    def __init__(self, titles: Iterable[tuple[str, str]], *, min_coverage: float = 0.6) -> None:
        first: dict[str, str] = {}
        for handle, title in titles:
            first.setdefault(handle, title)
        self._products = [(h, t, tuple(dict.fromkeys(tokenize(t)))) for h, t in first.items()]
        self._keywords = KeywordIndex(documents=[toks for _, _, toks in self._products])
        n = len(self._products)
        df: dict[str, int] = {}
        for _, _, toks in self._products:
            for tok in toks:
                df[tok] = df.get(tok, 0) + 1
        self._idf = {tok: math.log(1 + n / f) for tok, f in df.items()}
        self._total = [sum(self._idf[t] for t in toks) for _, _, toks in self._products]
        self._postings: dict[str, list[int]] = {}
        for i, (_, _, toks) in enumerate(self._products):
            for tok in toks:
                self._postings.setdefault(tok, []).append(i)
        self.min_coverage = min_coverage

    def find(self, text: str) -> ProductMatch | None:
        """The best-covered product title, or None when no title is named well enough."""
        present: dict[str, float] = {}
        for token in tokenize(text):
            for word, weight in self._keywords.expand(token):
                present[word] = max(present.get(word, 0.0), weight)
        if not present:
            return None
        best: ProductMatch | None = None
        candidates = sorted({i for word in present for i in self._postings.get(word, ())})
        for i in candidates:
            handle, title, toks = self._products[i]
            total = self._total[i]
            got = sum(self._idf[t] * present.get(t, 0.0) for t in toks)
            words = sum(1 for t in toks if t in present)
            if not total or not got:
                continue
            match = ProductMatch(handle=handle, title=title, coverage=got / total, words=words)
            if best is None or (match.coverage, match.words) > (best.coverage, best.words):
                best = match
        if best is None or best.coverage < self.min_coverage or (best.words < 2 and len(tokenize(best.title)) > 1):
            return None
        return best


@dataclass(frozen=True)
class Reading:
    """What the router made of a message."""

    intent: str
    reason: str


def route(
    *,
    text: str,
    head_label: str,
    head_confidence: float,
    head_out_of_scope: bool,
    head_ambiguous: bool,
    head_runner_up: str = "",
    hits: Sequence[PassageHit],
    calibration: AnswerCalibration,
    has_sku: bool,
    product: ProductMatch | None,
    names_product_type: bool = False,
) -> Reading:
    """Choose the handler for one message (see the module docstring)."""
    words = len(_WORDS.findall(text.lower()))
    decision = calibration.decide(hits, text)
    procedure_sure, procedure_found = decision == "answer", decision != "unsure"
    sure = not head_ambiguous and not head_out_of_scope
    if has_sku:
        return Reading("stock_lookup", "a SKU")
    if order_reference(text) or (head_label == "order_lookup" and names_a_customer(text)):
        return Reading("order_lookup", "an order reference")
    if head_label == "handoff_queue" and sure:
        return Reading("handoff_queue", "the head")
    if product is None and names_product_type and _STOCK_WORDS.search(text) is not None:
        return Reading("stock_lookup", "a product word and a stock word")
    if product is not None:
        whole_title = product.coverage >= 0.99 and product.words >= 3
        asks_stock = head_label == "stock_lookup" or _STOCK_WORDS.search(text) is not None
        if head_label == "procedure_question" and procedure_found and not (whole_title or asks_stock):
            return Reading("procedure_question", "a product, but a procedure question")
        return Reading("stock_lookup", f"product {product.handle}")
    if head_label == "stock_lookup" and sure and head_confidence >= STOCK_SURE and not procedure_sure:
        return Reading("stock_lookup", "the head, no product found")
    if head_label in SMALL_TALK and sure and words <= SMALL_TALK_MAX_WORDS and not procedure_sure:
        return Reading(head_label, "small talk")
    if head_out_of_scope or head_label == OUT_OF_SCOPE:
        # The head's doubt between off-topic and a procedure, with retrieval sure of one: the procedure.
        doubt = head_runner_up == "procedure_question" and head_confidence >= OFF_TOPIC_DOUBT
        if procedure_found and calibration.for_text(text).overrules_head:
            return Reading("procedure_question", "retrieval overrules the head for this script")
        if not (doubt and procedure_sure):
            return Reading(OFF_TOPIC, "the head's out-of-scope class")
        return Reading("procedure_question", "retrieval sure, the head in doubt")
    return Reading("procedure_question", "retrieval")
