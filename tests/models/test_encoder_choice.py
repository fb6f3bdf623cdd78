"""Choosing the encoder per deployment, and e5's query/passage prefixes at run time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from bots.cli import app
from core.errors import ConfigError
from core.protocols import PassageEncoder, embed_passages, embed_passages_sync
from core.settings import Settings, encoder_artifacts_dir
from models.encoder import OnnxEncoder
from models.export import ExportError, check_pooling, read_prompts
from models.manifest import EncoderManifest

runner = CliRunner()


def test_each_encoder_has_its_own_artifacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(artifacts_dir=tmp_path).encoder == "english"
    assert Settings(artifacts_dir=tmp_path).encoder_artifacts_dir == tmp_path
    monkeypatch.setenv("SHOPKEEP_ENCODER", "multilingual")
    assert Settings(artifacts_dir=tmp_path).encoder_artifacts_dir == tmp_path / "multilingual"
    monkeypatch.setenv("SHOPKEEP_ENCODER", "klingon")
    with pytest.raises(ValidationError, match="encoder"):
        Settings()
    with pytest.raises(ConfigError, match="SHOPKEEP_ENCODER"):
        encoder_artifacts_dir(tmp_path, "klingon")


def test_minilm_has_no_prefixes(encoder_manifest: EncoderManifest, fp32_encoder: OnnxEncoder) -> None:
    assert (encoder_manifest.query_prefix, encoder_manifest.passage_prefix) == ("", "")
    texts = ["red hoodie", "where is my order"]
    assert np.array_equal(fp32_encoder.embed_sync(texts), fp32_encoder.embed_passages_sync(texts))


def test_prefixes_are_applied_to_queries_and_passages(encoder_dir: Path, encoder_manifest: EncoderManifest) -> None:
    path = encoder_manifest.graph_path(encoder_dir, "fp32")
    tokenizer = encoder_dir / "tokenizer.json"
    e5_style = OnnxEncoder(model_path=path, tokenizer_path=tokenizer, device="cpu",
                           query_prefix="query: ", passage_prefix="passage: ")
    plain = OnnxEncoder(model_path=path, tokenizer_path=tokenizer, device="cpu")
    texts = ["red hoodie under $60", "我想退货"]
    try:
        assert np.allclose(e5_style.embed_sync(texts), plain.embed_sync([f"query: {t}" for t in texts]), atol=1e-5)
        assert np.allclose(e5_style.embed_passages_sync(texts), plain.embed_sync([f"passage: {t}" for t in texts]),
                           atol=1e-5)
        assert not np.allclose(e5_style.embed_sync(texts), e5_style.embed_passages_sync(texts), atol=1e-3)

        async def both() -> tuple[np.ndarray, np.ndarray]:
            return await e5_style.embed(texts), await embed_passages(e5_style, texts)

        queries, passages = asyncio.run(both())
        assert np.allclose(queries, e5_style.embed_sync(texts), atol=1e-5)
        assert np.allclose(passages, e5_style.embed_passages_sync(texts), atol=1e-5)
    finally:
        e5_style.close()
        plain.close()


class _QueryOnly:
    """An encoder without a passage method (as older or third-party encoders are)."""

    def __init__(self, inner: OnnxEncoder) -> None:
        self.dim = inner.dim
        self._inner = inner

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        return await self._inner.embed(texts)

    def embed_sync(self, texts: Sequence[str]) -> np.ndarray:
        return self._inner.embed_sync(texts)


def test_passage_helpers_fall_back_to_the_plain_methods(fp32_encoder: OnnxEncoder) -> None:
    assert isinstance(fp32_encoder, PassageEncoder)
    simple = _QueryOnly(fp32_encoder)
    assert not isinstance(simple, PassageEncoder)
    assert np.array_equal(embed_passages_sync(simple, ["hoodie"]), fp32_encoder.embed_sync(["hoodie"]))


def test_prompts_and_pooling_are_read_from_the_model_folder(tmp_path: Path) -> None:
    assert read_prompts(tmp_path) == read_prompts(tmp_path / "nothing")  # absent: no prefixes
    (tmp_path / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": {"query": "query: ", "document": "passage: "}}), encoding="utf-8")
    prompts = read_prompts(tmp_path)
    assert (prompts.query, prompts.passage) == ("query: ", "passage: ")
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}), encoding="utf-8")
    with pytest.raises(ExportError, match="1_Pooling/config.json"):
        check_pooling(tmp_path)


def test_cli_names_a_missing_multilingual_build(tmp_path: Path) -> None:
    result = runner.invoke(app, ["models", "info", "--model", "multilingual", "--artifacts-dir", str(tmp_path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert str(tmp_path / "multilingual" / "encoder") in result.output.replace("\n", "")
    result = runner.invoke(app, ["nlu", "train", "--bot", "shop_assistant", "--model", "multilingual",
                                 "--artifacts-dir", str(tmp_path)])
    assert result.exit_code == 1 and "models build --model multilingual" in result.output.replace("\n", "")
    result = runner.invoke(app, ["models", "info", "--model", "klingon", "--artifacts-dir", str(tmp_path)])
    assert result.exit_code == 1 and "SHOPKEEP_ENCODER" in result.output
