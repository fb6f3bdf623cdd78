"""Word-embedding table stored as int8, one scale per row, dequantised after the look-up.

A large-vocabulary encoder carries most of its weight in the word-embedding
table: multilingual-e5-small's is 250,037 x 384 fp32 = 384 MB of a 422 MB int8
graph, because the MatMul quantisation schemes (:mod:`models.quantize`) leave
look-ups alone. This step rewrites the served graph so the table is int8 with a
per-row fp32 scale (symmetric: ``row ~= q * scale``, ``scale = max|row| / 127``),
and only the rows a batch uses are gathered and dequantised:

    ids ─► Gather(int8 table) ─► Cast(float) ─┐
     └───► Gather(row scales) ────────────────┴► Mul ─► rows

Dequantising the whole table first (``DequantizeLinear`` on the initializer)
would be constant-folded back to fp32 when the session loads. A fused
``EmbedLayerNormalization`` node takes the table itself as an input, so it is
handed the gathered rows as a small table of its own and positions
``0..batch*seq-1`` as ids; position and segment embeddings and the layer norm
stay as they were. The vocabulary is untouched: every language keeps every
token.

The gate in :mod:`models.quantize` scores the rewritten graph, so the int8
table ships only inside a graph that passed it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # onnx is imported where it is used: importing this module stays cheap
    from onnx import GraphProto, NodeProto, TensorProto

#: Tables smaller than this stay fp32: the saving would not be worth a graph change
#: (all-MiniLM-L6-v2's 30,522 x 384 table is 47 MB).
MIN_TABLE_BYTES = 100 * 1024 * 1024
_PREFIX = "word_embeddings_int8"
#: Values sharing one scale. On multilingual-e5-small's table, one scale per row (384 values) keeps
#: every row's cosine to fp32 >= 0.9993; blocks of 32 keep it >= 0.99998 for 3% more bytes.
DEFAULT_BLOCK = 32


@dataclass(frozen=True)
class EmbeddingQuantResult:
    """What :func:`quantize_word_embeddings` did to one graph."""

    table: str
    rows: int
    dim: int
    block: int
    fp32_bytes: int
    int8_bytes: int
    max_abs_error: float

    def describe(self) -> str:
        return (f"word embeddings {self.rows:,}x{self.dim} int8, blocks of {self.block} "
                f"({self.fp32_bytes / 2**20:.0f} -> {self.int8_bytes / 2**20:.0f} MiB)")


def quantize_rows(table: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 in blocks of ``block`` values per row.

    Returns ``(q [rows, dim] int8, scale [rows, dim // block] float32)`` with
    ``table[r, j] ~= q[r, j] * scale[r, j // block]``. An all-zero block (a
    padding token's row) gets scale 1 and zeros.
    """
    table = np.asarray(table, dtype=np.float32)
    rows, dim = table.shape
    if dim % block:
        raise ValueError(f"block {block} does not divide the embedding width {dim}")
    blocks = table.reshape(rows, dim // block, block)
    peak = np.abs(blocks).max(axis=2, keepdims=True)
    scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(blocks / scale), -127, 127).astype(np.int8)
    return q.reshape(rows, dim), scale.reshape(rows, dim // block)


def _table_consumers(graph: GraphProto, name: str) -> list[tuple[NodeProto, int]]:
    return [(node, i) for node in graph.node for i, inp in enumerate(node.input) if inp == name]


def _find_table(graph: GraphProto, min_bytes: int) -> tuple[TensorProto, list[tuple[NodeProto, int]]] | None:
    """The largest fp32 2-D initializer of at least ``min_bytes`` read only as a look-up table."""
    from onnx import TensorProto

    candidates = sorted(
        (t for t in graph.initializer
         if t.data_type == TensorProto.FLOAT and len(t.dims) == 2 and 4 * t.dims[0] * t.dims[1] >= min_bytes),
        key=lambda t: -(t.dims[0] * t.dims[1]),
    )
    for table in candidates:
        users = _table_consumers(graph, table.name)
        lookups = all((n.op_type == "Gather" and i == 0 and _axis(n) == 0)
                      or (n.op_type == "EmbedLayerNormalization" and i == 2)
                      for n, i in users)
        if users and lookups:
            return table, users
    return None


def _axis(node: NodeProto) -> int:
    for attr in node.attribute:
        if attr.name == "axis":
            return int(attr.i)
    return 0


def has_large_table(path: Path, *, min_bytes: int | None = None) -> bool:
    """Whether the graph at ``path`` has a look-up table :func:`quantize_word_embeddings` would shrink."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return _find_table(model.graph, MIN_TABLE_BYTES if min_bytes is None else min_bytes) is not None


def quantize_word_embeddings(
    path: Path, *, block: int = DEFAULT_BLOCK, min_bytes: int | None = None
) -> EmbeddingQuantResult | None:
    """Rewrite the graph at ``path`` in place with an int8 word-embedding table (``block`` values per scale).

    Returns None (file untouched) when no look-up table of at least ``min_bytes`` exists.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    found = _find_table(graph, MIN_TABLE_BYTES if min_bytes is None else min_bytes)
    if found is None:
        return None
    table_proto, _ = found
    table = numpy_helper.to_array(table_proto)
    rows, dim = table.shape
    q, scale = quantize_rows(table, block)
    restored = (q.reshape(rows, -1, block).astype(np.float32) * scale[..., None]).reshape(rows, dim)
    error = float(np.abs(restored - table).max())
    name = table_proto.name
    q_name, s_name = f"{_PREFIX}/table", f"{_PREFIX}/scale"
    graph.initializer.remove(table_proto)
    graph.initializer.extend([
        numpy_helper.from_array(q, q_name),
        numpy_helper.from_array(scale.reshape(rows, dim // block, 1), s_name),  # gathered: [n, blocks, 1]
        numpy_helper.from_array(np.array([-1], dtype=np.int64), f"{_PREFIX}/flat"),
        numpy_helper.from_array(np.array([-1, dim // block, block], dtype=np.int64), f"{_PREFIX}/blocks"),
        numpy_helper.from_array(np.array([-1, dim], dtype=np.int64), f"{_PREFIX}/rows"),
        numpy_helper.from_array(np.array(0, dtype=np.int32), f"{_PREFIX}/zero"),
        numpy_helper.from_array(np.array(1, dtype=np.int32), f"{_PREFIX}/one"),
    ])

    def lookup(p: str, ids: str, out: str) -> list[onnx.NodeProto]:
        """``out`` [n, dim] float: the dequantised rows of the flattened ``ids``."""
        return [
            helper.make_node("Reshape", [ids, f"{_PREFIX}/flat"], [f"{p}/ids"]),
            helper.make_node("Gather", [q_name, f"{p}/ids"], [f"{p}/q"], axis=0),
            helper.make_node("Gather", [s_name, f"{p}/ids"], [f"{p}/s"], axis=0),
            helper.make_node("Cast", [f"{p}/q"], [f"{p}/qf"], to=TensorProto.FLOAT),
            helper.make_node("Reshape", [f"{p}/qf", f"{_PREFIX}/blocks"], [f"{p}/qb"]),
            helper.make_node("Mul", [f"{p}/qb", f"{p}/s"], [f"{p}/rb"]),
            helper.make_node("Reshape", [f"{p}/rb", f"{_PREFIX}/rows"], [out]),
        ]

    # Rebuild the node list in order: each look-up's new nodes go where it was (topological order kept).
    rebuilt: list[onnx.NodeProto] = []
    for k, node in enumerate(graph.node):
        p = f"{_PREFIX}/{k}"
        if node.op_type == "Gather" and node.input and node.input[0] == name:
            ids = node.input[1]
            if not any(t.name == f"{_PREFIX}/dim" for t in graph.initializer):
                graph.initializer.append(numpy_helper.from_array(np.array([dim], dtype=np.int64), f"{_PREFIX}/dim"))
            rebuilt += lookup(p, ids, f"{p}/rows")
            rebuilt += [
                helper.make_node("Shape", [ids], [f"{p}/ids_shape"]),
                helper.make_node("Concat", [f"{p}/ids_shape", f"{_PREFIX}/dim"], [f"{p}/out_shape"], axis=0),
                helper.make_node("Reshape", [f"{p}/rows", f"{p}/out_shape"], [node.output[0]]),
            ]
        elif node.op_type == "EmbedLayerNormalization" and len(node.input) > 2 and node.input[2] == name:
            ids = node.input[0]
            rebuilt += lookup(p, ids, f"{p}/rows")
            rebuilt += [  # the fused node looks up row i of the gathered rows for token i
                helper.make_node("Shape", [ids], [f"{p}/shape"]),
                helper.make_node("Size", [ids], [f"{p}/n64"]),
                helper.make_node("Cast", [f"{p}/n64"], [f"{p}/n"], to=TensorProto.INT32),
                helper.make_node("Range", [f"{_PREFIX}/zero", f"{p}/n", f"{_PREFIX}/one"], [f"{p}/range"]),
                helper.make_node("Reshape", [f"{p}/range", f"{p}/shape"], [f"{p}/positions"]),
            ]
            fused = onnx.NodeProto()
            fused.CopyFrom(node)
            fused.input[0], fused.input[2] = f"{p}/positions", f"{p}/rows"
            rebuilt.append(fused)
        else:
            rebuilt.append(node)
    del graph.node[:]
    graph.node.extend(rebuilt)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return EmbeddingQuantResult(table=name, rows=int(rows), dim=int(dim), block=block,
                                fp32_bytes=int(table.nbytes), int8_bytes=int(q.nbytes + scale.nbytes),
                                max_abs_error=error)
