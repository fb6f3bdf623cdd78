"""Evaluation: metrics by hand, and a small real run through evaluate_dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.datasets import IntentDataset, load_bitext, stratified_indices
from models.encoder import OnnxEncoder
from models.evaluate import classification_scores, evaluate_dataset, markdown_report


def test_classification_scores_by_hand() -> None:
    y_true = ["a", "a", "b", "b", "c"]
    y_pred = ["a", "b", "b", "b", "a"]
    acc, macro, per = classification_scores(y_true, y_pred, ["a", "b", "c"])
    assert acc == pytest.approx(3 / 5)
    assert per["a"].precision == pytest.approx(0.5) and per["a"].recall == pytest.approx(0.5)
    assert per["b"].precision == pytest.approx(2 / 3) and per["b"].recall == pytest.approx(1.0)
    assert per["c"].f1 == 0.0 and per["c"].support == 1
    assert macro == pytest.approx((0.5 + 0.8 + 0.0) / 3)


def test_small_bitext_run_writes_report_and_plots(artifacts_dir: Path, datasets_dir: Path, tmp_path: Path) -> None:
    full = load_bitext(datasets_dir)
    _, tr = stratified_indices(full.train.labels, fraction=0.06, seed=3)
    _, te = stratified_indices(full.test.labels, fraction=0.1, seed=3)
    ds = IntentDataset(name="bitext", train=full.train.subset(tr), validation=None, test=full.test.subset(te))
    encoder = OnnxEncoder.from_artifacts(artifacts_dir / "encoder", device="cpu")
    try:
        report = evaluate_dataset(
            ds, embed=encoder.embed_sync, embed_key="test", cache_dir=tmp_path / "cache", out_dir=tmp_path / "out"
        )
    finally:
        encoder.close()
    assert report.accuracy > 90.0, report.accuracy
    assert report.n_intents == 27 and report.n_test == len(te)
    assert report.oos_recall is None and set(report.targets_met) == {"accuracy"}
    assert Path(report.plots["confusion"]).stat().st_size > 0 and Path(report.plots["loss"]).is_file()
    assert list((tmp_path / "cache").glob("*.npy"))  # embeddings cached for re-runs
    md = markdown_report([report], command="shopkeep nlu evaluate --dataset bitext")
    assert "| bitext |" in md and "out-of-scope threshold" in md
    json.dumps(report.to_dict())  # serialisable for --json
