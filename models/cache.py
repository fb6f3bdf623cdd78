"""A bounded cache of sentence embeddings for texts that come back again and again.

Greetings, thanks, button labels and the same few questions make up a large
share of chat traffic; their embeddings never change for a given encoder, so
the serving path looks them up here before queueing them for the ONNX model.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from core.protocols import CacheStats


class EmbeddingCache:
    """Least-recently-used map from text to its embedding row (read-only arrays).

    Thread-safe: event loops in several threads may share one encoder.

    Args:
        capacity: most texts kept; the least recently used goes first.

    Raises:
        ValueError: ``capacity`` is below 1.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("embedding cache capacity must be >= 1")
        self.capacity = capacity
        self._rows: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def get(self, text: str) -> np.ndarray | None:
        """The cached row for ``text`` (counted as a hit), or None (a miss)."""
        with self._lock:
            row = self._rows.get(text)
            if row is None:
                self._misses += 1
                return None
            self._rows.move_to_end(text)
            self._hits += 1
            return row

    def put(self, text: str, row: np.ndarray) -> None:
        """Keep a read-only copy of ``row`` for ``text``."""
        kept = np.array(row, dtype=np.float32, copy=True)
        kept.setflags(write=False)
        with self._lock:
            self._rows[text] = kept
            self._rows.move_to_end(text)
            while len(self._rows) > self.capacity:
                self._rows.popitem(last=False)

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(hits=self._hits, misses=self._misses, entries=len(self._rows), capacity=self.capacity)
