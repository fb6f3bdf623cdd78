"""OnnxEncoder: the serving-path contract (shapes, norms, errors, no torch)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.errors import ModelNotBuilt
from core.protocols import TextEncoder
from models.encoder import OnnxEncoder
from models.manifest import EncoderManifest, read_manifest


def test_implements_the_text_encoder_protocol(fp32_encoder: OnnxEncoder) -> None:
    assert isinstance(fp32_encoder, TextEncoder)
    assert fp32_encoder.dim == 384
    assert fp32_encoder.provider == "CPUExecutionProvider"
    assert fp32_encoder.variant == "fp32"
    assert fp32_encoder.manifest is not None


def test_embeddings_are_normalised_float32_rows_in_input_order(fp32_encoder: OnnxEncoder) -> None:
    texts = ["where is my parcel", "hi", "I would like to return the blue jacket I ordered"]
    out = fp32_encoder.embed_sync(texts)
    assert out.shape == (3, 384) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    for i, text in enumerate(texts):
        np.testing.assert_allclose(out[i], fp32_encoder.embed_sync([text])[0], atol=1e-5)


def test_similar_texts_are_closer_than_unrelated_ones(fp32_encoder: OnnxEncoder) -> None:
    a, b, c = fp32_encoder.embed_sync(["where is my order", "track my package", "the weather is nice today"])
    assert float(a @ b) > float(a @ c) + 0.2


def test_padding_does_not_change_an_embedding(fp32_encoder: OnnxEncoder) -> None:
    short = "refund please"
    alone = fp32_encoder.embed_sync([short])[0]
    padded = fp32_encoder.embed_sync([short, "word " * 100])[0]
    assert float(alone @ padded) > 0.9999


def test_long_texts_are_truncated_at_max_seq_len(fp32_encoder: OnnxEncoder) -> None:
    base = "please help me with my order " * 30
    a, b = fp32_encoder.embed_sync([base, base + " and something completely different at the end"])
    assert float(a @ b) > 0.99999


def test_empty_and_odd_inputs(fp32_encoder: OnnxEncoder) -> None:
    assert fp32_encoder.embed_sync([]).shape == (0, 384)
    odd = fp32_encoder.embed_sync(["", "   ", "🙂🙂", "ünïcödé façade", "x" * 5000])
    assert odd.shape == (5, 384) and np.isfinite(odd).all()
    with pytest.raises(TypeError, match="single string"):
        fp32_encoder.embed_sync("where is my order")
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        fp32_encoder.embed_sync(["ok", None])  # type: ignore[list-item]


async def test_async_embed_matches_embed_sync(served_encoder: OnnxEncoder) -> None:
    texts = ["do you have this in size 42", "cancel my subscription"]
    got = await served_encoder.embed(texts)
    want = served_encoder.embed_sync(texts)
    np.testing.assert_allclose(np.sum(got * want, axis=1), 1.0, atol=1e-4)
    assert (await served_encoder.embed([])).shape == (0, served_encoder.dim)
    await served_encoder.aclose()
    # After aclose a new call starts a fresh batcher rather than hanging.
    again = await served_encoder.embed(texts[:1])
    assert again.shape == (1, served_encoder.dim)


def test_serves_the_selected_variant(encoder_dir: Path, encoder_manifest: EncoderManifest) -> None:
    encoder = OnnxEncoder.from_artifacts(encoder_dir.parent, device="cpu")  # the artifacts root works too
    assert encoder.variant == encoder_manifest.selected_variant
    assert encoder.dim == encoder_manifest.hidden_dim


def test_logs_one_line_naming_the_provider(encoder_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        OnnxEncoder.from_artifacts(encoder_dir, variant="fp32", intra_op_threads=1)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("models")]
    assert lines == ["encoder: CPUExecutionProvider (fp32, threads=1)"]


def test_missing_artifacts_raise_model_not_built(tmp_path: Path, encoder_dir: Path) -> None:
    with pytest.raises(ModelNotBuilt, match="shopkeep models build"):
        OnnxEncoder.from_artifacts(tmp_path)
    with pytest.raises(ModelNotBuilt):
        OnnxEncoder.from_artifacts(encoder_dir, variant="fp16")
    (tmp_path / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelNotBuilt, match="unreadable manifest"):
        OnnxEncoder.from_artifacts(tmp_path)


def test_corrupt_graph_raises_model_not_built(tmp_path: Path, encoder_dir: Path) -> None:
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"this is not a protobuf")
    with pytest.raises(ModelNotBuilt, match="could not be loaded"):
        OnnxEncoder(model_path=bad, tokenizer_path=encoder_dir / "tokenizer.json")


def test_serving_path_never_imports_torch(encoder_dir: Path) -> None:
    code = (
        "import sys, asyncio\n"
        "from models.encoder import OnnxEncoder\n"
        f"e = OnnxEncoder.from_artifacts({str(encoder_dir)!r})\n"
        "asyncio.run(e.embed(['hello']))\n"
        "e.close()\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "assert 'transformers' not in sys.modules, 'transformers was imported'\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    # Quiet on a CPU-only machine: no CUDA load errors on stderr.
    assert "CUDA" not in done.stderr and "error" not in done.stderr.lower()


def test_fingerprint_names_the_graph_and_variant(encoder_dir: Path, fp32_encoder: OnnxEncoder,
                                                 served_encoder: OnnxEncoder) -> None:
    """Cached product vectors are keyed by it: another variant or another model never shares a key."""
    from core.commerce.live import LiveShopCatalog
    from core.commerce.shopify.snapshot import MemoryCatalogSnapshot
    from core.protocols import encoder_fingerprint

    again = OnnxEncoder.from_artifacts(encoder_dir, variant="fp32", device="cpu")
    try:
        assert encoder_fingerprint(again) == encoder_fingerprint(fp32_encoder)
    finally:
        again.close()
    if served_encoder.variant != "fp32":
        assert encoder_fingerprint(served_encoder) != encoder_fingerprint(fp32_encoder)
    prefixed = OnnxEncoder(model_path=encoder_dir / "model.onnx", tokenizer_path=encoder_dir / "tokenizer.json",
                           variant="fp32", manifest=read_manifest(encoder_dir), device="cpu", passage_prefix="passage: ")
    try:
        assert encoder_fingerprint(prefixed) != encoder_fingerprint(fp32_encoder)
    finally:
        prefixed.close()
    live = LiveShopCatalog(snapshot=MemoryCatalogSnapshot(), encoder=fp32_encoder)
    assert live.model_tag == fp32_encoder.fingerprint and live._text_key("a").startswith(f"{live.model_tag}:")
