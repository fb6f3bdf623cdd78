"""Deterministic sentence sets for checking that two encoders agree.

The parity set mixes real customer-service and assistant texts (Bitext,
CLINC150) with concatenations of them, cut at exact token counts, so lengths
run evenly from 1 token to past the 128-token truncation point. The same
sentences come out on every machine for a given tokenizer and data.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from models.datasets import DatasetError

PARITY_SEED = 20240611
BATCH_SIZES = (1, 7, 64)
#: The files parity sentences are drawn from, under the datasets folder.
PARITY_SOURCES = (Path("bitext_customer_service") / "train.csv", Path("clinc150") / "data_full.json")
#: Described in the build manifest and log.
PARITY_SOURCES_TEXT = "Bitext train + CLINC150 train texts"


def load_source_texts(datasets_dir: Path) -> list[str]:
    """Bitext + CLINC150 training texts (deduplicated, stable order).

    Raises:
        DatasetError: a source file is missing or unreadable (the error names it).
    """
    bitext, clinc = (datasets_dir / source for source in PARITY_SOURCES)
    for path in (bitext, clinc):
        if not path.is_file():
            raise DatasetError(path, "file not found (parity sentences are drawn from it)")
    try:
        with bitext.open(encoding="utf-8", newline="") as handle:
            texts = [row["text"] for row in csv.DictReader(handle)]
    except (KeyError, ValueError) as e:
        raise DatasetError(bitext, f"not Bitext's layout (a 'text' column): {e}") from e
    try:
        texts += [text for text, _ in json.loads(clinc.read_text(encoding="utf-8"))["train"]]
    except (KeyError, ValueError, TypeError) as e:
        raise DatasetError(clinc, f"not CLINC150's data_full.json: {e}") from e
    return list(dict.fromkeys(t.strip() for t in texts if t.strip()))


def parity_sentences(tokenizer: Tokenizer, datasets_dir: Path, *, n: int = 512, max_tokens: int = 140) -> list[str]:
    """``n`` sentences whose token counts (without special tokens) cover 1..``max_tokens``.

    Raises:
        DatasetError: the source texts (:data:`PARITY_SOURCES`) are missing. There
            is no substitute: parity on made-up text would not say much.
    """
    rng = random.Random(PARITY_SEED)
    pool = load_source_texts(datasets_dir)
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
