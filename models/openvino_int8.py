"""OpenVINO as an optional CPU backend for the encoder, and its static int8 graph.

Install with ``pip install -e '.[openvino]'``; onnxruntime stays the default
backend and the only GPU path. ``SHOPKEEP_ENCODER_BACKEND=openvino`` makes
:meth:`models.encoder.OnnxEncoder.from_artifacts` run the encoder with
OpenVINO on the CPU: the static int8 graph built here when it passed its
gate, else the same fp32 ONNX graph ONNX Runtime serves (OpenVINO reads it,
fused ``com.microsoft`` ops included). When OpenVINO is not installed, or the
encoder runs on a GPU, it falls back to ONNX Runtime and says so in the log.

The int8 graph (``python -m models.openvino_int8 build``): NNCF post-training
static quantisation of the fp32 ONNX graph (per-channel int8 weights, int8
activations with per-tensor scales calibrated on in-domain text: the bots'
English ``intents.yaml`` examples and a sample of Bitext *train*; SmoothQuant
and fast bias correction, NNCF's defaults for transformers). Quantising every
MatMul fails the cosine gate on 1–3-token texts, like ONNX Runtime's dynamic
int8; the FFN down-projections (the MatMul after GELU) of the first layers are
what it needs in fp32. Schemes run from plainest to most conservative through
the same gate as :mod:`models.quantize` (min cosine >= 0.99 on the parity set,
Bitext intent accuracy within 0.5 pt) and the first that passes is kept, with
every attempt recorded in ``openvino.json`` beside the graph.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import random
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ModelNotBuilt
from models.manifest import (
    TOKENIZER_NAME,
    EncoderManifest,
    GraphInfo,
    Int8Gate,
    QuantAttempt,
    _Frozen,
    sha256_file,
)

logger = logging.getLogger(__name__)

BACKENDS = ("onnxruntime", "openvino", "openvino-bf16")
#: The variant label of the fp32 graph run by OpenVINO in bf16 (``openvino-bf16``).
OV_BF16_VARIANT = "bf16"
BACKEND_ENV = "SHOPKEEP_ENCODER_BACKEND"
OV_INT8_XML = "model.ov-int8.xml"
OV_INT8_BIN = "model.ov-int8.bin"
OV_RECORD_NAME = "openvino.json"
#: The variant label of the OpenVINO int8 graph (logs, metrics, cache fingerprints).
OV_INT8_VARIANT = "ov-int8"
#: Bitext train sentences added to the intents.yaml examples for calibration.
CALIBRATION_BITEXT = 600
CALIBRATION_SEED = 20261201
_DOWN_PROJECTION = re.compile(r"layer\.(\d+)/output/dense/MatMul$")


def openvino_available() -> bool:
    """Whether the ``openvino`` package can be imported (the ``openvino`` extra)."""
    return importlib.util.find_spec("openvino") is not None


def requested_backend(backend: str | None = None) -> str:
    """``backend``, else ``$SHOPKEEP_ENCODER_BACKEND``, else ``"onnxruntime"``; lower-cased.

    Raises:
        ValueError: not one of :data:`BACKENDS` (the message names the choices).
    """
    value = (backend if backend is not None else os.environ.get(BACKEND_ENV, "")).strip().lower() or "onnxruntime"
    if value not in BACKENDS:
        raise ValueError(f"{BACKEND_ENV} must be one of {', '.join(BACKENDS)}, not {value!r}")
    return value


class OpenVinoSession:
    """An ONNX graph or OpenVINO IR compiled for the CPU, fed like an ORT session.

    ``precision`` is pinned (f32 unless asked otherwise): on CPUs with AMX or
    AVX-512 BF16 OpenVINO would otherwise pick bf16 by itself. ``"bf16"`` is
    for the fp32 graph only (``openvino-bf16``); with the int8 graph the bf16
    float parts broke the gate (min cosine 0.75). A CPU without bf16 support
    runs f32 whatever the hint.
    """

    def __init__(self, model_path: Path, *, threads: int = 0, precision: str = "f32") -> None:
        import openvino as ov

        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1,
                                  "INFERENCE_PRECISION_HINT": precision}
        if threads > 0:
            config["INFERENCE_NUM_THREADS"] = threads
        self._compiled = ov.Core().compile_model(str(model_path), "CPU", config)
        self._request = self._compiled.create_infer_request()
        self._output = self._compiled.outputs[0]

    def run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        """The graph's output for ``feed`` (``input_ids``/``attention_mask``); one caller at a time."""
        result = self._request.infer(feed)
        return np.asarray(result[self._output], dtype=np.float32)


class OpenVinoRecord(_Frozen):
    """``openvino.json``: the OpenVINO int8 graph, what it was built from, and its gate."""

    fp32_sha256: str
    graph: GraphInfo | None
    weights: GraphInfo | None
    gate: Int8Gate
    calibration: str
    built_at: str
    build_seconds: float
    versions: dict[str, str]


def read_record(encoder_dir: Path) -> OpenVinoRecord | None:
    """The OpenVINO record beside the manifest; None when absent or unreadable."""
    try:
        return OpenVinoRecord.model_validate_json((encoder_dir / OV_RECORD_NAME).read_bytes())
    except (OSError, ValueError):
        return None


def int8_graph(encoder_dir: Path, manifest: EncoderManifest) -> Path | None:
    """The OpenVINO int8 IR to serve: built from this fp32 graph, gate passed, files present; else None."""
    record = read_record(encoder_dir)
    fp32 = manifest.graphs.get("fp32")
    if record is None or record.graph is None or record.gate.selected_scheme is None or fp32 is None:
        return None
    if record.fp32_sha256 != fp32.sha256:
        logger.warning("encoder: %s is stale (built from another fp32 graph); ignoring it", OV_RECORD_NAME)
        return None
    xml = encoder_dir / record.graph.file
    return xml if xml.is_file() and (encoder_dir / OV_INT8_BIN).is_file() else None


# --- building the int8 graph (needs nncf) ---------------------------------------------------------------
@dataclass(frozen=True)
class OvScheme:
    """One NNCF recipe: static int8 everywhere but the FFN down-projections of ``fp32_layers`` (None: all)."""

    name: str
    description: str
    fp32_layers: tuple[int, ...] | None


def schemes() -> tuple[OvScheme, ...]:
    # all-MiniLM-L6-v2, 512 parity sentences, min / mean cosine vs fp32 (2026-12-01):
    #   every MatMul int8                      0.978 / 0.996  (SmoothQuant off: 0.971)
    #   FFN down fp32 in layers 4-5 or layer 5 0.979 / 0.997
    #   FFN down fp32 in layers 0-1            0.994 / 0.998
    #   FFN down fp32 in every layer           0.996 / 0.999
    return (
        OvScheme("ov_static_int8", "NNCF static int8, every MatMul", ()),
        OvScheme("ov_static_int8_ffn_down_l01_fp32",
                 "NNCF static int8, FFN down-projections of layers 0-1 in fp32", (0, 1)),
        OvScheme("ov_static_int8_ffn_down_fp32", "NNCF static int8, every FFN down-projection in fp32", None),
    )


def down_projection_names(model: Any, layers: tuple[int, ...] | None) -> list[str]:
    """Names of the FFN down-projection MatMuls of ``layers`` (None: every layer) in an ``ov.Model``."""
    names = []
    for op in model.get_ordered_ops():
        match = _DOWN_PROJECTION.search(op.get_friendly_name())
        if op.get_type_name() == "MatMul" and match and (layers is None or int(match.group(1)) in layers):
            names.append(op.get_friendly_name())
    return names


def calibration_texts(bots_dir: Path, datasets_dir: Path, *, n_bitext: int = CALIBRATION_BITEXT) -> list[str]:
    """English ``intents.yaml`` examples of every bot, then a seeded sample of Bitext *train* (never test).

    Raises:
        DatasetError: Bitext's train split is missing.
    """
    import yaml

    from models.quantize import gate_files, load_intent_split

    texts: list[str] = []
    for path in sorted(bots_dir.glob("*/intents.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for spec in (data.get("intents") or {}).values():
            texts += [ex for ex in (spec or {}).get("examples", []) if isinstance(ex, str) and ex.isascii()]
    bitext, _ = load_intent_split(gate_files(datasets_dir)[0])
    random.Random(CALIBRATION_SEED).shuffle(bitext)
    return list(dict.fromkeys(texts + bitext[:n_bitext]))


def quantize(fp32_path: Path, out_xml: Path, *, tokenizer_path: Path, texts: Sequence[str], scheme: OvScheme,
             max_seq_len: int = 128) -> None:
    """Write ``scheme``'s static int8 IR of ``fp32_path`` to ``out_xml`` (and its ``.bin``)."""
    import nncf
    import openvino as ov

    from models.encoder import open_tokenizer, pad_batch

    tokenizer = open_tokenizer(tokenizer_path, max_seq_len)
    items = []
    for encoding in tokenizer.encode_batch(list(texts)):
        input_ids, mask = pad_batch([encoding.ids])
        items.append({"input_ids": input_ids, "attention_mask": mask})
    model = ov.Core().read_model(str(fp32_path))
    ignored = down_projection_names(model, scheme.fp32_layers) if scheme.fp32_layers != () else []
    quantized = nncf.quantize(model, nncf.Dataset(items), model_type=nncf.ModelType.TRANSFORMER,
                              subset_size=len(items), ignored_scope=nncf.IgnoredScope(names=ignored))
    ov.save_model(quantized, str(out_xml))


def run_gate(*, fp32_path: Path, tokenizer_path: Path, out_xml: Path, sentences: Sequence[str],
             fp32_embeddings: np.ndarray, datasets_dir: Path, calibration: Sequence[str], max_seq_len: int = 128,
             step: Callable[[str], None] | None = None) -> Int8Gate:
    """Try each OpenVINO scheme through the int8 gate; leave the first passing IR at ``out_xml``.

    Raises:
        DatasetError: the gate's Bitext splits are missing.
    """
    from models.encoder import OnnxEncoder
    from models.parity import cosine_rows
    from models.quantize import (
        ACCURACY_DATASET,
        MAX_ACCURACY_DROP_PT,
        MIN_COSINE,
        gate_files,
        head_accuracy,
        load_intent_split,
    )

    step = step or (lambda _: None)
    (train_texts, train_y), (test_texts, test_y) = (load_intent_split(path) for path in gate_files(datasets_dir))

    def encoder_for(path: Path, backend: str) -> OnnxEncoder:
        return OnnxEncoder(model_path=path, tokenizer_path=tokenizer_path, max_seq_len=max_seq_len,
                           variant=path.stem, device="cpu", backend=backend)

    fp32_accuracy: float | None = None
    attempts: list[QuantAttempt] = []
    for scheme in schemes():
        step(f"openvino int8 gate: {scheme.name}")
        quantize(fp32_path, out_xml, tokenizer_path=tokenizer_path, texts=calibration, scheme=scheme,
                 max_seq_len=max_seq_len)
        int8 = encoder_for(out_xml, "openvino")
        cosines = cosine_rows(int8.embed_sync(list(sentences)), fp32_embeddings)
        min_cos, mean_cos = float(cosines.min()), float(cosines.mean())
        if min_cos < MIN_COSINE:
            attempts.append(QuantAttempt(scheme=scheme.name, description=scheme.description, min_cosine=min_cos,
                                         mean_cosine=mean_cos, passed=False,
                                         reason=f"min cosine {min_cos:.4f} < {MIN_COSINE}"))
            continue
        if fp32_accuracy is None:
            step("openvino int8 gate: fp32 intent accuracy")
            fp32 = encoder_for(fp32_path, "onnxruntime")
            fp32_accuracy = head_accuracy(fp32.embed_sync(train_texts), train_y, fp32.embed_sync(test_texts), test_y)
        step(f"openvino int8 gate: {scheme.name} intent accuracy")
        accuracy = head_accuracy(int8.embed_sync(train_texts), train_y, int8.embed_sync(test_texts), test_y)
        drop_pt = (fp32_accuracy - accuracy) * 100
        passed = drop_pt <= MAX_ACCURACY_DROP_PT
        attempts.append(QuantAttempt(scheme=scheme.name, description=scheme.description, min_cosine=min_cos,
                                     mean_cosine=mean_cos, accuracy=accuracy, passed=passed,
                                     reason=f"accuracy {accuracy:.4f} vs fp32 {fp32_accuracy:.4f} "
                                            f"(drop {drop_pt:+.2f} pt)"))
        if passed:
            return Int8Gate(min_cosine_required=MIN_COSINE, max_accuracy_drop_pt=MAX_ACCURACY_DROP_PT,
                            accuracy_fp32=fp32_accuracy, accuracy_dataset=ACCURACY_DATASET,
                            attempts=tuple(attempts), selected_scheme=scheme.name)
    out_xml.unlink(missing_ok=True)
    out_xml.with_suffix(".bin").unlink(missing_ok=True)
    return Int8Gate(min_cosine_required=MIN_COSINE, max_accuracy_drop_pt=MAX_ACCURACY_DROP_PT,
                    accuracy_fp32=fp32_accuracy, accuracy_dataset=ACCURACY_DATASET, attempts=tuple(attempts),
                    selected_scheme=None)


def build(encoder_dir: Path, *, datasets_dir: Path, bots_dir: Path,
          step: Callable[[str], None] | None = None) -> OpenVinoRecord:
    """Build, gate and write the OpenVINO int8 graph and ``openvino.json`` beside a built encoder.

    Raises:
        ModelNotBuilt: the encoder (manifest, fp32 graph, tokenizer) is not built.
        DatasetError: the parity or gate datasets are missing.
    """
    import nncf
    import openvino as ov
    from tokenizers import Tokenizer

    from models.encoder import OnnxEncoder
    from models.export import PARITY_SENTENCES
    from models.manifest import read_manifest
    from models.parity import parity_sentences

    started = time.perf_counter()
    manifest = read_manifest(encoder_dir)
    fp32_path = manifest.graph_path(encoder_dir, "fp32")
    tokenizer_path = encoder_dir / TOKENIZER_NAME
    if not tokenizer_path.is_file():
        raise ModelNotBuilt(str(tokenizer_path))
    sentences = parity_sentences(Tokenizer.from_file(str(tokenizer_path)), datasets_dir, n=PARITY_SENTENCES)
    fp32 = OnnxEncoder(model_path=fp32_path, tokenizer_path=tokenizer_path, max_seq_len=manifest.max_seq_len,
                       device="cpu")
    calibration = calibration_texts(bots_dir, datasets_dir)
    with tempfile.TemporaryDirectory(prefix="openvino-build-", dir=encoder_dir.parent) as tmp_name:
        tmp_xml = Path(tmp_name) / OV_INT8_XML
        gate = run_gate(fp32_path=fp32_path, tokenizer_path=tokenizer_path, out_xml=tmp_xml, sentences=sentences,
                        fp32_embeddings=fp32.embed_sync(sentences), datasets_dir=datasets_dir,
                        calibration=calibration, max_seq_len=manifest.max_seq_len, step=step)
        for stale in (OV_INT8_XML, OV_INT8_BIN, OV_RECORD_NAME):
            (encoder_dir / stale).unlink(missing_ok=True)
        graph = weights = None
        if gate.selected_scheme is not None:
            for name in (OV_INT8_XML, OV_INT8_BIN):
                shutil.move(str(Path(tmp_name) / name), encoder_dir / name)
            graph, weights = (GraphInfo(file=name, sha256=sha256_file(encoder_dir / name),
                                        size_bytes=(encoder_dir / name).stat().st_size)
                              for name in (OV_INT8_XML, OV_INT8_BIN))
    record = OpenVinoRecord(
        fp32_sha256=manifest.graphs["fp32"].sha256, graph=graph, weights=weights, gate=gate,
        calibration=f"{len(calibration)} texts: bots' English intents.yaml examples + "
                    f"{CALIBRATION_BITEXT} Bitext train sentences (seed {CALIBRATION_SEED})",
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
        build_seconds=round(time.perf_counter() - started, 1),
        versions={"openvino": ov.__version__, "nncf": nncf.__version__},
    )
    path = encoder_dir / OV_RECORD_NAME
    path.write_text(json.dumps(record.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    return record


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m models.openvino_int8 build [--artifacts DIR] [--datasets DIR] [--bots DIR]``."""
    import argparse

    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(prog="python -m models.openvino_int8",
                                     description="Build the OpenVINO static int8 encoder graph and gate it.")
    parser.add_argument("command", choices=["build"])
    parser.add_argument("--artifacts", type=Path, default=root / "artifacts")
    parser.add_argument("--datasets", type=Path, default=root / "datasets")
    parser.add_argument("--bots", type=Path, default=root / "bots")
    args = parser.parse_args(argv)
    if not openvino_available() or importlib.util.find_spec("nncf") is None:
        print("OpenVINO and NNCF are not installed: pip install -e '.[openvino]'")
        return 2
    logging.basicConfig(level=logging.WARNING)
    encoder_dir = args.artifacts / "encoder" if (args.artifacts / "encoder").is_dir() else args.artifacts
    try:
        record = build(encoder_dir, datasets_dir=args.datasets, bots_dir=args.bots,
                       step=lambda text: print(f"· {text}", flush=True))
    except (ModelNotBuilt, ValueError) as e:  # DatasetError is a ValueError
        print(f"could not build the OpenVINO int8 graph: {e}")
        return 1
    for attempt in record.gate.attempts:
        print(f"{attempt.scheme}: min cosine {attempt.min_cosine:.4f}, mean {attempt.mean_cosine:.4f} — "
              f"{'pass' if attempt.passed else 'fail'} ({attempt.reason})")
    print(f"selected: {record.gate.selected_scheme or 'none (OpenVINO serves the fp32 graph)'}")
    return 0 if record.gate.selected_scheme is not None else 1


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["BACKENDS", "BACKEND_ENV", "OpenVinoSession", "build", "int8_graph", "openvino_available",
           "requested_backend"]
