"""`shopkeep nlu evaluate` on a small Bitext sample: recipe, JSON and Markdown outputs, clear errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bots.cli import app
from models.datasets import load_bitext, stratified_indices


@pytest.fixture
def small_datasets(tmp_path: Path, datasets_dir: Path) -> Path:
    """A datasets root whose Bitext holds ~8% of the real train and test splits."""
    full = load_bitext(datasets_dir)
    folder = tmp_path / "datasets" / "bitext_customer_service"
    folder.mkdir(parents=True)
    for name, split in (("train", full.train), ("test", full.test)):
        _, keep = stratified_indices(split.labels, fraction=0.08, seed=7)
        with (folder / f"{name}.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text", "category", "intent"])
            writer.writerows([split.texts[i], "", split.labels[i]] for i in keep)
    return tmp_path / "datasets"


def test_evaluate_writes_json_and_report(small_datasets: Path, artifacts_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    artifacts = tmp_path / "artifacts"  # the real encoder, but the embedding cache stays in tmp
    artifacts.mkdir()
    (artifacts / "encoder").symlink_to((artifacts_dir / "encoder").resolve())
    args = [
        "nlu", "evaluate", "--dataset", "bitext", "--datasets-dir", str(small_datasets),
        "--artifacts-dir", str(artifacts), "--out-dir", str(out / "plots"),
        "--json-out", str(out / "nlu.json"), "--report", str(out / "nlu.md"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    [row] = json.loads((out / "nlu.json").read_text())["results"]
    assert row["dataset"] == "bitext" and row["mode"] == "frozen encoder + linear head (L-BFGS)"
    assert row["accuracy"] > 90.0 and row["head_c"] in (3.0, 10.0, 30.0, 100.0)
    # Figures on the test split it was given, validation carved from train (Bitext has none).
    sizes = {name: sum(1 for _ in (small_datasets / "bitext_customer_service" / f"{name}.csv").open()) - 1
             for name in ("train", "test")}
    assert row["n_test"] == sizes["test"] and row["n_train"] + row["n_validation"] == sizes["train"]
    assert 0 < row["n_validation"] < row["n_train"] and row["n_intents"] == 27
    # Accuracy agrees with the per-intent recalls it reports (each weighted by its support).
    per_intent = row["per_intent"].values()
    assert sum(s["support"] for s in per_intent) == row["n_test"]
    recalled = sum(s["recall"] * s["support"] for s in per_intent)
    assert row["accuracy"] == pytest.approx(100 * recalled / row["n_test"], abs=1e-6)
    # The Markdown report shows the same figures as the JSON.
    report = (out / "nlu.md").read_text()
    assert f"| bitext | {row['mode']} | {row['accuracy']:.2f} | {row['macro_f1']:.2f} |" in report
    assert f"train {row['n_train']}, validation {row['n_validation']}, test {row['n_test']}" in report
    assert (out / "plots" / "bitext_loss.png").stat().st_size > 0
    assert list((artifacts / "cache" / "embeddings").glob("*.npy"))


def test_unknown_dataset_is_a_clear_error(artifacts_dir: Path) -> None:
    result = CliRunner().invoke(app, ["nlu", "evaluate", "--dataset", "imdb", "--artifacts-dir", str(artifacts_dir)])
    assert result.exit_code == 2 and "unknown dataset" in result.output and "Traceback" not in result.output


def _two_encoders(tmp_path: Path, artifacts_dir: Path) -> Path:
    """An artifacts root where both encoder slots hold the real English encoder (so both runs agree)."""
    artifacts = tmp_path / "artifacts"
    (artifacts / "multilingual").mkdir(parents=True)
    for slot in (artifacts, artifacts / "multilingual"):
        (slot / "encoder").symlink_to((artifacts_dir / "encoder").resolve())
    head = artifacts / "intents" / "shop_assistant"
    head.mkdir(parents=True)
    (head / "manifest.json").write_text(json.dumps({"training_version": "5", "figures": {
        "char_examples": 700, "zh_encoder_examples": 3, "cv_accuracy": 0.93, "zh_cv_accuracy": 0.91,
        "zh_cv_accuracy_at_threshold": 0.88, "zh_encoder_cv_accuracy": 0.5, "held_out_oos_recall": 0.95}}))
    return artifacts


def test_both_encoders_side_by_side(small_datasets: Path, artifacts_dir: Path, tmp_path: Path) -> None:
    artifacts = _two_encoders(tmp_path, artifacts_dir)
    out = tmp_path / "out"
    args = ["nlu", "evaluate", "--dataset", "bitext", "--datasets-dir", str(small_datasets), "--artifacts-dir",
            str(artifacts), "--out-dir", str(out / "plots"), "--json-out", str(out / "nlu.json"),
            "--report", str(out / "nlu.md")]  # no --model: both are built, so both run
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    payload = json.loads((out / "nlu.json").read_text())
    assert set(payload["models"]) == {"english", "multilingual"}
    runs = {m: run["results"][0]["accuracy"] for m, run in payload["models"].items()}
    assert runs["english"] == pytest.approx(runs["multilingual"])  # the same encoder in both slots
    [bench] = [r for r in payload["comparison"] if r["group"] == "benchmark"]
    assert bench["name"] == "bitext" and bench["targets"] == {"multilingual": True}
    # The bot's Chinese figure comes from the head that reads Chinese (here the character head).
    zh = {r["figure"]: r for r in payload["comparison"] if r["group"] == "bot"}["Chinese intent accuracy (CV)"]
    assert zh["values"] == {"english": pytest.approx(91.0), "multilingual": None}
    assert zh["targets"] == {"english": False, "multilingual": False}  # 91 < 92; no head is no figure
    report = (out / "nlu.md").read_text()
    acc = f"{runs['english']:.2f}"
    assert f"| bitext | accuracy | {acc} | {acc} | +0.00 | multilingual: met |" in report
    assert "# english encoder" in report and "# multilingual encoder" in report
    assert (out / "plots" / "multilingual" / "bitext_loss.png").stat().st_size > 0


def test_both_needs_both_encoders_built(artifacts_dir: Path, tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    (artifacts / "encoder").symlink_to((artifacts_dir / "encoder").resolve())
    result = CliRunner().invoke(app, ["nlu", "evaluate", "--model", "both", "--artifacts-dir", str(artifacts)])
    assert result.exit_code == 1 and "missing: multilingual" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(app, ["nlu", "evaluate", "--model", "klingon", "--artifacts-dir", str(artifacts)])
    assert result.exit_code == 2 and "--model must be one of" in result.output
