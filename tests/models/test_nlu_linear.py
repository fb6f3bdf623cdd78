"""The L-BFGS linear head: converges on separable data, C chosen on validation, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from models.datasets import DATASET_NAMES
from models.evaluate import RECIPES
from models.intent_linear import fit_linear_lbfgs, select_linear_head


def _blobs(n_per: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """Three noisy clusters on the unit sphere, like sentence embeddings."""
    rng = np.random.default_rng(seed)
    centres = np.eye(3, 16, dtype=np.float32)
    x = np.concatenate([c + 0.35 * rng.standard_normal((n_per, 16)).astype(np.float32) for c in centres])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, [lab for lab in ("a", "b", "c") for _ in range(n_per)]


def test_fit_separates_clusters_and_regularisation_shrinks_weights() -> None:
    x, y = _blobs(40, seed=0)
    x_test, y_test = _blobs(40, seed=1)
    strong = fit_linear_lbfgs(x, y, c=0.1)
    weak = fit_linear_lbfgs(x, y, c=100.0)
    assert strong.labels == ("a", "b", "c")
    pred = np.array(weak.labels)[weak.probs(x_test).argmax(1)]
    assert np.mean(pred == np.array(y_test)) > 0.9
    assert np.abs(strong.layers[0][0]).sum() < np.abs(weak.layers[0][0]).sum()
    np.testing.assert_allclose(weak.probs(x_test).sum(1), 1.0, rtol=1e-5)


def test_select_keeps_best_validation_accuracy() -> None:
    x, y = _blobs(30, seed=2)
    x_val, y_val = _blobs(20, seed=3)
    fit = select_linear_head(x, y, x_val, y_val, c_grid=(30.0, 0.001, 1.0))
    assert [h["c"] for h in fit.history] == [0.001, 1.0, 30.0]
    assert fit.val_accuracy == max(h["val_accuracy"] for h in fit.history)
    assert fit.c == next(h["c"] for h in fit.history if h["val_accuracy"] == fit.val_accuracy)


def test_bad_arguments_are_clear() -> None:
    x, y = _blobs(5, seed=4)
    with pytest.raises(ValueError, match="c must be > 0"):
        fit_linear_lbfgs(x, y, c=0.0)
    with pytest.raises(ValueError, match="labels"):
        fit_linear_lbfgs(x, y[:-1], c=1.0)
    with pytest.raises(ValueError, match="empty"):
        select_linear_head(x, y, x, y, c_grid=())


def test_every_dataset_has_a_reasoned_recipe() -> None:
    for name in DATASET_NAMES:
        recipe = RECIPES[name]
        assert recipe.reason and 0 <= recipe.finetune_layers <= 6 and recipe.c_grid
