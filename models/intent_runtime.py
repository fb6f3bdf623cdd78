"""Serving-side intent classifier: encoder embedding -> ONNX head -> decision.

No torch here: the head is an ONNX graph run by onnxruntime on the CPU, and
the embedding comes from the shared :class:`core.protocols.TextEncoder`.
One encoder call per text serves both the intent and retrieval, since the
embedding travels inside the :class:`IntentPrediction`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from core.errors import ModelNotBuilt, ShopkeepError
from core.protocols import IntentPrediction, TextEncoder
from models.text import normalize_text

logger = logging.getLogger(__name__)

OUT_OF_SCOPE = "out_of_scope"
HEAD_FILES = ("head.onnx", "labels.json", "calibration.json")


class HeadMismatch(ShopkeepError):
    """The head's artifacts disagree with each other or with the encoder."""


@dataclass(frozen=True)
class Thresholds:
    """Calibrated on validation data at training time (``calibration.json``)."""

    oos_threshold: float
    ambiguity_margin: float


class OnnxIntentClassifier:
    """Implements :class:`core.protocols.IntentClassifier` with an ONNX head.

    Built once at start-up with :meth:`from_artifacts`; the dialogue manager
    calls :meth:`predict` per message. The head is a single small matrix
    product (microseconds), so it runs inline; the expensive part, the
    encoder, runs off the event loop inside ``encoder.embed``.
    """

    def __init__(
        self,
        *,
        session: ort.InferenceSession,
        labels: Sequence[str],
        thresholds: Thresholds,
        encoder: TextEncoder,
        top_k: int = 5,
    ) -> None:
        self._session = session
        self.labels: tuple[str, ...] = tuple(labels)
        self.thresholds = thresholds
        self._encoder = encoder
        self._top_k = top_k
        self._input = session.get_inputs()[0].name
        dim = session.get_inputs()[0].shape[1]
        if isinstance(dim, int) and dim != encoder.dim:
            raise HeadMismatch(f"head expects {dim}-d embeddings, encoder gives {encoder.dim}")
        n_out = session.get_outputs()[0].shape[1]
        if isinstance(n_out, int) and n_out != len(self.labels):
            raise HeadMismatch(f"head has {n_out} outputs but labels.json lists {len(self.labels)}")

    @classmethod
    def from_artifacts(cls, head_dir: Path, encoder: TextEncoder, *, intra_op_threads: int = 1) -> OnnxIntentClassifier:
        """Load ``head.onnx``, ``labels.json`` and ``calibration.json`` from ``head_dir``.

        Raises:
            ModelNotBuilt: a file is missing (run ``shopkeep nlu train``).
            HeadMismatch: the files are malformed or inconsistent.
        """
        for name in HEAD_FILES:
            if not (head_dir / name).is_file():
                raise ModelNotBuilt(str(head_dir / name))
        try:
            labels = json.loads((head_dir / "labels.json").read_text(encoding="utf-8"))
            cal = json.loads((head_dir / "calibration.json").read_text(encoding="utf-8"))
            thresholds = Thresholds(
                oos_threshold=float(cal["oos_threshold"]), ambiguity_margin=float(cal["ambiguity_margin"])
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise HeadMismatch(f"{head_dir}: malformed labels.json or calibration.json: {e}") from e
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise HeadMismatch(f"{head_dir}/labels.json must be a list of strings")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = intra_op_threads
        opts.inter_op_num_threads = 1
        session = ort.InferenceSession(
            str(head_dir / "head.onnx"), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        return cls(session=session, labels=labels, thresholds=thresholds, encoder=encoder)

    async def predict(self, text: str) -> IntentPrediction:
        """Classify one text; empty or whitespace-only text is ``out_of_scope``."""
        norm = normalize_text(text)
        if not norm:
            return self._empty()
        embedding = await self._encoder.embed([norm])
        return self._decide(np.asarray(embedding, dtype=np.float32))[0]

    def predict_batch_sync(self, texts: Sequence[str]) -> list[IntentPrediction]:
        """Classify many texts with one encoder call (blocking: CLIs and evaluation)."""
        norms = [normalize_text(t) for t in texts]
        present = [i for i, t in enumerate(norms) if t]
        results: list[IntentPrediction] = [self._empty() for _ in norms]
        if present:
            emb = np.asarray(self._encoder.embed_sync([norms[i] for i in present]), dtype=np.float32)
            for i, pred in zip(present, self._decide(emb)):
                results[i] = pred
        return results

    def probs(self, embeddings: np.ndarray) -> np.ndarray:
        """Raw head probabilities for precomputed embeddings, shape (n, len(labels))."""
        return self._session.run(None, {self._input: np.ascontiguousarray(embeddings, dtype=np.float32)})[0]

    def _decide(self, embeddings: np.ndarray) -> list[IntentPrediction]:
        probs = self.probs(embeddings)
        out = []
        k = min(self._top_k, len(self.labels))
        for row, emb in zip(probs, embeddings):
            order = np.argsort(-row)[:k]
            ranking = tuple((self.labels[j], float(row[j])) for j in order)
            top = ranking[0][1]
            second = ranking[1][1] if len(ranking) > 1 else 0.0
            oos = top < self.thresholds.oos_threshold
            out.append(
                IntentPrediction(
                    label=OUT_OF_SCOPE if oos else ranking[0][0],
                    confidence=top,
                    ranking=ranking,
                    out_of_scope=oos,
                    ambiguous=(not oos) and (top - second) < self.thresholds.ambiguity_margin,
                    embedding=emb,
                )
            )
        return out

    def _empty(self) -> IntentPrediction:
        return IntentPrediction(
            label=OUT_OF_SCOPE,
            confidence=0.0,
            ranking=(),
            out_of_scope=True,
            ambiguous=False,
            embedding=np.zeros(self._encoder.dim, dtype=np.float32),
        )
