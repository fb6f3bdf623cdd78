"""Export pipeline: manifest contents, rebuild rules, model-agnostic export, CLI."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bots.cli import app
from models.encoder import OnnxEncoder
from models.export import (
    PARITY_MIN_COSINE,
    ExportError,
    build_encoder,
    default_model_dir,
    is_up_to_date,
)
from models.manifest import EncoderManifest, read_manifest, sha256_file, write_manifest
from models.parity import PARITY_SOURCES_TEXT
from models.quantize import MAX_ACCURACY_DROP_PT, MIN_COSINE


def test_manifest_records_a_consistent_build(encoder_dir: Path, encoder_manifest: EncoderManifest) -> None:
    m = encoder_manifest
    assert m.hidden_dim == 384 and m.max_seq_len == 128 and m.opset >= 14
    assert m.selected_variant in m.graphs
    for info in m.graphs.values():
        assert sha256_file(encoder_dir / info.file) == info.sha256
    assert m.parity.min_cosine >= PARITY_MIN_COSINE
    assert m.parity.n_sentences >= 500 and set(m.parity.batch_sizes) >= {1, 7, 64}
    assert {"torch", "onnx", "tokenizers"} <= set(m.versions)
    # The build ran the int8 gate on real data (never "skipped: not found") and drew its
    # parity sentences from the shipped datasets.
    assert m.int8_gate is not None and m.int8_gate.skipped_reason is None
    assert m.int8_gate.accuracy_dataset == "bitext_customer_service" and m.int8_gate.attempts
    assert m.parity.sentences_from == PARITY_SOURCES_TEXT
    if m.int8_gate.selected_scheme is not None:
        chosen = [a for a in m.int8_gate.attempts if a.scheme == m.int8_gate.selected_scheme]
        assert chosen and chosen[0].passed and chosen[0].min_cosine >= MIN_COSINE
        assert (m.int8_gate.accuracy_fp32 - chosen[0].accuracy) * 100 <= MAX_ACCURACY_DROP_PT
        assert m.selected_variant == "int8"
    else:
        assert m.selected_variant == "fp32"


def test_int8_variant_when_shipped_agrees_with_fp32(encoder_dir: Path, encoder_manifest: EncoderManifest,
                                                    fp32_encoder: OnnxEncoder) -> None:
    if "int8" not in encoder_manifest.graphs:
        pytest.skip("int8 did not pass its gate in this build; fp32 is served")
    int8 = OnnxEncoder.from_artifacts(encoder_dir, variant="int8", device="cpu")
    texts = ["where is my refund", "hi", "change the shipping address of order 778 to 5 Main St"]
    cos = np.sum(int8.embed_sync(texts) * fp32_encoder.embed_sync(texts), axis=1)
    assert cos.min() >= MIN_COSINE


@pytest.mark.train
def test_up_to_date_artifacts_are_not_rebuilt(artifacts_dir: Path, datasets_dir: Path,
                                              encoder_manifest: EncoderManifest) -> None:
    result = build_encoder(artifacts_dir=artifacts_dir, datasets_dir=datasets_dir,
                           int8=encoder_manifest.int8_gate is not None)
    assert result.rebuilt is False
    assert result.manifest == encoder_manifest


def _tiny_model(folder: Path, kind: str, seed: int = 0) -> Path:
    import torch
    from transformers import AutoModel, BertConfig, DistilBertConfig

    torch.manual_seed(seed)
    if kind == "bert":
        config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64, max_position_embeddings=160)
    else:
        config = DistilBertConfig(vocab_size=30522, dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                                  max_position_embeddings=160)
    AutoModel.from_config(config).save_pretrained(folder)
    shutil.copyfile(default_model_dir() / "tokenizer.json", folder / "tokenizer.json")
    return folder


@pytest.mark.train
@pytest.mark.parametrize("kind", ["bert", "distilbert"])
def test_any_hf_encoder_exports_with_parity_and_rebuilds_on_change(tmp_path: Path, kind: str,
                                                                    datasets_dir: Path) -> None:
    model_dir = _tiny_model(tmp_path / "model", kind)
    artifacts = tmp_path / "artifacts"
    steps: list[str] = []
    first = build_encoder(artifacts_dir=artifacts, model_dir=model_dir, datasets_dir=datasets_dir, int8=False,
                          step=steps.append)
    assert first.rebuilt and first.manifest.hidden_dim == 32 and first.manifest.model_type == kind
    assert first.manifest.parity.min_cosine >= PARITY_MIN_COSINE
    assert first.manifest.int8_gate is None and first.manifest.selected_variant == "fp32"
    assert "checking fp32 parity vs PyTorch" in steps
    encoder = OnnxEncoder.from_artifacts(artifacts)
    assert encoder.embed_sync(["hello there"]).shape == (1, 32)

    again = build_encoder(artifacts_dir=artifacts, model_dir=model_dir, datasets_dir=datasets_dir, int8=False)
    assert again.rebuilt is False

    _tiny_model(model_dir, kind, seed=1)  # new weights: the fingerprint changes
    changed = build_encoder(artifacts_dir=artifacts, model_dir=model_dir, datasets_dir=datasets_dir, int8=False)
    assert changed.rebuilt and changed.manifest.source_sha256 != first.manifest.source_sha256
    assert read_manifest(artifacts / "encoder").source_sha256 == changed.manifest.source_sha256


def test_a_folder_without_weights_is_a_clear_error(tmp_path: Path, datasets_dir: Path) -> None:
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ExportError, match="no model weights"):
        build_encoder(artifacts_dir=tmp_path / "a", model_dir=tmp_path, datasets_dir=datasets_dir)


@pytest.mark.parametrize("missing, int8", [
    ("bitext_customer_service/train.csv", False),
    ("clinc150/data_full.json", False),
    ("bitext_customer_service/test.csv", True),
])
def test_a_build_without_its_data_fails_naming_the_file(tmp_path: Path, datasets_dir: Path, missing: str,
                                                        int8: bool) -> None:
    # No weaker build: parity on made-up sentences, or fp32 served because the gate had no data.
    partial = tmp_path / "datasets"
    for name in ("bitext_customer_service/train.csv", "bitext_customer_service/test.csv", "clinc150/data_full.json"):
        if name != missing:
            (partial / name).parent.mkdir(parents=True, exist_ok=True)
            (partial / name).symlink_to(datasets_dir / name)
    with pytest.raises(ExportError, match=rf"{partial / missing} not found"):
        build_encoder(artifacts_dir=tmp_path / "a", datasets_dir=partial, int8=int8, force=True)
    assert not (tmp_path / "a" / "encoder" / "manifest.json").exists()


def test_a_build_whose_gate_was_skipped_is_not_up_to_date(tmp_path: Path, encoder_dir: Path,
                                                         encoder_manifest: EncoderManifest) -> None:
    # Artifacts built before the data shipped (gate skipped, fp32 served) are rebuilt, not kept.
    copy = tmp_path / "encoder"
    shutil.copytree(encoder_dir, copy)
    assert is_up_to_date(copy, Path(encoder_manifest.source_model_dir)) is not None
    gate = encoder_manifest.int8_gate
    assert gate is not None
    skipped = encoder_manifest.model_copy(update={"int8_gate": gate.model_copy(update={
        "skipped_reason": "bitext_customer_service not found under ../shared/datasets"})})
    write_manifest(copy, skipped)
    assert is_up_to_date(copy, Path(encoder_manifest.source_model_dir)) is None
    assert is_up_to_date(copy, Path(encoder_manifest.source_model_dir), int8=False) is not None


runner = CliRunner()


def test_cli_build_when_up_to_date_is_quick_and_says_so(artifacts_dir: Path,
                                                         encoder_manifest: EncoderManifest) -> None:
    args = ["models", "build", "--artifacts-dir", str(artifacts_dir)]
    if encoder_manifest.int8_gate is None:
        args.append("--no-int8")
    started = time.perf_counter()
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output
    assert time.perf_counter() - started < 60  # generous: it must not have rebuilt


def test_cli_info_json_and_table(artifacts_dir: Path, encoder_manifest: EncoderManifest) -> None:
    result = runner.invoke(app, ["models", "info", "--artifacts-dir", str(artifacts_dir), "--json"])
    assert result.exit_code == 0
    assert json.loads(result.output)["source_sha256"] == encoder_manifest.source_sha256
    table = runner.invoke(app, ["models", "info", "--artifacts-dir", str(artifacts_dir)])
    assert table.exit_code == 0 and "fp32 parity" in table.output


def test_cli_errors_are_messages_not_tracebacks(tmp_path: Path) -> None:
    result = runner.invoke(app, ["models", "info", "--artifacts-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "shopkeep models build" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["models", "build", "--model-dir", str(tmp_path), "--artifacts-dir",
                                 str(tmp_path / "a"), "--no-int8"])
    assert result.exit_code == 1
    assert "no model weights" in result.output and "Traceback" not in result.output
    for sub in ("build", "info"):
        assert runner.invoke(app, ["models", sub, "--help"]).exit_code == 0
