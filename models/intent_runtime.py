"""Serving-side intent classifier: encoder embedding -> ONNX head -> decision.

No torch here: the head is an ONNX graph run by onnxruntime on the CPU, and
the embedding comes from the shared :class:`core.protocols.TextEncoder`.
One encoder call per text serves both the intent and retrieval, since the
embedding travels inside the :class:`IntentPrediction`.

Text the encoder cannot read (mostly ``[UNK]`` tokens, e.g. Chinese for an
English-only encoder; see :mod:`models.multilingual`) is classified by the
bot's character n-gram head instead, when the bot has one; its embedding is
still computed, so retrieval keeps working the same way.
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
from models.multilingual import CHAR_HEAD_META, ROUTER_FILE, CharNgramHead, ScriptRouter
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
        router: ScriptRouter | None = None,
        char_head: CharNgramHead | None = None,
    ) -> None:
        if (router is None) != (char_head is None):
            raise HeadMismatch("a character head needs a router and vice versa")
        self._router = router
        self._char_head = char_head
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
        router, char_head = None, None
        if (head_dir / ROUTER_FILE).is_file() and (head_dir / CHAR_HEAD_META).is_file():
            try:
                router = ScriptRouter.from_json(json.loads((head_dir / ROUTER_FILE).read_text(encoding="utf-8")))
                char_head = CharNgramHead.load(head_dir)
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                raise HeadMismatch(f"{head_dir}: malformed character head or router: {e}") from e
        session = ort.InferenceSession(
            str(head_dir / "head.onnx"), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        return cls(
            session=session, labels=labels, thresholds=thresholds, encoder=encoder, router=router, char_head=char_head
        )

    def uses_char_head(self, text: str) -> bool:
        """True when ``text`` (normalised) goes to the character head rather than the encoder head."""
        return self._router is not None and self._router.use_char_head(text)

    async def predict(self, text: str) -> IntentPrediction:
        """Classify one text; empty or whitespace-only text is ``out_of_scope``."""
        norm = normalize_text(text)
        if not norm:
            return self._empty()
        embedding = np.asarray(await self._encoder.embed([norm]), dtype=np.float32)
        if self.uses_char_head(norm):
            return self._decide_chars([norm], embedding)[0]
        return self._decide(embedding)[0]

    def predict_batch_sync(self, texts: Sequence[str]) -> list[IntentPrediction]:
        """Classify many texts with one encoder call (blocking: CLIs and evaluation)."""
        norms = [normalize_text(t) for t in texts]
        present = [i for i, t in enumerate(norms) if t]
        results: list[IntentPrediction] = [self._empty() for _ in norms]
        if present:
            emb = np.asarray(self._encoder.embed_sync([norms[i] for i in present]), dtype=np.float32)
            chars = np.array([self.uses_char_head(norms[i]) for i in present], dtype=bool)
            decided: list[IntentPrediction | None] = [None] * len(present)
            if (~chars).any():
                for j, pred in zip(np.flatnonzero(~chars), self._decide(emb[~chars])):
                    decided[int(j)] = pred
            if chars.any():
                texts = [norms[present[j]] for j in np.flatnonzero(chars)]
                for j, pred in zip(np.flatnonzero(chars), self._decide_chars(texts, emb[chars])):
                    decided[int(j)] = pred
            for i, maybe in zip(present, decided):
                assert maybe is not None  # every present text went through one of the two heads
                results[i] = maybe
        return results

    def probs(self, embeddings: np.ndarray) -> np.ndarray:
        """Raw head probabilities for precomputed embeddings, shape (n, len(labels))."""
        return self._session.run(None, {self._input: np.ascontiguousarray(embeddings, dtype=np.float32)})[0]

    def _decide(self, embeddings: np.ndarray) -> list[IntentPrediction]:
        return _decide_rows(self.labels, self.probs(embeddings), embeddings, self.thresholds, self._top_k)

    def _decide_chars(self, texts: Sequence[str], embeddings: np.ndarray) -> list[IntentPrediction]:
        assert self._char_head is not None
        head = self._char_head
        thresholds = Thresholds(oos_threshold=head.oos_threshold, ambiguity_margin=head.ambiguity_margin)
        return _decide_rows(head.labels, head.probs(texts), embeddings, thresholds, self._top_k)

    def _empty(self) -> IntentPrediction:
        return IntentPrediction(
            label=OUT_OF_SCOPE,
            confidence=0.0,
            ranking=(),
            out_of_scope=True,
            ambiguous=False,
            embedding=np.zeros(self._encoder.dim, dtype=np.float32),
        )


def _decide_rows(
    labels: Sequence[str], probs: np.ndarray, embeddings: np.ndarray, thresholds: Thresholds, top_k: int
) -> list[IntentPrediction]:
    """Turn head probabilities into predictions.

    A head may have an explicit ``out_of_scope`` class: when it wins, the text
    is out of scope; it never appears in the ranking (which lists intents the
    bot can act on, e.g. as clarification buttons).
    """
    oos_col = labels.index(OUT_OF_SCOPE) if OUT_OF_SCOPE in labels else -1
    out = []
    for row, emb in zip(probs, embeddings):
        order = [j for j in np.argsort(-row) if j != oos_col][:top_k]
        ranking = tuple((labels[j], float(row[j])) for j in order)
        top = ranking[0][1]
        second = ranking[1][1] if len(ranking) > 1 else 0.0
        oos = top < thresholds.oos_threshold or (oos_col >= 0 and row[oos_col] > top)
        out.append(
            IntentPrediction(
                label=OUT_OF_SCOPE if oos else ranking[0][0],
                confidence=top,
                ranking=ranking,
                out_of_scope=oos,
                ambiguous=(not oos) and (top - second) < thresholds.ambiguity_margin,
                embedding=emb,
            )
        )
    return out
