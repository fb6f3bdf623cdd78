"""One-time values shared by every worker (used CSRF nonces, revoked sessions).

:class:`RedisNonceStore` claims with ``SET NX EX`` (atomic: of two workers
claiming the same value at once, exactly one wins); :class:`MemoryNonceStore`
serves a single process.
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from core.errors import StorageError
from core.keys import KeyBuilder

NAMESPACE = "nonce"


class RedisNonceStore:
    def __init__(self, redis: aioredis.Redis, *, keys: KeyBuilder | None = None) -> None:
        self.redis = redis
        self.keys = keys or KeyBuilder()

    async def claim(self, name: str, ttl_s: int) -> bool:
        try:
            return bool(await self.redis.set(self.keys.record(NAMESPACE, name), b"1", nx=True, ex=max(1, ttl_s)))
        except RedisError as e:
            raise StorageError(f"redis failed to claim a nonce: {e}") from e

    async def seen(self, name: str) -> bool:
        try:
            return bool(await self.redis.exists(self.keys.record(NAMESPACE, name)))
        except RedisError as e:
            raise StorageError(f"redis failed to read a nonce: {e}") from e


class MemoryNonceStore:
    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    async def claim(self, name: str, ttl_s: int) -> bool:
        now = time.monotonic()
        if self._until.get(name, 0.0) > now:
            return False
        if len(self._until) > 100_000:
            self._until = {k: v for k, v in self._until.items() if v > now}
        self._until[name] = now + ttl_s
        return True

    async def seen(self, name: str) -> bool:
        return self._until.get(name, 0.0) > time.monotonic()
