"""`shopkeep nlu train`: writes a bot head, skips when up to date, fails clearly."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bots.cli import app
from models.encoder import OnnxEncoder
from models.intent_runtime import OnnxIntentClassifier

FIXTURE = Path(__file__).parent / "fixtures" / "intents_small.yaml"


@pytest.fixture
def artifacts(tmp_path: Path, artifacts_dir: Path) -> Path:
    (tmp_path / "encoder").symlink_to((artifacts_dir / "encoder").resolve())
    return tmp_path


def _train(artifacts: Path, *extra: str) -> tuple[int, str]:
    args = ["nlu", "train", "--bot", "demo", "--artifacts-dir", str(artifacts), *extra]
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


def test_train_writes_head_then_is_up_to_date(artifacts: Path) -> None:
    code, out = _train(artifacts, "--intents", str(FIXTURE))
    assert code == 0, out
    # No off-topic intent of its own: the out-of-scope class is learnt from CLINC150's negatives.
    assert "explicit out-of-scope class" in out and "CLINC150 out-of-scope examples" in out
    head = artifacts / "intents" / "demo"
    assert {"head.onnx", "labels.json", "calibration.json", "manifest.json"} <= {p.name for p in head.iterdir()}
    assert json.loads((head / "labels.json").read_text()) == [
        "goodbye", "greet", "order_status", "out_of_scope", "return_item"]

    code, out = _train(artifacts, "--intents", str(FIXTURE))
    assert code == 0 and "up to date" in out

    encoder = OnnxEncoder.from_artifacts(artifacts / "encoder", device="cpu")
    try:
        clf = OnnxIntentClassifier.from_artifacts(head, encoder)
        preds = clf.predict_batch_sync(["where is my parcel?", "i'd like to send these jeans back", "hello there!"])
        assert [p.ranking[0][0] for p in preds] == ["order_status", "return_item", "greet"]
        assert asyncio.run(clf.predict("  ")).out_of_scope
    finally:
        encoder.close()


def test_changed_intents_retrain(artifacts: Path, tmp_path: Path) -> None:
    intents = tmp_path / "intents.yaml"
    intents.write_text(FIXTURE.read_text())
    assert _train(artifacts, "--intents", str(intents))[0] == 0
    intents.write_text(FIXTURE.read_text() + "\n# edited\n")
    code, out = _train(artifacts, "--intents", str(intents))
    assert code == 0 and "up to date" not in out and "trained" in out


def test_missing_intents_file(artifacts: Path, tmp_path: Path) -> None:
    code, out = _train(artifacts, "--bots-dir", str(tmp_path))
    assert code == 1 and "not found" in out
    code, out = _train(artifacts, "--bots-dir", str(tmp_path), "--if-present")
    assert code == 0 and "skipping" in out


def test_malformed_intents_file(artifacts: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("intents:\n  greet:\n    examples: [hi]\n  bye:\n    examples: [bye, ciao]\n")
    code, out = _train(artifacts, "--intents", str(bad))
    assert code == 1 and "greet" in out and "Traceback" not in out


def test_without_clinc150_training_stops_naming_the_file(artifacts: Path, tmp_path: Path) -> None:
    # No quiet head whose out-of-scope threshold comes from in-scope data alone.
    empty = tmp_path / "no-datasets"
    empty.mkdir()
    code, out = _train(artifacts, "--intents", str(FIXTURE), "--datasets-dir", str(empty))
    assert code == 1
    assert str(empty / "clinc150" / "data_full.json") in out.replace("\n", "") and "Traceback" not in out
    assert not (artifacts / "intents" / "demo").exists()
