"""End to end: a head trained on real Bitext examples, served by OnnxIntentClassifier.

Uses the built ONNX encoder (``make models``) and trains on a small subset so
the whole module runs in seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from core.errors import ModelNotBuilt
from core.protocols import IntentClassifier
from models.datasets import Split, load_bitext
from models.encoder import OnnxEncoder
from models.intent import TrainedHead, save_head, train_bot_head
from models.intent_runtime import OUT_OF_SCOPE, OnnxIntentClassifier

REPO_ROOT = Path(__file__).resolve().parents[2]
N_INTENTS, N_TRAIN, N_TEST = 10, 40, 20


def _take(split: Split, intents: set[str], per_intent: int) -> Split:
    picked: dict[str, list[str]] = defaultdict(list)
    for text, label in zip(split.texts, split.labels):
        if label in intents and len(picked[label]) < per_intent:
            picked[label].append(text)
    texts = [t for lab in sorted(picked) for t in picked[lab]]
    labels = [lab for lab in sorted(picked) for _ in picked[lab]]
    return Split(texts=tuple(texts), labels=tuple(labels))


@pytest.fixture(scope="module")
def encoder(artifacts_dir: Path) -> OnnxEncoder:
    enc = OnnxEncoder.from_artifacts(artifacts_dir / "encoder", device="cpu")
    yield enc
    enc.close()


@pytest.fixture(scope="module")
def bitext_subset(datasets_dir: Path) -> tuple[Split, Split]:
    ds = load_bitext(datasets_dir)
    intents = set(ds.intents[:: len(ds.intents) // N_INTENTS][:N_INTENTS])
    return _take(ds.train, intents, N_TRAIN), _take(ds.test, intents, N_TEST)


@pytest.fixture(scope="module")
def trained(bitext_subset: tuple[Split, Split], encoder: OnnxEncoder, tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainedHead, Path]:
    train, _ = bitext_subset
    head = train_bot_head(train, encoder.embed_sync)
    out = tmp_path_factory.mktemp("head")
    save_head(out, head, manifest={"fingerprint": "test"})
    return head, out


@pytest.fixture(scope="module")
def classifier(trained: tuple[TrainedHead, Path], encoder: OnnxEncoder) -> OnnxIntentClassifier:
    return OnnxIntentClassifier.from_artifacts(trained[1], encoder)


def test_artifacts_written(trained: tuple[TrainedHead, Path]) -> None:
    head, out = trained
    assert json.loads((out / "labels.json").read_text()) == list(head.weights.labels)
    cal = json.loads((out / "calibration.json").read_text())
    assert 0.0 < cal["oos_threshold"] < 1.0
    assert 0.0 <= cal["ambiguity_margin"] < 1.0
    assert json.loads((out / "manifest.json").read_text())["labels"] == N_INTENTS


def test_classifier_satisfies_protocol(classifier: OnnxIntentClassifier) -> None:
    assert isinstance(classifier, IntentClassifier)
    assert len(classifier.labels) == N_INTENTS


def test_held_out_accuracy(classifier: OnnxIntentClassifier, bitext_subset: tuple[Split, Split]) -> None:
    _, test = bitext_subset
    preds = classifier.predict_batch_sync(test.texts)
    raw = np.mean([p.ranking[0][0] == y for p, y in zip(preds, test.labels)])
    kept = np.mean([p.label == y for p, y in zip(preds, test.labels)])
    assert raw > 0.9, raw
    assert kept > 0.85, kept  # the out-of-scope threshold rejects few in-scope texts


def test_onnx_head_matches_numpy_reference(classifier: OnnxIntentClassifier, trained: tuple[TrainedHead, Path], encoder: OnnxEncoder) -> None:
    emb = encoder.embed_sync(["where is my refund", "i want to change my shipping address"])
    np.testing.assert_allclose(classifier.probs(emb), trained[0].weights.probs(emb), atol=1e-5)


def test_unrelated_text_is_out_of_scope(classifier: OnnxIntentClassifier) -> None:
    unrelated = [
        "what is the boiling point of tungsten",
        "play some jazz on the living room speaker",
        "how many moons does jupiter have",
        "translate good night into italian",
    ]
    preds = classifier.predict_batch_sync(unrelated)
    assert sum(p.out_of_scope for p in preds) >= 3, [(p.ranking[0], p.confidence) for p in preds]
    for p in preds:
        assert p.out_of_scope == (p.label == OUT_OF_SCOPE)


async def test_predict_reuses_one_embedding(classifier: OnnxIntentClassifier, encoder: OnnxEncoder) -> None:
    text = "I want to cancel the order I placed yesterday"
    pred = await classifier.predict(text)
    assert pred.embedding.shape == (encoder.dim,)
    np.testing.assert_allclose(pred.embedding, encoder.embed_sync([text.lower()])[0], atol=1e-5)
    (batch,) = classifier.predict_batch_sync([text])
    assert batch.label == pred.label
    assert pred.ranking[0][1] == pytest.approx(pred.confidence)
    assert list(pred.ranking) == sorted(pred.ranking, key=lambda kv: -kv[1])


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\u200b"])
async def test_empty_text_is_out_of_scope(classifier: OnnxIntentClassifier, text: str) -> None:
    pred = await classifier.predict(text)
    assert pred.out_of_scope and pred.label == OUT_OF_SCOPE and pred.ranking == ()
    assert classifier.predict_batch_sync([text, "cancel my order"])[0].out_of_scope


def test_missing_artifacts_raise_model_not_built(tmp_path: Path, encoder: OnnxEncoder) -> None:
    with pytest.raises(ModelNotBuilt):
        OnnxIntentClassifier.from_artifacts(tmp_path, encoder)


def test_serving_module_imports_no_torch() -> None:
    code = "import sys, models.intent_runtime; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
