"""The int8 word-embedding table (models.embedding_quant) on small real ONNX graphs run by ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from models.embedding_quant import has_large_table, quantize_rows, quantize_word_embeddings
from models.quantize import EMBED_INT8, gate_candidates

VOCAB, DIM, SEQ = 500, 64, 7
RNG = np.random.default_rng(0)
TABLE = (RNG.standard_normal((VOCAB, DIM)) * 0.05).astype(np.float32)
TABLE[0] = 0.0  # a padding row
TABLE[3, 5] = 1.3  # one outlier: blocks keep it from flattening the rest of its row


def _save(path: Path, nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto], ids_type: int,
          out_shape: list[object], *, ms: bool = False) -> Path:
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("ids", ids_type, ["b", "s"])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, out_shape)], initializer=inits)
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid("com.microsoft", 1)] if ms else [])
    model = helper.make_model(graph, opset_imports=opsets, ir_version=9)
    onnx.save(model, str(path))
    return path


def _run(path: Path, ids: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"ids": ids})[0])


def _gather_graph(path: Path) -> Path:
    return _save(path, [helper.make_node("Gather", ["table", "ids"], ["out"], axis=0)],
                 [numpy_helper.from_array(TABLE, "table")], TensorProto.INT64, ["b", "s", DIM])


def _embed_layer_norm_graph(path: Path) -> Path:
    pos = (RNG.standard_normal((16, DIM)) * 0.02).astype(np.float32)
    seg = (RNG.standard_normal((2, DIM)) * 0.02).astype(np.float32)
    gamma, beta = np.ones(DIM, np.float32), np.zeros(DIM, np.float32)
    nodes = [
        helper.make_node("Cast", ["ids"], ["ids32"], to=TensorProto.INT32),
        helper.make_node("Mul", ["ids32", "zero"], ["segments"]),
        helper.make_node("EmbedLayerNormalization", ["ids32", "segments", "table", "pos", "seg", "gamma", "beta"],
                         ["out", "mask_index"], domain="com.microsoft", epsilon=1e-12),
    ]
    inits = [numpy_helper.from_array(a, n) for a, n in ((TABLE, "table"), (pos, "pos"), (seg, "seg"),
                                                          (gamma, "gamma"), (beta, "beta"))]
    inits.append(numpy_helper.from_array(np.array(0, np.int32), "zero"))
    return _save(path, nodes, inits, TensorProto.INT64, ["b", "s", DIM], ms=True)


def test_rows_round_trip_within_half_a_step_and_zero_rows_stay_zero() -> None:
    q, scale = quantize_rows(TABLE, 16)
    assert q.dtype == np.int8 and q.shape == TABLE.shape and scale.shape == (VOCAB, DIM // 16)
    restored = (q.reshape(VOCAB, -1, 16).astype(np.float32) * scale[..., None]).reshape(VOCAB, DIM)
    step = np.repeat(scale, 16, axis=1)
    assert np.all(np.abs(restored - TABLE) <= step / 2 + 1e-7)
    assert not restored[0].any()
    # The outlier's block alone gets a coarse step; the row's other blocks keep a fine one.
    assert scale[3, 0] > 5 * scale[3, 1]
    with pytest.raises(ValueError, match="does not divide"):
        quantize_rows(TABLE, 24)


@pytest.mark.parametrize("build", [_gather_graph, _embed_layer_norm_graph], ids=["gather", "embed_layer_norm"])
def test_the_rewritten_graph_computes_the_same_embeddings_with_a_quarter_of_the_table(
        tmp_path: Path, build: object) -> None:
    path = build(tmp_path / "model.onnx")  # type: ignore[operator]
    ids = RNG.integers(0, VOCAB, size=(3, SEQ)).astype(np.int64)
    ids[0, :2] = [0, 3]
    before = _run(path, ids)
    size_before = path.stat().st_size
    result = quantize_word_embeddings(path, block=16, min_bytes=1)
    assert result is not None and result.rows == VOCAB and result.dim == DIM
    after = _run(path, ids)
    assert after.shape == before.shape
    assert np.abs(after - before).max() < 0.05  # layer-normed outputs are O(1)
    cos = (after * before).sum(-1) / (np.linalg.norm(after, axis=-1) * np.linalg.norm(before, axis=-1) + 1e-12)
    assert cos[np.linalg.norm(before, axis=-1) > 0].min() > 0.999
    graph = onnx.load(str(path)).graph
    assert not any(t.name == "table" for t in graph.initializer), "the fp32 table is gone"
    assert any(t.data_type == TensorProto.INT8 and list(t.dims) == [VOCAB, DIM] for t in graph.initializer)
    assert path.stat().st_size < size_before * 0.45
    # A second batch shape through the same graph (dynamic batch and sequence).
    other = RNG.integers(0, VOCAB, size=(1, 3)).astype(np.int64)
    assert _run(path, other).shape == (1, 3, DIM)


def test_a_small_table_is_left_alone_and_gets_no_extra_gate_attempts(tmp_path: Path) -> None:
    path = _gather_graph(tmp_path / "model.onnx")
    data = path.read_bytes()
    assert not has_large_table(path)
    assert quantize_word_embeddings(path) is None and path.read_bytes() == data
    assert all(EMBED_INT8 not in s.options for s in gate_candidates(path))


def test_a_large_table_is_tried_int8_first_then_fp32(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import models.embedding_quant as eq

    path = _gather_graph(tmp_path / "model.onnx")
    monkeypatch.setattr(eq, "MIN_TABLE_BYTES", 1)
    names = [s.name for s in gate_candidates(path)]
    with_table = [n for n in names if n.endswith(f"+{EMBED_INT8}")]
    assert with_table and names[: len(with_table)] == with_table
    assert names[len(with_table):] == [n.removesuffix(f"+{EMBED_INT8}") for n in with_table]
