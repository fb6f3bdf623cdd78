"""Fine-tuning the top encoder layer on a few examples: tuned embeddings, history, budget."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.datasets import load_bitext, stratified_indices
from models.intent_finetune import FinetuneConfig, finetune


def test_one_layer_one_epoch_on_a_small_sample(datasets_dir: Path) -> None:
    full = load_bitext(datasets_dir)
    _, keep = stratified_indices(full.train.labels, fraction=0.012, seed=5)  # ~70 texts, 27 intents
    sample = full.train.subset(keep)
    result = finetune(sample, sample, layers=1, ft=FinetuneConfig(max_epochs=1, encoder_lr=5e-4, batch_size=16))
    assert [h["epoch"] for h in result.history] == [0, 1]
    assert result.history[1]["val_loss"] < result.history[0]["val_loss"]  # training fits what it sees
    emb = result.embed(list(sample.texts[:5]))
    assert emb.shape == (5, 384)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-4)
