"""The explicit out-of-scope class every bot head gets, and its calibrated bias.

Unit tests on the offset arithmetic, then a small bot (4 intents, the real English
encoder, CLINC150's train-split negatives) trained end to end: off-topic queries it
never saw are rejected, and in-scope ones are accepted as the calibration promised.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.encoder import OnnxEncoder
from models.intent import (
    OUT_OF_SCOPE_LABEL,
    BotHead,
    BotHeadConfig,
    _oos_offset,
    _shift_oos,
    load_bot_intents,
    load_clinc_negatives,
    train_bot_head,
)
from models.intent_runtime import OnnxIntentClassifier

FIXTURE = Path(__file__).parent / "fixtures" / "intents_small.yaml"
LABELS = ("a", "b", OUT_OF_SCOPE_LABEL)


def _accepted_by_class(probs: np.ndarray, y: np.ndarray) -> float:
    rows = probs[y != OUT_OF_SCOPE_LABEL]
    return float(np.mean(rows[:, :2].max(axis=1) >= rows[:, 2]))


def test_offset_lowers_the_class_until_the_share_is_accepted() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200, 3))
    logits[:, 2] += 1.0  # a class that rejects far too many in-scope rows
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array(["a"] * 100 + ["b"] * 80 + [OUT_OF_SCOPE_LABEL] * 20)
    assert _accepted_by_class(probs, y) < 0.5
    offset = _oos_offset(probs, y, LABELS, 0.97)
    assert offset < 0
    shifted = _shift_oos(probs, LABELS, offset)
    np.testing.assert_allclose(shifted.sum(axis=1), 1.0, atol=1e-5)
    assert _accepted_by_class(shifted, y) >= 0.97
    # The least lowering that does it: a tenth less and the share is missed.
    assert _accepted_by_class(_shift_oos(probs, LABELS, 0.9 * offset), y) < 0.97


def test_offset_is_zero_when_the_class_already_accepts_enough() -> None:
    probs = np.array([[0.8, 0.1, 0.1], [0.1, 0.7, 0.2], [0.2, 0.2, 0.6]], dtype=np.float32)
    y = np.array(["a", "b", OUT_OF_SCOPE_LABEL])
    assert _oos_offset(probs, y, LABELS, 0.98) == 0.0
    np.testing.assert_array_equal(_shift_oos(probs, LABELS, 0.0), probs)


@pytest.fixture(scope="module")
def encoder(artifacts_dir: Path) -> OnnxEncoder:
    enc = OnnxEncoder.from_artifacts(artifacts_dir / "encoder", device="cpu")
    yield enc
    enc.close()


@pytest.fixture(scope="module")
def small_bot(encoder: OnnxEncoder, datasets_dir: Path) -> BotHead:
    clinc = datasets_dir / "clinc150" / "data_full.json"
    return train_bot_head(
        load_bot_intents(FIXTURE),
        encoder.embed_sync,
        negatives=load_clinc_negatives(clinc, split="train", per_intent=2),
        held_out_negatives=load_clinc_negatives(clinc, split="val", per_intent=1),
    )


def test_a_bot_without_off_topic_examples_still_gets_the_class(small_bot: BotHead) -> None:
    fig = small_bot.figures
    assert OUT_OF_SCOPE_LABEL in small_bot.weights.labels
    assert fig["oos_class_negatives"] > 0 and fig["oos_class_offset"] <= 0.0
    # The promise the calibration makes on cross-validated in-scope examples, and what it buys.
    assert fig["cv_in_scope_accepted"] >= BotHeadConfig().implicit_min_in_scope_accepted - 1e-9
    assert fig["cv_accuracy_at_threshold"] <= fig["cv_accuracy"]
    assert fig["held_out_oos_recall"] > 0.6, fig


def test_served_head_rejects_off_topic_and_keeps_in_scope(small_bot: BotHead, encoder: OnnxEncoder,
                                                        tmp_path: Path) -> None:
    from models.intent import save_bot_head

    save_bot_head(tmp_path, small_bot, manifest={"fingerprint": "test"})
    clf = OnnxIntentClassifier.from_artifacts(tmp_path, encoder)
    off_topic = ["can you help me with my tax return?", "what's the capital of peru",
                 "play some jazz in the kitchen", "how many calories are in an avocado"]
    preds = clf.predict_batch_sync(off_topic)
    assert sum(p.out_of_scope for p in preds) >= 3, [(p.ranking[0], p.confidence) for p in preds]
    in_scope = {"where's my parcel? it's order 5521": "order_status", "I'd like to send these boots back": "return_item"}
    for pred, want in zip(clf.predict_batch_sync(list(in_scope)), in_scope.values()):
        assert pred.label == want and not pred.out_of_scope
        assert OUT_OF_SCOPE_LABEL not in dict(pred.ranking)  # never offered as a clarification button


def test_threshold_only_remains_available(encoder: OnnxEncoder, datasets_dir: Path) -> None:
    clinc = datasets_dir / "clinc150" / "data_full.json"
    head = train_bot_head(load_bot_intents(FIXTURE), encoder.embed_sync, config=BotHeadConfig(oos_class=False),
                          negatives=load_clinc_negatives(clinc, split="train", per_intent=1))
    assert OUT_OF_SCOPE_LABEL not in head.weights.labels and "oos_class_negatives" not in head.figures
    assert head.calibration.oos_threshold > 0.0
