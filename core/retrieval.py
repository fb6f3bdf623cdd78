"""Hybrid passage retrieval for policies (shop) and procedures (staff).

A :class:`PassageIndex` scores each passage two ways and blends them:

* **semantic**: cosine between the query embedding and the passage's best
  vector. A passage has one vector for ``title + text`` and one per
  alternative phrasing in ``keys`` (a policy's question variants), so a
  question matches the way customers actually ask it.
* **keyword**: the share of the query's content words that occur in the
  passage (after light stemming, with edit-distance typo tolerance),
  tempered by BM25 so rare words count more.

``score = SEMANTIC_WEIGHT * semantic + (1 - SEMANTIC_WEIGHT) * keyword``.

Confidence floor
----------------
:data:`CONFIDENT_FLOOR` was calibrated with the real all-MiniLM-L6-v2 ONNX
encoder on the shop's ``policies.yaml`` by leave-one-out: each of the 99
question variants was removed from its policy's keys and asked as a query,
against 40 off-topic questions (weather, jokes, banking, travel...).

=====  ===========================  =====================  =================
floor  top-1 right and answered      in-scope answered      off-topic refused
=====  ===========================  =====================  =================
0.40   72.7 %                        91.9 %                 85.0 %
0.45   71.7 %                        89.9 %                 95.0 %
0.50   70.7 %                        87.9 %                 97.5 %
0.55   65.7 %                        78.8 %                 100 %
=====  ===========================  =====================  =================

Top-1 accuracy over all 99 held-out variants is 72.7 % (the variants are
deliberately unlike each other; with them all indexed, as in production, a
customer's paraphrase usually lands on a stored one). 0.45 keeps nine in ten
real questions answered while refusing 19 in 20 off-topic ones.
The table came from a one-off leave-one-out run over ``policies.yaml``;
``tests/core/test_retrieval.py`` pins the behaviour at the chosen floor.

The keyword tools here (:func:`tokenize`, :class:`KeywordIndex`) are shared
with :mod:`core.commerce.search`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import combinations

import numpy as np

from core.protocols import TextEncoder, embed_passages_sync

SEMANTIC_WEIGHT = 0.75
#: Hits scoring at least this are answered directly; see the module docstring.
CONFIDENT_FLOOR = 0.45
#: A mean cosine between unrelated passages above this marks an encoder whose cosines sit high
#: (:meth:`PassageIndex._background`).
HIGH_BACKGROUND = 0.5
#: Most candidates an "ask" offers (:class:`AnswerCalibration`).
ASK_MAX = 3

STOPWORDS = frozenset(
    ["a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "could", "do", "does", "did", "for", "from", "have", "has", "how", "i", "i'm", "if", "in", "into", "is", "it", "its", "me", "my", "of", "on", "or", "our", "please", "should", "so", "some", "that", "the", "their", "them", "then", "there", "these", "they", "this", "to", "us", "was", "we", "what", "when", "where", "which", "who", "why", "will", "with", "would", "you", "your", "yours", "am", "any", "just", "want", "need", "looking", "look", "get", "got", "find", "show", "tell", "know", "like", "im", "id", "ive", "hi", "hello", "hey", "thanks", "thank"]
)
#: The most edits :func:`typo_budget` ever allows.
_MAX_TYPOS = 2
_TOKEN_RE = re.compile(r"[a-z0-9]+|[\u4e00-\u9fff]")


def stem(token: str) -> str:
    """A deliberately light English stemmer: plurals only, so vocabulary stays recognisable."""
    if len(token) > 4 and token.endswith("ies"):
        return token[:-1]  # hoodies -> hoodie, accessories -> accessorie (consistent both sides)
    if len(token) > 4 and token.endswith(("sses", "xes", "ches", "shes")):
        return token[:-2]
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def tokenize(text: str, *, keep_stopwords: bool = False) -> list[str]:
    """Lower-case, split, drop stop words, stem plurals. CJK characters are single tokens."""
    tokens = _TOKEN_RE.findall(text.lower().replace("t-shirt", "tshirt"))
    return [stem(t) for t in tokens if keep_stopwords or t not in STOPWORDS]


_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{2,}")
_CJK_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def has_cjk(text: str) -> bool:
    """Whether ``text`` holds a Han ideograph or kana (the script check retrieval and calibration use)."""
    return _CJK_CHAR.search(text) is not None


def passage_tokens(text: str) -> list[str]:
    """:func:`tokenize` plus each pair of adjacent Han characters.

    A Chinese word is mostly two characters ("退货", "小票"): single characters alone
    match far too much, so passages and queries also index the pairs (unsegmented
    text, so every adjacent pair; the wrong ones are rare in the other side too).
    """
    tokens = tokenize(text)
    for run in _CJK_RUN.findall(text):
        tokens.extend(run[i:i + 2] for i in range(len(run) - 1))
    return tokens


def edit_distance(a: str, b: str, limit: int = 2) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance, capped at ``limit + 1``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def deletions(word: str, limit: int) -> Iterator[str]:
    """``word`` with every choice of up to ``limit`` characters deleted (repeats possible).

    Two words within ``limit`` edits of each other (insertions, deletions,
    substitutions, adjacent transpositions) always share one of these strings,
    so an index of them finds every typo candidate without comparing a word
    against the whole vocabulary. Quadratic in ``len(word)`` for ``limit=2``:
    callers skip words too long to be within reach of any indexed word.
    """
    for n in range(min(limit, len(word)) + 1):
        for gone in combinations(range(len(word)), n):
            yield "".join(c for i, c in enumerate(word) if i not in gone)


def typo_budget(token: str) -> int:
    """Edits tolerated for a token of this length: none for short words."""
    if len(token) <= 3 or token.isdigit():
        return 0
    return 1 if len(token) <= 5 else 2


@lru_cache(maxsize=1 << 16)
def _deletion_set(word: str) -> frozenset[str]:
    """:func:`deletions` of an indexed word within the largest budget, remembered (indexes rebuilt after a
    catalogue change mostly hold the same words)."""
    return frozenset(deletions(word, _MAX_TYPOS))


class KeywordIndex:
    """BM25 over small documents, with typo-tolerant matching of query words.

    A query word absent from the vocabulary is matched to vocabulary words
    within :func:`typo_budget` edits (at a discount), so "snekers" still
    finds "sneakers".
    """

    FUZZY_DISCOUNT = 0.8
    #: Most unknown query words remembered with their typo expansion (oldest forgotten first).
    CACHE_SIZE = 4096

    def __init__(self, *, documents: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> None:
        self._docs = [Counter(d) for d in documents]
        self._lengths = np.array([max(len(d), 1) for d in documents], dtype=np.float32)
        self._avg = float(self._lengths.mean()) if len(documents) else 1.0
        df: Counter[str] = Counter()
        for d in self._docs:
            df.update(d.keys())
        n = max(len(documents), 1)
        self._idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}
        self._k1, self._b = k1, b
        self._cache: dict[str, list[tuple[str, float]]] = {}
        # Per word, the documents holding it and how often: a query touches
        # only those instead of looking the word up in every document.
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for i, d in enumerate(self._docs):
            for word, count in d.items():
                rows, counts = postings.setdefault(word, ([], []))
                rows.append(i)
                counts.append(count)
        self._postings = {w: (np.array(r, dtype=np.int64), np.array(c, dtype=np.float32))
                          for w, (r, c) in postings.items()}
        self._norm = (k1 * (1 - b + b * self._lengths / self._avg)).astype(np.float32)
        self._words = list(self._idf)
        self._longest = max(map(len, self._words), default=0)
        self._neighbours: dict[str, list[int]] = {}
        for i, word in enumerate(self._words):
            for variant in _deletion_set(word):
                self._neighbours.setdefault(variant, []).append(i)

    @property
    def vocabulary(self) -> Iterable[str]:
        return self._idf.keys()

    def expand(self, token: str) -> list[tuple[str, float]]:
        """Vocabulary words standing for ``token``, with a weight (1.0 exact, less for typos)."""
        if token in self._idf:
            return [(token, 1.0)]
        found = self._cache.get(token)
        if found is None:
            found = self._cache[token] = self._fuzzy(token)
            if len(self._cache) > self.CACHE_SIZE:
                self._cache.pop(next(iter(self._cache)), None)
        return found

    def _fuzzy(self, token: str) -> list[tuple[str, float]]:
        """Vocabulary words within the token's typo budget, in vocabulary order."""
        budget = typo_budget(token)
        if not budget or len(token) - budget > self._longest:
            return []
        candidates: set[int] = set()
        for variant in deletions(token, budget):
            candidates.update(self._neighbours.get(variant, ()))
        found = []
        for i in sorted(candidates):
            word = self._words[i]
            d = edit_distance(token, word, budget)
            if d <= budget:
                found.append((word, self.FUZZY_DISCOUNT ** d))
        return found

    def scores(self, query_tokens: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per document: (BM25 score, share of query words matched in [0, 1])."""
        n = len(self._docs)
        bm25 = np.zeros(n, dtype=np.float32)
        coverage = np.zeros(n, dtype=np.float32)
        unique = list(dict.fromkeys(query_tokens))
        if not unique or not n:
            return bm25, coverage
        norm = self._norm
        for token in unique:
            best = np.zeros(n, dtype=np.float64)
            for word, weight in self.expand(token):
                rows, tf = self._postings[word]
                bm25[rows] += weight * self._idf[word] * tf * (self._k1 + 1) / (tf + norm[rows])
                best[rows] = np.maximum(best[rows], weight)
            coverage += best
        return bm25, coverage / len(unique)


def keyword_scores(index: KeywordIndex, query_tokens: Sequence[str]) -> np.ndarray:
    """Blend coverage (absolute) with BM25 (relative to the best document) into [0, 1]."""
    bm25, coverage = index.scores(query_tokens)
    top = float(bm25.max()) if bm25.size else 0.0
    relative = bm25 / top if top > 0 else bm25
    return (0.7 * coverage + 0.3 * relative).astype(np.float32)


@dataclass(frozen=True)
class Passage:
    """A retrievable piece of text. ``keys`` are extra phrasings embedded separately."""

    id: str
    title: str
    text: str
    meta: Mapping[str, str] = field(default_factory=dict, hash=False)
    keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class PassageHit:
    passage: Passage
    score: float
    semantic: float
    keyword: float


def confident(hit: PassageHit | None, floor: float = CONFIDENT_FLOOR) -> bool:
    """Whether a hit is good enough to answer with, rather than saying "I'm not sure"."""
    return hit is not None and hit.score >= floor


class PassageIndex:
    """Hybrid semantic + keyword retrieval over a fixed list of passages.

    Args:
        passages: the passages; ids should be unique.
        encoder: any :class:`~core.protocols.TextEncoder`; ``embed_sync`` is
            called once here to embed the passages (start-up cost).
        semantic_weight: share of the semantic score in the blend.
    """

    def __init__(self, *, passages: Sequence[Passage], encoder: TextEncoder,
                 semantic_weight: float = SEMANTIC_WEIGHT, cjk_semantic_weight: float | None = None) -> None:
        self.passages = tuple(passages)
        self.encoder = encoder
        self.semantic_weight = semantic_weight
        #: The semantic share for a query in Chinese (or Japanese) script; None: ``semantic_weight``.
        #: An encoder that cannot read the script (MiniLM maps Han to [UNK]) is best at 0: keywords only.
        #: :func:`choose_cjk_weight` picks it by cross-validation on the passages' own CJK phrasings.
        self.cjk_semantic_weight = cjk_semantic_weight
        texts: list[str] = []
        owners: list[int] = []
        for i, p in enumerate(self.passages):
            for text in (f"{p.title}. {p.text}", *p.keys):
                texts.append(text)
                owners.append(i)
        self._texts = tuple(texts)
        self._owners = np.array(owners, dtype=np.int64)
        self._vectors = embed_passages_sync(encoder, texts) if texts else np.zeros((0, encoder.dim), np.float32)
        self.background = self._background()
        self._index_keywords()

    def _background(self) -> float:
        """The encoder's cosine between unrelated texts, when it sits high; else 0.

        Measured here: the mean cosine between texts of different passages. An encoder whose
        unrelated texts sit above :data:`HIGH_BACKGROUND` (multilingual-e5: ~0.8) crowds every
        cosine into a narrow band at the top, where the keyword half of the blend drowns it; its
        semantic scores are read above that background instead, ``(cos - b) / (1 - b)``. One with
        a low background (all-MiniLM-L6-v2) keeps its raw cosines, as calibrated before.
        """
        if len(self.passages) < 2 or not len(self._texts):
            return 0.0
        sims = self._vectors @ self._vectors.T
        other = self._owners[:, None] != self._owners[None, :]
        background = float(sims[other].mean()) if other.any() else 0.0
        return min(background, 0.95) if background >= HIGH_BACKGROUND else 0.0

    def _index_keywords(self) -> None:
        """Two keyword indexes: without the CJK phrasings (Latin-script queries score exactly as they
        would without them), and with everything plus Han character pairs (queries in CJK script)."""
        self._cjk_vectors = np.array([has_cjk(t) for t in self._texts], dtype=bool)
        self._keywords = KeywordIndex(documents=[
            tokenize(" ".join((p.title, p.title, p.text, *(k for k in p.keys if not has_cjk(k)))))
            for p in self.passages
        ])
        self._cjk_keywords = KeywordIndex(documents=[
            passage_tokens(" ".join((p.title, p.title, p.text, *p.keys))) for p in self.passages
        ])

    def holding_out(self, keys: Iterable[str]) -> PassageIndex:
        """A copy without some alternative phrasings (for cross-validation); nothing is re-embedded."""
        drop = set(keys)
        twin = object.__new__(PassageIndex)
        twin.passages = tuple(dataclasses.replace(p, keys=tuple(k for k in p.keys if k not in drop))
                              for p in self.passages)
        twin.encoder, twin.semantic_weight = self.encoder, self.semantic_weight
        twin.cjk_semantic_weight = self.cjk_semantic_weight
        kept = np.array([t not in drop or t.startswith(f"{self.passages[o].title}. ")
                         for t, o in zip(self._texts, self._owners)], dtype=bool)
        twin._texts = tuple(t for t, k in zip(self._texts, kept) if k)
        twin._owners, twin._vectors = self._owners[kept], self._vectors[kept]
        twin.background = self.background
        twin._index_keywords()
        return twin

    def __len__(self) -> int:
        return len(self.passages)

    async def query(self, text: str, k: int = 3, query_embedding: np.ndarray | None = None) -> list[PassageHit]:
        """The ``k`` best passages for ``text``, best first.

        Args:
            text: the user's question.
            k: how many hits to return.
            query_embedding: the embedding of ``text`` when the caller already
                has it (the intent model's forward pass); saves an encoder call.
        """
        if not text.strip() or not self.passages:
            return []
        if query_embedding is None:
            query_embedding = (await self.encoder.embed([text]))[0]
        return self.rank(text, np.asarray(query_embedding, dtype=np.float32), k=k)

    def query_sync(self, text: str, k: int = 3) -> list[PassageHit]:
        """Blocking variant for CLIs and calibration."""
        if not text.strip() or not self.passages:
            return []
        return self.rank(text, self.encoder.embed_sync([text])[0], k=k)

    def weight_for(self, text: str) -> float:
        """The semantic share of the blend for this query (see ``cjk_semantic_weight``)."""
        if self.cjk_semantic_weight is not None and has_cjk(text):
            return self.cjk_semantic_weight
        return self.semantic_weight

    def rank(self, text: str, query_embedding: np.ndarray, k: int = 3,
             semantic_weight: float | None = None) -> list[PassageHit]:
        """Score every passage against an already-embedded query."""
        sims = (self._vectors @ query_embedding.reshape(-1)).astype(np.float32)
        cjk = has_cjk(text)
        if not cjk:  # a CJK phrasing's vector speaks only for CJK questions
            sims[self._cjk_vectors] = -1.0
        semantic = np.full(len(self.passages), -1.0, dtype=np.float32)
        np.maximum.at(semantic, self._owners, sims)
        keyword = (keyword_scores(self._cjk_keywords, passage_tokens(text)) if cjk
                   else keyword_scores(self._keywords, tokenize(text)))
        w = self.weight_for(text) if semantic_weight is None else semantic_weight
        if self.background:
            semantic = (semantic - self.background) / (1.0 - self.background)
        score = w * np.clip(semantic, 0.0, 1.0) + (1 - w) * keyword
        order = np.argsort(-score, kind="stable")[: max(k, 0)]
        return [PassageHit(passage=self.passages[i], score=float(score[i]),
                           semantic=float(semantic[i]), keyword=float(keyword[i])) for i in order]


#: Fewest phrasings in Chinese (or Japanese) script for them to get their own calibration and blend weight.
MIN_CJK_QUERIES = 20
#: Semantic shares :func:`choose_cjk_weight` tries for queries in CJK script.
CJK_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 0.9)


@dataclass(frozen=True)
class AnswerCalibration:
    """When retrieval answers, asks, or says it is not sure; chosen by :func:`calibrate_answer`.

    ``floor``: a top hit scoring below it is not answered ("not sure", with the closest entries).
    ``margin``: above the floor, a top hit less than ``margin`` ahead of the next passage is
    asked about ("Did you mean ...") instead of answered.
    ``cjk``: the calibration for questions written in Chinese (or Japanese) script, when the
    passages had enough such phrasings to choose one (their scores sit elsewhere: another
    blend, and a cross-lingual cosine); None: these questions use this one.
    The figures are the cross-validated shares they were chosen on.
    """

    floor: float
    margin: float
    answered_right: float = 0.0
    answered_wrong: float = 0.0
    asked: float = 0.0
    negatives_answered: float = 0.0
    size: int = 0
    cjk: AnswerCalibration | None = None
    #: Retrieval, not the intent head, tells these questions from off-topic ones (set for Chinese
    #: questions when the encoder cannot read Chinese, so the head reads them only by characters).
    overrules_head: bool = False

    def for_text(self, text: str) -> AnswerCalibration:
        """The calibration that applies to a question written as ``text``."""
        return self.cjk if self.cjk is not None and has_cjk(text) else self

    def decide(self, hits: Sequence[PassageHit], text: str = "") -> str:
        """``"answer"``, ``"ask"`` or ``"unsure"`` for hits ranked best first (``text``: the question)."""
        cal = self.for_text(text)
        if not hits or hits[0].score < cal.floor:
            return "unsure"
        second = hits[1].score if len(hits) > 1 else 0.0
        return "answer" if hits[0].score - second >= cal.margin else "ask"


def _held_out_queries(index: PassageIndex, folds: int) -> list[tuple[str, str, int]]:
    """(phrasing, passage id, fold) for every alternative phrasing of every passage."""
    return [(key, p.id, j % folds) for p in index.passages for j, key in enumerate(p.keys)]


def _cross_validate(index: PassageIndex, queries: Sequence[tuple[str, str, int]], folds: int,
                    semantic_weight: float | None = None) -> tuple[np.ndarray, ...]:
    """Per held-out query: top score, gap to the second, top right?, how far behind the right passage is."""
    vectors = dict(zip(index._texts, index._vectors))
    top, gap, right, behind = [], [], [], []
    for f in range(folds):
        held = [q for q in queries if q[2] == f]
        if not held:
            continue
        sub = index.holding_out(q[0] for q in held)
        for text, pid, _ in held:
            hits = sub.rank(text, vectors[text], k=ASK_MAX, semantic_weight=semantic_weight)
            top.append(hits[0].score)
            gap.append(hits[0].score - (hits[1].score if len(hits) > 1 else 0.0))
            right.append(hits[0].passage.id == pid)
            # How far behind the top the right passage is (inf when not among the candidates).
            behind.append(next((hits[0].score - h.score for h in hits if h.passage.id == pid), np.inf))
    return np.array(top), np.array(gap), np.array(right, dtype=bool), np.array(behind)


def choose_cjk_weight(index: PassageIndex, *, folds: int = 5,
                      weights: Sequence[float] = CJK_WEIGHTS) -> float | None:
    """The semantic share that ranks the passages' own CJK phrasings best when they are held out.

    An encoder that reads Chinese (multilingual-e5) keeps a high share; one that turns Han
    characters into [UNK] (all-MiniLM-L6-v2) gets 0: its cosines between two Chinese texts say
    nothing, and the characters themselves (keywords) decide. None when the passages have fewer
    than :data:`MIN_CJK_QUERIES` CJK phrasings (CJK questions then use the usual blend).
    """
    queries = [q for q in _held_out_queries(index, folds) if has_cjk(q[0])]
    if len(queries) < MIN_CJK_QUERIES:
        return None
    scored = []
    for w in weights:
        _, _, right, behind = _cross_validate(index, queries, folds, semantic_weight=w)
        # Right first; then right among the offered candidates (an ask that would find it).
        scored.append((float(np.mean(right)), float(np.mean(np.isfinite(behind))), w))
    return max(scored)[2]


def calibrate_answer(
    index: PassageIndex,
    *,
    folds: int = 5,
    negatives: Sequence[str] = (),
    negative_embeddings: np.ndarray | None = None,
    wrong_cost: float = 0.5,
    negatives_weight: float = 1.0,
    ask_credit: float = 0.25,
    cjk_negatives_weight: float | None = None,
) -> AnswerCalibration:
    """Choose the answer floor and margin by cross-validation over the passages' own phrasings.

    Every passage's ``keys`` are split into ``folds`` shares; each share is asked as queries
    of an index holding the other shares (the phrasings are embedded once). ``negatives``
    (messages no passage answers) are asked of the full index. The (floor, margin) pair
    maximises ``right answers + ask_credit * questions asked with the right passage among the
    offered ones - wrong_cost * (wrong answers + negatives_weight * negatives answered)``, each
    as a share of its set (an ask costs the user a click: half an answer); of the settings within one question of the best,
    the lowest floor (then margin) wins. The floors tried span every score a cosine blend can
    take (0.20-0.99), so an encoder whose cosines sit high (e5) gets its own floor, not MiniLM's.

    Phrasings (and negatives) in CJK script are calibrated apart when there are at least
    :data:`MIN_CJK_QUERIES` of them: the result's ``cjk`` holds their floor and margin, with
    their negatives weighed by ``cjk_negatives_weight`` (default ``negatives_weight``).
    """
    queries = _held_out_queries(index, folds)
    if not queries:
        return AnswerCalibration(floor=CONFIDENT_FLOOR, margin=0.0)
    t, g, r, b = _cross_validate(index, queries, folds)
    cjk = np.array([has_cjk(q[0]) for q in queries], dtype=bool)
    order = np.argsort([q[2] for q in queries], kind="stable")  # _cross_validate returns fold by fold
    cjk = cjk[order]
    neg_top = np.zeros(0, dtype=np.float32)
    neg_gap = np.zeros(0, dtype=np.float32)
    neg_cjk = np.zeros(0, dtype=bool)
    if negatives:
        emb = negative_embeddings if negative_embeddings is not None else index.encoder.embed_sync(list(negatives))
        ranked = [index.rank(text, e, k=2) for text, e in zip(negatives, emb)]
        neg_top = np.array([h[0].score for h in ranked], dtype=np.float32)
        neg_gap = np.array([h[0].score - h[1].score for h in ranked], dtype=np.float32)
        neg_cjk = np.array([has_cjk(text) for text in negatives], dtype=bool)
    choose = _Chooser(wrong_cost=wrong_cost, negatives_weight=negatives_weight, ask_credit=ask_credit)
    if int(cjk.sum()) < MIN_CJK_QUERIES:
        return choose(t, g, r, b, neg_top, neg_gap)
    if not (~cjk).any():
        return choose(t, g, r, b, neg_top, neg_gap)
    main = choose(t[~cjk], g[~cjk], r[~cjk], b[~cjk], neg_top[~neg_cjk], neg_gap[~neg_cjk])
    if cjk_negatives_weight is not None:
        choose = dataclasses.replace(choose, negatives_weight=cjk_negatives_weight)
    return dataclasses.replace(main, cjk=choose(t[cjk], g[cjk], r[cjk], b[cjk], neg_top[neg_cjk], neg_gap[neg_cjk]))


@dataclass(frozen=True)
class _Chooser:
    wrong_cost: float
    negatives_weight: float
    ask_credit: float

    def __call__(self, t: np.ndarray, g: np.ndarray, r: np.ndarray, b: np.ndarray,
                 neg_top: np.ndarray, neg_gap: np.ndarray) -> AnswerCalibration:
        grid: list[tuple[float, float, float]] = []
        for floor in np.round(np.arange(0.20, 1.0, 0.01), 2):
            for margin in np.round(np.arange(0.0, 0.101, 0.005), 3):
                answered = (t >= floor) & (g >= margin)
                asked_right = (t >= floor) & (g < margin) & (b < margin)
                negs = float(np.mean((neg_top >= floor) & (neg_gap >= margin))) if len(neg_top) else 0.0
                utility = (float(np.mean(answered & r)) + self.ask_credit * float(np.mean(asked_right))
                           - self.wrong_cost * (float(np.mean(answered & ~r)) + self.negatives_weight * negs))
                grid.append((utility, float(floor), float(margin)))
        # The utility is flat near its top: of the settings within one question of the best, the
        # lowest floor and margin (answer when the held-out evidence cannot tell them apart).
        top_utility = max(u for u, _, _ in grid)
        _, floor, margin = min((x for x in grid if x[0] >= top_utility - 1.0 / len(t)), key=lambda x: (x[1], x[2]))
        answered = (t >= floor) & (g >= margin)
        return AnswerCalibration(
            floor=floor, margin=margin,
            answered_right=float(np.mean(answered & r)), answered_wrong=float(np.mean(answered & ~r)),
            asked=float(np.mean((t >= floor) & (g < margin))),
            negatives_answered=float(np.mean((neg_top >= floor) & (neg_gap >= margin))) if len(neg_top) else 0.0,
            size=len(t),
        )
