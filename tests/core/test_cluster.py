"""Threshold clustering of unanswered messages, on vectors whose groups are known (no model)."""

from __future__ import annotations

import numpy as np

from core.analytics import UnansweredEntry
from core.analytics.cluster import DEFAULT_THRESHOLD, cluster_embeddings, cluster_entries

DIM = 64


def _grouped(sizes: list[int], *, spread: float, seed: int = 7) -> tuple[np.ndarray, list[int]]:
    """Rows around orthogonal centres (one per group); ``spread`` is the noise per coordinate."""
    rng = np.random.default_rng(seed)
    centres = np.eye(DIM, dtype=np.float32)[: len(sizes)]
    rows, truth = [], []
    for group, size in enumerate(sizes):
        for _ in range(size):
            rows.append(centres[group] + rng.normal(0.0, spread, DIM).astype(np.float32))
            truth.append(group)
    order = rng.permutation(len(rows))  # arrival order must not matter
    return np.stack(rows)[order], [truth[i] for i in order]


def test_rows_near_one_centre_share_a_group_and_groups_never_mix() -> None:
    vectors, truth = _grouped([5, 4, 3, 2], spread=0.05)
    labels = cluster_embeddings(vectors)
    assert len(set(labels)) == 4
    for label in set(labels):
        assert len({truth[i] for i in np.flatnonzero(labels == label)}) == 1
    # Largest group first.
    assert [int((labels == k).sum()) for k in range(4)] == [5, 4, 3, 2]


def test_the_threshold_decides_what_counts_as_the_same_meaning() -> None:
    a = np.array([1.0, 0.0], dtype=np.float32)
    near = np.array([np.cos(0.5), np.sin(0.5)], dtype=np.float32)  # cosine 0.878
    far = np.array([np.cos(1.2), np.sin(1.2)], dtype=np.float32)  # cosine 0.362
    assert float(a @ far) < DEFAULT_THRESHOLD < float(a @ near)
    labels = cluster_embeddings(np.stack([a, near, far]))
    assert labels[0] == labels[1] != labels[2]
    assert len(set(cluster_embeddings(np.stack([a, near, far]), threshold=0.95))) == 3


def test_later_chunks_join_the_groups_earlier_chunks_started() -> None:
    vectors, truth = _grouped([40, 30, 20, 10], spread=0.03, seed=3)
    for chunk in (16, 512):  # many chunks, one chunk
        labels = cluster_embeddings(vectors, chunk=chunk)
        assert sorted(int((labels == k).sum()) for k in set(labels)) == [10, 20, 30, 40], chunk
        for label in set(labels):
            assert len({truth[i] for i in np.flatnonzero(labels == label)}) == 1, chunk


def test_groups_count_first_last_seen_and_keep_entries_without_vectors() -> None:
    gift = np.eye(DIM, dtype=np.float32)[0]
    nudged = gift + np.eye(DIM, dtype=np.float32)[1] * 0.1
    texts = ["do you sell gift cards", "can I buy a gift card", "do you sell gift cards", "blorp"]
    vectors = [gift, nudged, gift, None]
    entries = [UnansweredEntry(id=f"{i}-0", kind="fallback", platform="telegram", bot="shop", text=t,
                               intent="", score=0.1, at=100.0 + i, embedding=vectors[i])
               for i, t in enumerate(texts)]
    groups = cluster_entries(entries)
    assert [g.count for g in groups] == [3, 1]
    assert groups[0].first_seen == 100.0 and groups[0].last_seen == 102.0
    assert [e.text for e in groups[0].examples()] == ["do you sell gift cards", "can I buy a gift card"]
    assert groups[1].label == "blorp"
    assert cluster_entries([]) == []


def test_empty_input_has_no_labels() -> None:
    assert cluster_embeddings(np.zeros((0, DIM), dtype=np.float32)).shape == (0,)
