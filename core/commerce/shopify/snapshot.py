"""The last synced catalogue of a connected shop, shared by every serve process.

In Redis (all keys of one shop share the hash tag ``{shop:<shop>}``)::

    <prefix>:{shop:<shop>}:products     HASH  product id -> record JSON (a tombstone for a deleted one)
    <prefix>:{shop:<shop>}:changes      STREAM  one entry per applied change: {"id": product id} ("*": full sync)
    <prefix>:{shop:<shop>}:ready        STRING  epoch seconds of the last full sync
    <prefix>:{shop:<shop>}:sync-lock    STRING  held by the process running the full sync
    <prefix>:{shop:<shop>}:embeddings   HASH  "<model>:<sha1 of the product text>" -> float32 bytes

A change is written with its stream entry in one script that refuses an
older version (``v``, the product's ``updated_at``), so out-of-order
webhooks never roll a product back; a deletion is final. Every process follows the stream
(``XREAD BLOCK``) and rebuilds only what changed: a change applied by one
process is seen by all. :class:`MemoryCatalogSnapshot` is the same contract
in one process (the embedded default, no Redis).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from core.errors import StorageError
from core.keys import KeyBuilder

FULL = "*"  # a change entry meaning "everything was replaced"
_STREAM_MAX = 10_000
_CHUNK = 500

# KEYS: products hash, changes stream. ARGV: product id, record JSON, version, stream max length,
# "1" when the record is a tombstone. A deletion always applies and is final (Shopify never reuses a
# product id); otherwise a stored newer version wins.
# Returns the previous record ("" when none) or false when nothing was written.
_PUT_LUA = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and ARGV[5] ~= '1' then
  local ok, decoded = pcall(cjson.decode, current)
  if ok and type(decoded) == 'table' and (decoded['deleted'] or tonumber(decoded['v'] or 0) > tonumber(ARGV[3])) then
    return false
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'id', ARGV[1])
return current or ''
"""


def is_tombstone(record: Mapping[str, Any]) -> bool:
    return bool(record.get("deleted"))


class CatalogSnapshot(Protocol):
    """Where the synced catalogue lives and how changes reach every process."""

    async def ready(self) -> bool:
        """True once a full sync has been stored."""
        ...

    async def replace_all(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Store a full sync (older products not in it become tombstones) and announce it."""
        ...

    async def put(self, record: Mapping[str, Any]) -> tuple[bool, dict[str, Any] | None]:
        """Store one product unless a newer version is stored: ``(applied, previous record)``."""
        ...

    async def get_many(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]: ...

    async def load(self) -> tuple[dict[str, dict[str, Any]], str]:
        """Every live record, and the change-stream position to follow from."""
        ...

    async def changes(self, after: str, block_ms: int) -> tuple[list[str], str]:
        """Product ids changed after ``after`` (waiting up to ``block_ms``), and the new position."""
        ...

    async def try_lock_sync(self, ttl_s: int) -> bool: ...

    async def unlock_sync(self) -> None: ...

    async def embeddings(self, keys: Sequence[str]) -> dict[str, np.ndarray]: ...

    async def put_embeddings(self, vectors: Mapping[str, np.ndarray]) -> None: ...


def _loads(raw: Any) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _dumps(record: Mapping[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)


class RedisCatalogSnapshot:
    """:class:`CatalogSnapshot` on Redis (see the module docstring for the keys)."""

    def __init__(self, redis: aioredis.Redis | aioredis.RedisCluster, *, keys: KeyBuilder, shop: str) -> None:
        self.redis = redis
        self._products = keys.commerce(shop, "products")
        self._changes = keys.commerce(shop, "changes")
        self._ready = keys.commerce(shop, "ready")
        self._lock = keys.commerce(shop, "sync-lock")
        self._embeddings = keys.commerce(shop, "embeddings")
        self._put = redis.register_script(_PUT_LUA)

    async def _run(self, what: str, coro: Any) -> Any:
        try:
            return await coro
        except RedisError as e:
            raise StorageError(f"redis failed to {what}: {e}") from e

    async def ready(self) -> bool:
        return bool(await self._run("read the sync mark", self.redis.exists(self._ready)))

    async def replace_all(self, records: Sequence[Mapping[str, Any]]) -> None:
        import time

        fresh = {str(r["id"]) for r in records}
        existing = await self._run("list products", self.redis.hkeys(self._products))
        gone = [k.decode() if isinstance(k, bytes) else str(k) for k in existing]
        gone = [k for k in gone if k not in fresh]
        stamp = int(time.time() * 1000)
        for start in range(0, len(records), _CHUNK):
            chunk = records[start:start + _CHUNK]
            await self._run("store products", self.redis.hset(
                self._products, mapping={str(r["id"]): _dumps(r) for r in chunk}))
        for start in range(0, len(gone), _CHUNK):
            ids = gone[start:start + _CHUNK]
            await self._run("store tombstones", self.redis.hset(
                self._products, mapping={pid: _dumps({"id": pid, "deleted": True, "v": stamp}) for pid in ids}))
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self._ready, str(stamp / 1000))
        pipe.xadd(self._changes, {"id": FULL}, maxlen=_STREAM_MAX, approximate=True)
        await self._run("announce the sync", pipe.execute())

    async def put(self, record: Mapping[str, Any]) -> tuple[bool, dict[str, Any] | None]:
        result = await self._run("store a product", self._put(
            keys=[self._products, self._changes],
            args=[str(record["id"]), _dumps(record), int(record.get("v") or 0), _STREAM_MAX,
                  "1" if is_tombstone(record) else "0"]))
        if result is None:
            return False, None
        return True, (_loads(result) if result else None)

    async def get_many(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = list(dict.fromkeys(ids))
        if not ids:
            return {}
        raws = await self._run("read products", self.redis.hmget(self._products, ids))
        out = {}
        for pid, raw in zip(ids, raws):
            record = _loads(raw) if raw is not None else None
            if record is not None:
                out[pid] = record
        return out

    async def load(self) -> tuple[dict[str, dict[str, Any]], str]:
        # The position is read first: a change made while loading is applied again (idempotent).
        last = await self._run("read the change stream", self.redis.xrevrange(self._changes, count=1))
        position = (last[0][0].decode() if isinstance(last[0][0], bytes) else str(last[0][0])) if last else "0-0"
        out: dict[str, dict[str, Any]] = {}
        cursor = 0
        while True:
            cursor, chunk = await self._run("read products", self.redis.hscan(self._products, cursor, count=1000))
            for key, raw in chunk.items():
                record = _loads(raw)
                if record is not None and not is_tombstone(record):
                    out[key.decode() if isinstance(key, bytes) else str(key)] = record
            if cursor == 0:
                return out, position

    async def changes(self, after: str, block_ms: int) -> tuple[list[str], str]:
        answer = await self._run("follow changes", self.redis.xread({self._changes: after}, block=block_ms,
                                                                   count=1000))
        ids: list[str] = []
        position = after
        for _stream, entries in answer or []:
            for entry_id, fields in entries:
                position = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                value = fields.get(b"id", fields.get("id"))
                ids.append(value.decode() if isinstance(value, bytes) else str(value))
        return ids, position

    async def try_lock_sync(self, ttl_s: int) -> bool:
        return bool(await self._run("take the sync lock", self.redis.set(self._lock, b"1", nx=True, ex=ttl_s)))

    async def unlock_sync(self) -> None:
        await self._run("release the sync lock", self.redis.delete(self._lock))

    async def embeddings(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        if not keys:
            return {}
        raws = await self._run("read embeddings", self.redis.hmget(self._embeddings, list(keys)))
        return {k: np.frombuffer(raw, dtype=np.float32) for k, raw in zip(keys, raws) if raw is not None}

    async def put_embeddings(self, vectors: Mapping[str, np.ndarray]) -> None:
        items = list(vectors.items())
        for start in range(0, len(items), _CHUNK):
            chunk = dict(items[start:start + _CHUNK])
            await self._run("store embeddings", self.redis.hset(
                self._embeddings, mapping={k: np.asarray(v, np.float32).tobytes() for k, v in chunk.items()}))


class MemoryCatalogSnapshot:
    """:class:`CatalogSnapshot` in one process (no Redis): same contract, same versions rule."""

    def __init__(self) -> None:
        self._records: dict[str, dict[str, Any]] = {}
        self._log: list[str] = []
        self._ready = False
        self._locked = False
        self._changed = asyncio.Condition()
        self._vectors: dict[str, np.ndarray] = {}

    async def _append(self, ids: Sequence[str]) -> None:
        async with self._changed:
            self._log.extend(ids)
            self._changed.notify_all()

    async def ready(self) -> bool:
        return self._ready

    async def replace_all(self, records: Sequence[Mapping[str, Any]]) -> None:
        self._records = {str(r["id"]): dict(r) for r in records}
        self._ready = True
        await self._append([FULL])

    async def put(self, record: Mapping[str, Any]) -> tuple[bool, dict[str, Any] | None]:
        pid = str(record["id"])
        current = self._records.get(pid)
        if current is not None and not is_tombstone(record) and (
                is_tombstone(current) or int(current.get("v") or 0) > int(record.get("v") or 0)):
            return False, None
        self._records[pid] = dict(record)
        await self._append([pid])
        return True, current

    async def get_many(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {pid: self._records[pid] for pid in ids if pid in self._records}

    async def load(self) -> tuple[dict[str, dict[str, Any]], str]:
        live = {pid: r for pid, r in self._records.items() if not is_tombstone(r)}
        return live, str(len(self._log))

    async def changes(self, after: str, block_ms: int) -> tuple[list[str], str]:
        start = int(after or 0)
        async with self._changed:
            if len(self._log) <= start:
                try:
                    await asyncio.wait_for(self._changed.wait_for(lambda: len(self._log) > start), block_ms / 1000)
                except TimeoutError:
                    return [], str(start)
            return self._log[start:], str(len(self._log))

    async def try_lock_sync(self, ttl_s: int) -> bool:
        if self._locked:
            return False
        self._locked = True
        return True

    async def unlock_sync(self) -> None:
        self._locked = False

    async def embeddings(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        return {k: self._vectors[k] for k in keys if k in self._vectors}

    async def put_embeddings(self, vectors: Mapping[str, np.ndarray]) -> None:
        self._vectors.update(vectors)
