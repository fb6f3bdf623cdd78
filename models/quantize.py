"""int8 variant of the encoder, shipped only when it passes a two-part gate.

Gate: minimum cosine vs fp32 on the parity set >= 0.99, AND intent accuracy of
a plain logistic-regression head (fitted on Bitext train embeddings of each
variant) within 0.5 pt of fp32 on the Bitext test split. Naive dynamic
quantisation drifts (min cosine ~0.88 on short texts), so schemes are tried
from plainest to most conservative and the first to pass is shipped; every
attempt is recorded in the manifest. A large-vocabulary encoder's word-embedding
table is tried int8 too (:func:`gate_candidates`, :mod:`models.embedding_quant`),
so the gate scores the graph that would ship.
"""

from __future__ import annotations

import csv
import logging
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.datasets import DatasetError
from models.manifest import Int8Gate, QuantAttempt
from models.parity import cosine_rows

logger = logging.getLogger(__name__)

MIN_COSINE = 0.99
MAX_ACCURACY_DROP_PT = 0.5
ACCURACY_DATASET = "bitext_customer_service"


@dataclass(frozen=True)
class QuantScheme:
    """One int8 recipe.

    ``kind`` is ``"dynamic"`` (``quantize_dynamic``: int8 weights and
    per-tensor dynamically quantised activations, MatMulInteger kernels) or
    ``"blockwise"`` (``MatMulNBitsQuantizer`` with 8 bits: int8 weights in
    small blocks with their own scales; ``accuracy_level=4`` makes the kernel
    quantise activations per block to int8 as well, so the arithmetic is
    int8 but rounding error stays local to 32-value blocks).
    """

    name: str
    description: str
    kind: str
    options: dict[str, Any] = field(default_factory=dict)


def _schemes() -> tuple[QuantScheme, ...]:
    # Measured on all-MiniLM-L6-v2, 512 parity sentences (min / mean cosine vs fp32):
    #   dynamic defaults            0.882 / 0.956
    #   dynamic per-channel all-ops 0.975 / 0.993
    #   dynamic MatMul per-channel  0.980 / 0.994 (s8), 0.973 / 0.995 (u8)
    #   ... + first/last layer fp32 0.982 / 0.996
    #   blockwise 8-bit, block 32, int8 compute 0.9992 / 0.9998
    # Only the informative ones are re-run at build time to keep the build short.
    return (
        QuantScheme("dynamic_default", "quantize_dynamic defaults (per-tensor s8, all ops)", "dynamic"),
        QuantScheme("dynamic_matmul_per_channel", "quantize_dynamic, MatMul only, per-channel s8 weights",
                    "dynamic", {"op_types_to_quantize": ["MatMul"], "per_channel": True}),
        QuantScheme("blockwise8_b32_int8_compute",
                    "MatMulNBits 8-bit symmetric weights, block 32, accuracy_level 4 (int8 compute)",
                    "blockwise", {"block_size": 32, "accuracy_level": 4}),
    )


def scheme_named(name: str) -> QuantScheme:
    """The scheme called ``name``.

    Raises:
        KeyError: no scheme has that name.
    """
    for scheme in _schemes():
        if scheme.name == name:
            return scheme
    raise KeyError(f"no int8 scheme named {name!r}")


@contextmanager
def _quiet_quantizer() -> Iterator[None]:
    # The ORT quantisers log per-node chatter on the root logger and warn about
    # pre-processing; neither helps a person running the build.
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


#: Option (and scheme-name suffix) that also stores the word-embedding table as int8.
EMBED_INT8 = "word_embeddings_int8"


def gate_candidates(fp32_path: Path) -> list[QuantScheme]:
    """The schemes the gate tries, in order.

    A graph with a large word-embedding table (:mod:`models.embedding_quant`) first tries
    every scheme with that table int8 as well, then every scheme with it fp32.
    """
    from models.embedding_quant import has_large_table

    schemes = list(_schemes())
    if not has_large_table(fp32_path):
        return schemes
    with_table = [QuantScheme(f"{s.name}+{EMBED_INT8}", f"{s.description}; word-embedding table int8 in blocks",
                              s.kind, {**s.options, EMBED_INT8: True}) for s in schemes]
    return with_table + schemes


def quantize(fp32_path: Path, out_path: Path, scheme: QuantScheme) -> None:
    """Write ``scheme``'s int8 graph of ``fp32_path`` to ``out_path``."""
    import onnx

    options = dict(scheme.options)
    if options.pop(EMBED_INT8, False):
        from models.embedding_quant import quantize_word_embeddings

        quantize(fp32_path, out_path, QuantScheme(scheme.name, scheme.description, scheme.kind, options))
        quantize_word_embeddings(out_path)
        return
    with _quiet_quantizer():
        if scheme.kind == "dynamic":
            from onnxruntime.quantization import quantize_dynamic

            quantize_dynamic(
                fp32_path,
                out_path,
                # Fused contrib ops (Attention, SkipLayerNorm) defeat shape inference.
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
                **options,
            )
        elif scheme.kind == "blockwise":
            from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

            quantizer = MatMulNBitsQuantizer(onnx.load(str(fp32_path)), bits=8, is_symmetric=True, **options)
            quantizer.process()
            quantizer.model.save_model_to_file(str(out_path))
        else:
            raise ValueError(f"unknown quantisation kind {scheme.kind!r}")


def gate_files(datasets_dir: Path) -> tuple[Path, Path]:
    """The gate's Bitext ``train.csv`` (fit) and ``test.csv`` (score) under ``datasets_dir``."""
    return datasets_dir / ACCURACY_DATASET / "train.csv", datasets_dir / ACCURACY_DATASET / "test.csv"


def load_intent_split(path: Path) -> tuple[list[str], list[str]]:
    """Bitext ``(texts, intents)`` from one split's CSV.

    Raises:
        DatasetError: the file is missing or lacks the ``text``/``intent`` columns.
    """
    if not path.is_file():
        raise DatasetError(path, "file not found (the int8 gate scores intent accuracy on it)")
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        return [r["text"] for r in rows], [r["intent"] for r in rows]
    except (KeyError, ValueError) as e:
        raise DatasetError(path, f"not Bitext's layout (columns text, intent): {e}") from e


def head_accuracy(train_x: np.ndarray, train_y: Sequence[str], test_x: np.ndarray, test_y: Sequence[str]) -> float:
    """Test accuracy of a multinomial logistic-regression head on frozen embeddings."""
    from sklearn.linear_model import LogisticRegression

    head = LogisticRegression(C=10.0, max_iter=2000)
    head.fit(train_x, list(train_y))
    return float(np.mean(head.predict(test_x) == np.asarray(test_y)))


def run_int8_gate(
    *,
    fp32_path: Path,
    tokenizer_path: Path,
    out_path: Path,
    sentences: Sequence[str],
    fp32_embeddings: np.ndarray,
    datasets_dir: Path,
    max_seq_len: int = 128,
    step: Callable[[str], None] | None = None,
) -> Int8Gate:
    """Try each scheme; leave the first passing graph at ``out_path``.

    Returns the gate record; ``selected_scheme`` is None (and ``out_path``
    removed) when nothing passed.

    Raises:
        DatasetError: the accuracy data (:func:`gate_files`) is missing; the gate
            is never skipped for want of it.
    """
    from models.encoder import OnnxEncoder

    step = step or (lambda _: None)
    (train_texts, train_y), (test_texts, test_y) = (load_intent_split(path) for path in gate_files(datasets_dir))

    def encoder_for(path: Path) -> OnnxEncoder:
        return OnnxEncoder(model_path=path, tokenizer_path=tokenizer_path, max_seq_len=max_seq_len,
                           variant=path.stem, device="cpu")

    fp32_accuracy: float | None = None
    attempts: list[QuantAttempt] = []
    for scheme in gate_candidates(fp32_path):
        step(f"int8 gate: {scheme.name}")
        t0 = time.perf_counter()
        quantize(fp32_path, out_path, scheme)
        int8 = encoder_for(out_path)
        cosines = cosine_rows(int8.embed_sync(list(sentences)), fp32_embeddings)
        min_cos, mean_cos = float(cosines.min()), float(cosines.mean())
        if min_cos < MIN_COSINE:
            attempts.append(QuantAttempt(scheme=scheme.name, description=scheme.description,
                                         min_cosine=min_cos, mean_cosine=mean_cos, passed=False,
                                         reason=f"min cosine {min_cos:.4f} < {MIN_COSINE}"))
            logger.info("int8 %s: min cosine %.4f (fail) in %.1fs", scheme.name, min_cos, time.perf_counter() - t0)
            continue
        if fp32_accuracy is None:
            step("int8 gate: fp32 intent accuracy")
            fp32 = encoder_for(fp32_path)
            fp32_accuracy = head_accuracy(fp32.embed_sync(train_texts), train_y, fp32.embed_sync(test_texts), test_y)
        step(f"int8 gate: {scheme.name} intent accuracy")
        accuracy = head_accuracy(int8.embed_sync(train_texts), train_y, int8.embed_sync(test_texts), test_y)
        drop_pt = (fp32_accuracy - accuracy) * 100
        passed = drop_pt <= MAX_ACCURACY_DROP_PT
        attempts.append(QuantAttempt(
            scheme=scheme.name, description=scheme.description, min_cosine=min_cos, mean_cosine=mean_cos,
            accuracy=accuracy, passed=passed,
            reason=(f"accuracy {accuracy:.4f} vs fp32 {fp32_accuracy:.4f} (drop {drop_pt:+.2f} pt)"),
        ))
        if passed:
            return Int8Gate(min_cosine_required=MIN_COSINE, max_accuracy_drop_pt=MAX_ACCURACY_DROP_PT,
                            accuracy_fp32=fp32_accuracy, accuracy_dataset=ACCURACY_DATASET,
                            attempts=tuple(attempts), selected_scheme=scheme.name)
    out_path.unlink(missing_ok=True)
    return Int8Gate(min_cosine_required=MIN_COSINE, max_accuracy_drop_pt=MAX_ACCURACY_DROP_PT,
                    accuracy_fp32=fp32_accuracy, accuracy_dataset=ACCURACY_DATASET,
                    attempts=tuple(attempts), selected_scheme=None)
