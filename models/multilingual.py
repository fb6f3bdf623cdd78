"""A second, encoder-free intent path for text the encoder cannot read.

all-MiniLM-L6-v2's WordPiece vocabulary maps ~99% of CJK ideographs to
``[UNK]``, so a Chinese message reaches the head as a row of unknown tokens
and gets whatever intent that row resembles. Two parts fix that without
tying the bot to one encoder:

* :class:`ScriptRouter` knows which CJK characters the *encoder's* tokenizer
  cannot represent (computed from ``tokenizer.json`` at training time) and
  estimates the ``[UNK]`` share of a text. Above ``min_unk_ratio`` the text
  goes to the character head; a multilingual encoder whose vocabulary covers
  CJK has an (almost) empty unknown set, so its texts stay on the encoder path.
* :class:`CharNgramHead` is a multinomial logistic regression over TF-IDF
  character 1-3-grams with an explicit ``out_of_scope`` class, stored as
  numpy arrays (``char_head.npz`` + ``char_head.json``). Serving needs numpy only.

Training (:func:`train_char_head`, :func:`cross_validate_char_head`) is
numpy too: a few hundred examples, a few thousand features, seconds on a CPU.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.text import normalize_text

logger = logging.getLogger(__name__)

OUT_OF_SCOPE = "out_of_scope"
ROUTER_FILE = "router.json"
CHAR_HEAD_WEIGHTS = "char_head.npz"
CHAR_HEAD_META = "char_head.json"

#: Han (CJK unified + extension A + compatibility) and kana: scripts a Latin WordPiece vocabulary lacks.
_CJK_RANGES = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))
_CJK_CHAR = re.compile("[" + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in _CJK_RANGES) + "]")
_WORD = re.compile(r"[^\W\d_]+|\d+|[^\w\s]", re.UNICODE)
_DIGITS = re.compile(r"\d+")


def is_cjk(ch: str) -> bool:
    """True for a Han ideograph or a kana character."""
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def cjk_share(text: str) -> float:
    """Share of the non-space characters of ``text`` that are CJK."""
    chars = [ch for ch in text if not ch.isspace()]
    return sum(map(is_cjk, chars)) / len(chars) if chars else 0.0


def unknown_cjk_chars(tokenizer_path: Path) -> str:
    """The CJK characters that the tokenizer at ``tokenizer_path`` turns into its unknown token.

    Training time only (reads ``tokenizer.json`` with the ``tokenizers`` package).

    Raises:
        FileNotFoundError: no tokenizer file there.
    """
    from tokenizers import Tokenizer

    if not tokenizer_path.is_file():
        raise FileNotFoundError(tokenizer_path)
    tok = Tokenizer.from_file(str(tokenizer_path))
    tok.no_padding()
    tok.no_truncation()
    unk_token = getattr(tok.model, "unk_token", None)
    unk_id = tok.token_to_id(unk_token) if unk_token else None
    if unk_id is None:  # a Unigram (SentencePiece) model names its unknown token by id
        unk_id = json.loads(tok.to_str()).get("model", {}).get("unk_id")
    if unk_id is None:  # byte-level vocabularies have no unknown token: they cover everything
        return ""
    chars = [chr(cp) for lo, hi in _CJK_RANGES for cp in range(lo, hi + 1)]
    encodings = tok.encode_batch(chars, add_special_tokens=False)
    return "".join(ch for ch, enc in zip(chars, encodings) if not enc.ids or unk_id in enc.ids)


@dataclass(frozen=True)
class ScriptRouter:
    """Decides per text whether the encoder can read it.

    Attributes:
        unknown: CJK characters the encoder's tokenizer maps to its unknown token.
        min_unk_ratio: estimated unknown-token share at or above which the
            character head answers instead of the encoder head.
    """

    unknown: frozenset[str]
    min_unk_ratio: float = 0.3

    def unk_ratio(self, text: str) -> float:
        """Estimated share of ``[UNK]`` tokens in ``text``.

        BERT-style tokenizers split every CJK character into its own token;
        other words count as one token each (a lower bound, which only makes
        the estimate err towards the encoder).
        """
        if not _CJK_CHAR.search(text):
            return 0.0  # the common case, checked in C: no CJK, nothing the encoder cannot read
        tokens = unknown = 0
        for ch in text:
            if is_cjk(ch):
                tokens += 1
                unknown += ch in self.unknown
        rest = "".join(" " if is_cjk(ch) else ch for ch in text)
        tokens += len(_WORD.findall(rest))
        return unknown / tokens if tokens else 0.0

    def use_char_head(self, text: str) -> bool:
        return self.unk_ratio(text) >= self.min_unk_ratio

    def to_json(self) -> dict[str, object]:
        return {"min_unk_ratio": self.min_unk_ratio, "unknown": "".join(sorted(self.unknown))}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> ScriptRouter:
        return cls(unknown=frozenset(str(data["unknown"])), min_unk_ratio=float(data["min_unk_ratio"]))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- features


def char_ngrams(text: str, *, n_max: int = 3) -> list[str]:
    """Character 1..``n_max``-grams of the normalised text, with ^ and $ marking the ends.

    Digit runs fold to ``0`` (an order number is not a feature of the intent);
    whitespace is dropped, since Chinese does not use it between words.
    """
    s = _DIGITS.sub("0", normalize_text(text)).replace(" ", "")
    if not s:
        return []
    padded = f"^{s}$"
    grams = list(s)  # unigrams without the markers
    for n in range(2, n_max + 1):
        grams += [padded[i : i + n] for i in range(len(padded) - n + 1)]
    return grams


@dataclass
class CharNgramHead:
    """TF-IDF character n-grams -> softmax over ``labels`` (numpy only).

    ``labels`` may include ``out_of_scope``, an explicit class trained on
    off-topic text. ``oos_threshold``: a top in-scope probability below it
    also means out of scope. ``ambiguity_margin``: top-1 minus top-2 in-scope
    probability below it means ambiguous.
    """

    labels: tuple[str, ...]
    vocab: dict[str, int]
    idf: np.ndarray
    weight: np.ndarray
    bias: np.ndarray
    n_max: int = 3
    oos_threshold: float = 0.0
    ambiguity_margin: float = 0.0

    def features(self, texts: Sequence[str]) -> np.ndarray:
        x = np.zeros((len(texts), len(self.vocab)), dtype=np.float32)
        for row, text in enumerate(texts):
            counts = Counter(g for g in char_ngrams(text, n_max=self.n_max) if g in self.vocab)
            for gram, c in counts.items():
                x[row, self.vocab[gram]] = 1.0 + math.log(c)
        x *= self.idf
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        return x / np.maximum(norms, 1e-12)

    def probs(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, shape (len(texts), len(labels))."""
        return _softmax(self.features(texts) @ self.weight + self.bias)

    def save(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        np.savez(out_dir / CHAR_HEAD_WEIGHTS, idf=self.idf, weight=self.weight, bias=self.bias)
        grams = sorted(self.vocab, key=self.vocab.__getitem__)
        meta = {
            "labels": list(self.labels),
            "vocab": grams,
            "n_max": self.n_max,
            "oos_threshold": self.oos_threshold,
            "ambiguity_margin": self.ambiguity_margin,
        }
        (out_dir / CHAR_HEAD_META).write_text(json.dumps(meta, ensure_ascii=False))

    @classmethod
    def load(cls, head_dir: Path) -> CharNgramHead:
        """Read ``char_head.json`` + ``char_head.npz``.

        Raises:
            ValueError: the files are malformed or disagree on shapes.
        """
        try:
            meta = json.loads((head_dir / CHAR_HEAD_META).read_text(encoding="utf-8"))
            with np.load(head_dir / CHAR_HEAD_WEIGHTS) as arrays:
                idf, weight, bias = arrays["idf"], arrays["weight"], arrays["bias"]
            head = cls(
                labels=tuple(meta["labels"]),
                vocab={g: i for i, g in enumerate(meta["vocab"])},
                idf=idf.astype(np.float32),
                weight=weight.astype(np.float32),
                bias=bias.astype(np.float32),
                n_max=int(meta["n_max"]),
                oos_threshold=float(meta["oos_threshold"]),
                ambiguity_margin=float(meta["ambiguity_margin"]),
            )
        except (OSError, KeyError, TypeError, ValueError, json.JSONDecodeError) as e:
            raise ValueError(f"{head_dir}: malformed character head: {e}") from e
        if weight.shape != (len(head.vocab), len(head.labels)) or idf.shape != (len(head.vocab),):
            raise ValueError(f"{head_dir}: character head shapes {weight.shape}/{idf.shape} disagree with its json")
        return head


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


# --------------------------------------------------------------------------- training


@dataclass(frozen=True)
class CharHeadConfig:
    """Hyper-parameters of the character head (chosen by cross-validation on the shop bot)."""

    n_max: int = 3
    l2: float = 1e-4
    lr: float = 0.1
    steps: int = 300
    oos_weight: float = 1.0


def train_char_head(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    negatives: Sequence[str] = (),
    config: CharHeadConfig = CharHeadConfig(),
) -> CharNgramHead:
    """Fit the character head; ``negatives`` (off-topic texts) form the ``out_of_scope`` class.

    Full-batch Adam on the cross-entropy plus an L2 penalty: deterministic
    (zero initialisation, no sampling), so the same data gives the same head.
    """
    all_texts = list(texts) + list(negatives)
    all_labels = list(labels) + [OUT_OF_SCOPE] * len(negatives)
    classes = tuple(sorted(set(labels))) + ((OUT_OF_SCOPE,) if negatives else ())
    grams_per_text = [char_ngrams(t, n_max=config.n_max) for t in all_texts]
    df = Counter(g for grams in grams_per_text for g in set(grams))
    vocab = {g: i for i, g in enumerate(sorted(df))}
    n = len(all_texts)
    idf = np.array([math.log((1 + n) / (1 + df[g])) + 1.0 for g in sorted(df)], dtype=np.float32)
    head = CharNgramHead(
        labels=classes,
        vocab=vocab,
        idf=idf,
        weight=np.zeros((len(vocab), len(classes)), dtype=np.float32),
        bias=np.zeros(len(classes), dtype=np.float32),
        n_max=config.n_max,
    )
    x = head.features(all_texts)
    pos = {c: i for i, c in enumerate(classes)}
    y = np.zeros((n, len(classes)), dtype=np.float32)
    y[np.arange(n), [pos[lab] for lab in all_labels]] = 1.0
    sample_w = np.where(np.array(all_labels) == OUT_OF_SCOPE, config.oos_weight, 1.0).astype(np.float32)
    sample_w /= sample_w.sum()
    params = [head.weight, head.bias]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    b1, b2, eps = 0.9, 0.999, 1e-8
    for step in range(1, config.steps + 1):
        p = _softmax(x @ head.weight + head.bias)
        err = (p - y) * sample_w[:, None]
        grads = [x.T @ err + config.l2 * head.weight, err.sum(axis=0)]
        for i, (param, g) in enumerate(zip(params, grads)):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            param -= config.lr * (m[i] / (1 - b1**step)) / (np.sqrt(v[i] / (1 - b2**step)) + eps)
    return head


def stratified_folds(labels: Sequence[str], k: int, *, seed: int = 13) -> np.ndarray:
    """Fold number per example, each label spread round-robin over the ``k`` folds."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(labels), dtype=np.int64)
    by_label: dict[str, list[int]] = {}
    for i, lab in enumerate(labels):
        by_label.setdefault(lab, []).append(i)
    offset = 0
    for lab in sorted(by_label):
        idx = np.array(by_label[lab])
        rng.shuffle(idx)
        fold[idx] = (np.arange(len(idx)) + offset) % k
        offset += len(idx)
    return fold


def cross_validate_char_head(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    negatives: Sequence[str],
    k: int = 5,
    config: CharHeadConfig = CharHeadConfig(),
) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Out-of-fold probabilities for the in-scope examples and the negatives.

    Returns:
        ``(classes, probs_in, probs_neg)``; columns follow ``classes``.
    """
    texts, labels, negatives = list(texts), list(labels), list(negatives)
    fold_in = stratified_folds(labels, k)
    fold_neg = np.arange(len(negatives)) % k
    classes = tuple(sorted(set(labels))) + ((OUT_OF_SCOPE,) if negatives else ())
    probs_in = np.zeros((len(texts), len(classes)), dtype=np.float32)
    probs_neg = np.zeros((len(negatives), len(classes)), dtype=np.float32)
    for f in range(k):
        tr = [i for i in range(len(texts)) if fold_in[i] != f]
        ntr = [negatives[i] for i in range(len(negatives)) if fold_neg[i] != f]
        head = train_char_head([texts[i] for i in tr], [labels[i] for i in tr], negatives=ntr, config=config)
        cols = [head.labels.index(c) for c in classes]
        te = np.flatnonzero(fold_in == f)
        if len(te):
            probs_in[te] = head.probs([texts[i] for i in te])[:, cols]
        nte = np.flatnonzero(fold_neg == f)
        if len(nte):
            probs_neg[nte] = head.probs([negatives[i] for i in nte])[:, cols]
    return classes, probs_in, probs_neg
