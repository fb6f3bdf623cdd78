"""Deterministic sentence sets for checking that two encoders agree.

The parity set mixes real customer-service and assistant texts (Bitext,
CLINC150) with concatenations of them, cut at exact token counts, so lengths
run evenly from 1 token to past the 128-token truncation point. The same
sentences come out on every machine for a given tokenizer and data.
"""

from __future__ import annotations

import csv
import json
import logging
import random
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

logger = logging.getLogger(__name__)

PARITY_SEED = 20240611
BATCH_SIZES = (1, 7, 64)


def load_source_texts(datasets_dir: Path | None) -> list[str]:
    """Bitext + CLINC150 training texts (deduplicated, stable order); [] when absent."""
    texts: list[str] = []
    if datasets_dir is not None:
        bitext = datasets_dir / "bitext_customer_service" / "train.csv"
        if bitext.is_file():
            with bitext.open(encoding="utf-8", newline="") as handle:
                texts.extend(row["text"] for row in csv.DictReader(handle))
        clinc = datasets_dir / "clinc150" / "data_full.json"
        if clinc.is_file():
            data = json.loads(clinc.read_text(encoding="utf-8"))
            texts.extend(text for text, _ in data.get("train", []))
    return list(dict.fromkeys(t.strip() for t in texts if t.strip()))


def _vocabulary_texts(tokenizer: Tokenizer, n: int, rng: random.Random) -> list[str]:
    words = sorted(w for w in tokenizer.get_vocab() if w.isalpha() and w.isascii() and len(w) > 2)
    return [" ".join(rng.choice(words) for _ in range(rng.randint(3, 15))) for _ in range(n)]


def parity_sentences(
    tokenizer: Tokenizer, datasets_dir: Path | None, *, n: int = 512, max_tokens: int = 140
) -> list[str]:
    """``n`` sentences whose token counts (without special tokens) cover 1..``max_tokens``.

    Falls back to random vocabulary words (seeded) when the datasets are absent,
    so a build on a machine without them still checks parity.
    """
    rng = random.Random(PARITY_SEED)
    pool = load_source_texts(datasets_dir)
    if len(pool) < 50:
        logger.warning("parity: datasets not found under %s; using vocabulary sentences", datasets_dir)
        pool = _vocabulary_texts(tokenizer, 2000, rng)
    else:
        rng.shuffle(pool)
    tok = Tokenizer.from_str(tokenizer.to_str())
    tok.no_padding()
    tok.no_truncation()
    sentences: list[str] = []
    cursor = 0
    for i in range(n):
        target = 1 + (i * (max_tokens - 1)) // max(n - 1, 1)
        text = pool[cursor % len(pool)]
        cursor += 1
        while True:
            encoding = tok.encode(text, add_special_tokens=False)
            if len(encoding.ids) >= target:
                break
            text = f"{text} {pool[cursor % len(pool)]}"
            cursor += 1
        end = encoding.offsets[target - 1][1]
        sentences.append(text[:end])
    return sentences


def mixed_batches(n: int, batch_size: int, *, seed: int = PARITY_SEED) -> list[list[int]]:
    """Index batches over a seeded shuffle, so each batch mixes short and long texts."""
    order = list(range(n))
    random.Random(seed + batch_size).shuffle(order)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two ``(n, dim)`` arrays."""
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return np.sum(a * b, axis=1)


def batched_cosines(
    sentences: Sequence[str],
    reference: np.ndarray,
    embed: Callable[[list[str]], np.ndarray],
    *,
    batch_sizes: Sequence[int] = BATCH_SIZES,
) -> np.ndarray:
    """Cosines of ``embed`` against ``reference`` rows for every batch size, concatenated."""
    cosines = []
    for batch_size in batch_sizes:
        got = np.empty_like(reference)
        for batch in mixed_batches(len(sentences), batch_size):
            got[batch] = embed([sentences[i] for i in batch])
        cosines.append(cosine_rows(got, reference))
    return np.concatenate(cosines)
