"""Group unanswered messages by meaning (clusters of the encoder's embeddings).

The number of groups is not known in advance, so this is threshold
clustering, not k-means: a message joins the group whose centre it is
closest to when the cosine similarity reaches ``threshold``, else it starts
a group of its own. Messages are taken in chunks, and each chunk is one
matrix product against the current centres (plus a small greedy pass over
the chunk's own leftovers), so 10,000 messages are a handful of BLAS calls
rather than 10,000 Python steps. A last pass moves every message to its
nearest final centre, which removes most of the order dependence of a
single pass.

All numpy: no model, no training; embeddings come stored with the messages.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.analytics.reader import UnansweredEntry

#: Cosine similarity from which two messages mean the same thing. Chosen on
#: all-MiniLM-L6-v2: paraphrases of one shop question score 0.6-0.9, different
#: questions about the same product 0.3-0.55 (see tests/models/test_cluster_meaning.py).
DEFAULT_THRESHOLD = 0.6
CHUNK = 512


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    normalised: np.ndarray = x / np.maximum(norms, 1e-12)
    return normalised


def cluster_embeddings(embeddings: np.ndarray, *, threshold: float = DEFAULT_THRESHOLD,
                       chunk: int = CHUNK) -> np.ndarray:
    """One cluster label per row (0..k-1, largest cluster first).

    Args:
        embeddings: (n, dim) vectors; normalised here.
        threshold: cosine similarity needed to join a cluster.
        chunk: rows compared to the centres per matrix product.
    """
    n = len(embeddings)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    x = _normalise(np.asarray(embeddings, dtype=np.float32))
    dim = x.shape[1]
    sums = np.zeros((min(n, 1024), dim), dtype=np.float32)  # grows as clusters appear
    m = 0
    labels = np.full(n, -1, dtype=np.int64)
    for start in range(0, n, chunk):
        block = x[start:start + chunk]
        assigned = np.full(len(block), -1, dtype=np.int64)
        if m:
            sims = block @ _normalise(sums[:m]).T
            best = sims.argmax(axis=1)
            ok = sims[np.arange(len(block)), best] >= threshold
            assigned[ok] = best[ok]
        rest = np.flatnonzero(assigned < 0)
        if len(rest):
            inner = block[rest] @ block[rest].T
            free = np.ones(len(rest), dtype=bool)
            for i in range(len(rest)):
                if not free[i]:
                    continue
                members = free & (inner[i] >= threshold)
                members[i] = True
                if m == len(sums):
                    sums = np.concatenate([sums, np.zeros_like(sums)])
                assigned[rest[members]] = m
                free &= ~members
                m += 1
        np.add.at(sums, assigned, block)
        labels[start:start + len(block)] = assigned
    # Final pass: a message moves to the nearest centre of a group of two or more when that is
    # closer than its own (singletons are most of the groups in the long tail and cannot
    # attract anything a single pass missed by much; leaving them out keeps this pass cheap).
    sizes = np.bincount(labels, minlength=m)
    shared = np.flatnonzero(sizes >= 2)
    if len(shared):
        centres = _normalise(sums[:m])
        own_sim = np.einsum("ij,ij->i", x, centres[labels])
        for start in range(0, n, 4 * chunk):
            sims = x[start:start + 4 * chunk] @ centres[shared].T
            best = sims.argmax(axis=1)
            best_sim = sims[np.arange(len(sims)), best]
            move = (best_sim >= threshold) & (best_sim > own_sim[start:start + 4 * chunk])
            labels[start:start + 4 * chunk][move] = shared[best[move]]
    sizes = np.bincount(labels, minlength=m)
    order = np.argsort(-sizes, kind="stable")
    rank = np.empty(m, dtype=np.int64)
    rank[order] = np.arange(m)
    return rank[labels]


@dataclass(frozen=True)
class MessageCluster:
    """A group of unanswered messages that mean the same thing."""

    number: int
    entries: tuple[UnansweredEntry, ...]  # most central first
    kinds: dict[str, int]
    first_seen: float
    last_seen: float

    @property
    def count(self) -> int:
        return len(self.entries)

    @property
    def label(self) -> str:
        """The most central message stands for the group."""
        return self.entries[0].text

    def examples(self, limit: int = 5) -> list[UnansweredEntry]:
        """Distinct texts, most central first."""
        seen: set[str] = set()
        out = []
        for entry in self.entries:
            key = entry.text.strip().lower()
            if key not in seen:
                seen.add(key)
                out.append(entry)
            if len(out) == limit:
                break
        return out

    @property
    def likely_intent(self) -> str:
        """The intent the classifier leaned to most often (a hint for the reviewer)."""
        counts = Counter(e.intent for e in self.entries if e.intent and e.intent != "out_of_scope")
        return counts.most_common(1)[0][0] if counts else ""


def cluster_entries(entries: Sequence[UnansweredEntry], *, threshold: float = DEFAULT_THRESHOLD) -> list[MessageCluster]:
    """Group stored unanswered messages; entries without an embedding group by identical text."""
    with_vectors = [e for e in entries if e.embedding is not None]
    groups: list[list[UnansweredEntry]] = []
    if with_vectors:
        dims = Counter(len(e.embedding) for e in with_vectors)  # type: ignore[arg-type]
        dim = dims.most_common(1)[0][0]
        usable = [e for e in with_vectors if len(e.embedding) == dim]  # type: ignore[arg-type]
        x = _normalise(np.stack([e.embedding for e in usable]))  # type: ignore[misc]
        labels = cluster_embeddings(x, threshold=threshold)
        for label in range(int(labels.max()) + 1 if len(labels) else 0):
            idx = np.flatnonzero(labels == label)
            centre = _normalise(x[idx].sum(axis=0, keepdims=True))[0]
            order = idx[np.argsort(-(x[idx] @ centre), kind="stable")]
            groups.append([usable[i] for i in order])
        leftover = [e for e in entries if e.embedding is None or len(e.embedding) != dim]
    else:
        leftover = list(entries)
    by_text: dict[str, list[UnansweredEntry]] = {}
    for entry in leftover:
        by_text.setdefault(entry.text.strip().lower(), []).append(entry)
    groups.extend(by_text.values())
    groups.sort(key=lambda g: (-len(g), -max(e.at for e in g)))
    return [
        MessageCluster(number=i + 1, entries=tuple(g), kinds=dict(Counter(e.kind for e in g)),
                       first_seen=min(e.at for e in g), last_seen=max(e.at for e in g))
        for i, g in enumerate(groups)
    ]
