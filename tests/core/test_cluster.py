"""Grouping unanswered messages by meaning, with the real encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.analytics import UnansweredEntry
from core.analytics.cluster import cluster_embeddings, cluster_entries
from models.encoder import OnnxEncoder

GROUPS = {
    "gift": ["do you sell gift cards", "can I buy a gift card", "gift vouchers available?"],
    "wrap": ["can you gift wrap my order", "do you offer gift wrapping", "is gift wrap available"],
    "car": ["can you fix my car", "my car needs repair"],
    "weather": ["what's the weather tomorrow", "will it rain today"],
}


@pytest.fixture(scope="module")
def encoder(artifacts_dir: Path) -> OnnxEncoder:
    return OnnxEncoder.from_artifacts(artifacts_dir / "encoder", device="cpu")


def test_messages_of_different_meanings_never_share_a_group(encoder: OnnxEncoder) -> None:
    texts = [t for g in GROUPS.values() for t in g]
    truth = [name for name, g in GROUPS.items() for _ in g]
    labels = cluster_embeddings(encoder.embed_sync(texts))
    for label in set(labels):
        assert len({truth[i] for i in np.flatnonzero(labels == label)}) == 1, [
            texts[i] for i in np.flatnonzero(labels == label)]
    assert len(set(labels)) < len(texts)  # and paraphrases do share one


def test_groups_count_first_last_seen_and_keep_entries_without_vectors(encoder: OnnxEncoder) -> None:
    texts = ["do you sell gift cards", "can I buy a gift card", "do you sell gift cards", "blorp"]
    vectors = encoder.embed_sync(texts)
    entries = [UnansweredEntry(id=f"{i}-0", kind="fallback", platform="telegram", bot="shop", text=t,
                               intent="", score=0.1, at=100.0 + i, embedding=vectors[i] if i < 3 else None)
               for i, t in enumerate(texts)]
    groups = cluster_entries(entries)
    assert [g.count for g in groups] == [3, 1]
    assert groups[0].first_seen == 100.0 and groups[0].last_seen == 102.0
    assert [e.text for e in groups[0].examples()] == ["do you sell gift cards", "can I buy a gift card"]
    assert groups[1].label == "blorp"
    assert cluster_entries([]) == []
