"""fp32 ONNX vs PyTorch on the same weights: >= 500 sentences, 1..128 tokens, batch 1/7/64."""

from __future__ import annotations

from pathlib import Path

import pytest
from tokenizers import Tokenizer

from models.encoder import OnnxEncoder
from models.export import PARITY_MIN_COSINE, load_pooled_torch_model, torch_embed
from models.manifest import EncoderManifest
from models.parity import batched_cosines, parity_sentences

pytestmark = pytest.mark.train


def test_parity_sentences_cover_every_length(encoder_dir: Path, datasets_dir: Path) -> None:
    tokenizer = Tokenizer.from_file(str(encoder_dir / "tokenizer.json"))
    sentences = parity_sentences(tokenizer, datasets_dir)
    assert len(sentences) >= 500
    assert sentences == parity_sentences(tokenizer, datasets_dir)  # deterministic
    tokenizer.no_padding()
    tokenizer.no_truncation()
    lengths = {len(tokenizer.encode(s, add_special_tokens=False).ids) for s in sentences}
    assert set(range(1, 129)) <= lengths


def test_fp32_onnx_matches_pytorch(encoder_dir: Path, encoder_manifest: EncoderManifest,
                                   fp32_encoder: OnnxEncoder, datasets_dir: Path) -> None:
    tokenizer = Tokenizer.from_file(str(encoder_dir / "tokenizer.json"))
    sentences = parity_sentences(tokenizer, datasets_dir)
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=128)
    ids = [e.ids for e in tokenizer.encode_batch(sentences)]
    model = load_pooled_torch_model(Path(encoder_manifest.source_model_dir))
    reference = torch_embed(model, ids)
    cosines = batched_cosines(sentences, reference, fp32_encoder.embed_sync, batch_sizes=(1, 7, 64))
    assert len(cosines) == 3 * len(sentences)
    assert cosines.min() >= PARITY_MIN_COSINE, f"min cosine {cosines.min():.6f}"
