"""Grouping unanswered messages by meaning with the product's encoder (the algorithm: tests/core/test_cluster.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.analytics.cluster import cluster_embeddings
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
