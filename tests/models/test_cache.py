"""The embedding cache: least-recently-used eviction, counters, and the encoder's use of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.cache import EmbeddingCache
from models.encoder import OnnxEncoder


def test_lru_eviction_and_counters() -> None:
    cache = EmbeddingCache(2)
    cache.put("hi", np.ones(3))
    cache.put("bye", np.zeros(3))
    assert cache.get("hi") is not None  # "hi" is now the most recent
    cache.put("thanks", np.full(3, 2.0))  # evicts "bye"
    assert cache.get("bye") is None
    assert cache.get("thanks") is not None
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.entries, stats.capacity) == (2, 1, 2, 2)
    assert stats.hit_rate == pytest.approx(2 / 3)


def test_cached_rows_are_read_only_copies() -> None:
    cache = EmbeddingCache(4)
    row = np.ones(3, dtype=np.float32)
    cache.put("hi", row)
    row[0] = 7.0  # the caller's array changes later
    kept = cache.get("hi")
    assert kept is not None and kept[0] == 1.0
    with pytest.raises(ValueError):
        kept[0] = 5.0


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        EmbeddingCache(0)


async def test_encoder_serves_repeats_from_the_cache(encoder_dir: Path) -> None:
    cached = OnnxEncoder.from_artifacts(encoder_dir, device="cpu", cache_size=16)
    plain = OnnxEncoder.from_artifacts(encoder_dir, device="cpu")
    try:
        texts = ["hi there", "show me a hoodie", "hi there"]
        first = await cached.embed(texts)
        ran = cached.batcher.items_run
        again = await cached.embed(["show me a hoodie", "hi there"])
        assert cached.batcher.items_run == ran  # nothing went to the model
        np.testing.assert_array_equal(again, first[[1, 0]])
        np.testing.assert_allclose(first, await plain.embed(texts), atol=1e-6)
        stats = cached.cache_stats()
        assert stats is not None and (stats.hits, stats.misses) == (2, 3)  # "hi there" twice in one call: both missed
        assert plain.cache_stats() is None
        again[0, 0] = 42.0  # callers get their own arrays
        assert (await cached.embed(["show me a hoodie"]))[0, 0] != 42.0
    finally:
        await cached.aclose()
        await plain.aclose()
