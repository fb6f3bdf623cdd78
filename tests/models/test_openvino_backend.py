"""OpenVINO as an optional CPU backend: choosing it, falling back, and its static int8 graph.

Tests that run OpenVINO or NNCF skip (with the reason) when the ``openvino`` extra is not installed.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.errors import ModelNotBuilt
from models.encoder import OnnxEncoder, _openvino_choice
from models.manifest import EncoderManifest, GraphInfo, Int8Gate
from models.openvino_int8 import (
    BACKEND_ENV,
    OV_INT8_BIN,
    OV_INT8_VARIANT,
    OV_INT8_XML,
    OV_RECORD_NAME,
    OpenVinoRecord,
    int8_graph,
    openvino_available,
    requested_backend,
)
from models.parity import cosine_rows

needs_openvino = pytest.mark.skipif(not openvino_available(),
                                    reason="OpenVINO not installed (pip install -e '.[openvino]')")
needs_nncf = pytest.mark.skipif(not openvino_available() or importlib.util.find_spec("nncf") is None,
                                reason="OpenVINO/NNCF not installed (pip install -e '.[openvino]')")

TEXTS = ["hi", "where is my parcel", "I would like to return the blue jacket I ordered last week", "do"]


def test_backend_defaults_to_onnxruntime_and_reads_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    assert requested_backend() == "onnxruntime"
    monkeypatch.setenv(BACKEND_ENV, " OpenVINO ")
    assert requested_backend() == "openvino"
    assert requested_backend("onnxruntime") == "onnxruntime"  # an explicit choice wins over the variable


def test_an_unknown_backend_is_refused_with_the_choices(monkeypatch: pytest.MonkeyPatch, encoder_dir: Path) -> None:
    monkeypatch.setenv(BACKEND_ENV, "tensorflow")
    with pytest.raises(ValueError, match="onnxruntime, openvino"):
        OnnxEncoder.from_artifacts(encoder_dir, device="cpu")
    with pytest.raises(ValueError, match="unknown encoder backend"):
        OnnxEncoder(model_path=encoder_dir / "model.onnx", tokenizer_path=encoder_dir / "tokenizer.json",
                    backend="tensorflow")


def test_without_openvino_installed_onnxruntime_serves_the_selected_graph(
    encoder_dir: Path, encoder_manifest: EncoderManifest
) -> None:
    selected = encoder_manifest.selected_variant
    backend, variant, path = _openvino_choice(encoder_dir, encoder_manifest, selected, "cpu", installed=False)
    assert (backend, variant) == ("onnxruntime", selected)
    assert path == encoder_manifest.graph_path(encoder_dir, selected)


def test_on_a_gpu_onnxruntime_stays_the_backend(encoder_dir: Path, encoder_manifest: EncoderManifest) -> None:
    backend, variant, path = _openvino_choice(encoder_dir, encoder_manifest, "fp32", "cuda", installed=True)
    assert (backend, variant, path) == ("onnxruntime", "fp32", encoder_manifest.graph_path(encoder_dir, "fp32"))


def _record(fp32_sha256: str, *, selected: str | None) -> OpenVinoRecord:
    gate = Int8Gate(min_cosine_required=0.99, max_accuracy_drop_pt=0.5, accuracy_fp32=None, accuracy_dataset=None,
                    attempts=(), selected_scheme=selected)
    info = GraphInfo(file=OV_INT8_XML, sha256="0" * 64, size_bytes=1)
    return OpenVinoRecord(fp32_sha256=fp32_sha256, graph=info, weights=info, gate=gate, calibration="test",
                          built_at="2026-12-01T00:00:00+00:00", build_seconds=1.0, versions={})


def test_the_int8_graph_is_served_only_when_gated_and_built_from_this_fp32_graph(
    tmp_path: Path, encoder_manifest: EncoderManifest
) -> None:
    for name in (OV_INT8_XML, OV_INT8_BIN):
        (tmp_path / name).write_bytes(b"x")
    record_path = tmp_path / OV_RECORD_NAME
    assert int8_graph(tmp_path, encoder_manifest) is None  # no record
    fp32_sha = encoder_manifest.graphs["fp32"].sha256
    record_path.write_text(json.dumps(_record(fp32_sha, selected="s").model_dump(mode="json")), encoding="utf-8")
    assert int8_graph(tmp_path, encoder_manifest) == tmp_path / OV_INT8_XML
    record_path.write_text(json.dumps(_record("f" * 64, selected="s").model_dump(mode="json")), encoding="utf-8")
    assert int8_graph(tmp_path, encoder_manifest) is None  # stale: built from another fp32 graph
    record_path.write_text(json.dumps(_record(fp32_sha, selected=None).model_dump(mode="json")), encoding="utf-8")
    assert int8_graph(tmp_path, encoder_manifest) is None  # nothing passed the gate
    record_path.write_text("{not json", encoding="utf-8")
    assert int8_graph(tmp_path, encoder_manifest) is None


@needs_openvino
def test_openvino_runs_the_same_fp32_graph_as_onnxruntime(encoder_dir: Path, fp32_encoder: OnnxEncoder) -> None:
    encoder = OnnxEncoder.from_artifacts(encoder_dir, variant="fp32", device="cpu", backend="openvino")
    assert (encoder.backend, encoder.provider, encoder.variant, encoder.dim) == ("openvino", "OpenVINO:CPU", "fp32", 384)
    got = encoder.embed_sync(TEXTS)
    assert got.shape == (4, 384) and got.dtype == np.float32
    assert cosine_rows(got, fp32_encoder.embed_sync(TEXTS)).min() >= 0.9999


@needs_openvino
def test_asking_openvino_for_an_int8_graph_it_lacks_says_how_to_build_it(
    tmp_path: Path, encoder_dir: Path
) -> None:
    for name in ("manifest.json", "tokenizer.json", "model.onnx"):
        (tmp_path / name).symlink_to((encoder_dir / name).resolve())
    with pytest.raises(ModelNotBuilt, match="models.openvino_int8 build"):
        OnnxEncoder.from_artifacts(tmp_path, variant=OV_INT8_VARIANT, device="cpu", backend="openvino")
    # The served selection falls back to OpenVINO on the fp32 graph.
    encoder = OnnxEncoder.from_artifacts(tmp_path, variant="int8", device="cpu", backend="openvino")
    assert (encoder.backend, encoder.variant) == ("openvino", "fp32")


@needs_openvino
def test_the_openvino_backend_does_not_import_torch(encoder_dir: Path) -> None:
    code = ("import sys; from models.encoder import OnnxEncoder; "
            f"e = OnnxEncoder.from_artifacts({str(encoder_dir)!r}, variant='fp32', device='cpu', backend='openvino'); "
            "e.embed_sync(['hello']); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


@needs_nncf
def test_static_int8_keeps_the_chosen_down_projections_in_fp32(
    tmp_path: Path, encoder_dir: Path, fp32_encoder: OnnxEncoder
) -> None:
    import openvino as ov

    from models.openvino_int8 import down_projection_names, quantize, schemes

    scheme = next(s for s in schemes() if s.fp32_layers == (0, 1))
    out = tmp_path / OV_INT8_XML
    calibration = [*TEXTS, "can I pay with paypal", "track order 1001", "what sizes do you have", "bye"]
    quantize(encoder_dir / "model.onnx", out, tokenizer_path=encoder_dir / "tokenizer.json", texts=calibration,
             scheme=scheme)
    model = ov.Core().read_model(str(out))
    downs = {op.get_friendly_name(): op for op in model.get_ordered_ops()
             if op.get_friendly_name() in down_projection_names(model, None)}
    assert len(downs) == 6

    def quantized(name: str) -> bool:
        return bool(downs[name].input_value(0).get_node().get_type_name() == "FakeQuantize")

    assert [quantized(n) for n in sorted(downs)] == [False, False, True, True, True, True]
    encoder = OnnxEncoder(model_path=out, tokenizer_path=encoder_dir / "tokenizer.json", device="cpu",
                          backend="openvino", variant=OV_INT8_VARIANT)
    assert cosine_rows(encoder.embed_sync(TEXTS), fp32_encoder.embed_sync(TEXTS)).min() > 0.95


@needs_openvino
def test_the_runtime_serves_with_openvino_when_the_setting_says_so(artifacts_dir: Path) -> None:
    from bots.runtime import load_encoder
    from core.settings import Settings

    encoder = load_encoder(Settings(artifacts_dir=artifacts_dir, encoder_backend="openvino"))
    assert isinstance(encoder, OnnxEncoder)
    assert encoder.backend == "openvino" and encoder.provider == "OpenVINO:CPU"
    # The gated int8 graph when it was built for these artifacts, else the fp32 graph.
    expected = OV_INT8_VARIANT if encoder.manifest and int8_graph(artifacts_dir / "encoder", encoder.manifest) else "fp32"
    assert encoder.variant == expected
    assert encoder.embed_sync(["where is my order"]).shape == (1, 384)


@needs_openvino
def test_openvino_bf16_runs_the_fp32_graph_close_to_fp32(encoder_dir: Path, fp32_encoder: OnnxEncoder) -> None:
    encoder = OnnxEncoder.from_artifacts(encoder_dir, device="cpu", backend="openvino-bf16")
    assert (encoder.backend, encoder.variant) == ("openvino-bf16", "bf16")
    assert encoder.fingerprint != fp32_encoder.fingerprint  # bf16 vectors never mix with fp32 ones in a cache
    # bf16 where the CPU has it (min 0.99996 on the 512 parity sentences), f32 elsewhere.
    assert cosine_rows(encoder.embed_sync(TEXTS), fp32_encoder.embed_sync(TEXTS)).min() >= 0.999
