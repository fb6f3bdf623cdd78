"""Session store on Redis (redis.asyncio, hiredis parser when installed).

Values are JSON, every key written has a TTL, and every key comes from
:class:`~core.keys.KeyBuilder`. Nothing here sends a command touching keys of
two different hash tags in one MULTI, so the store also works on Redis Cluster.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import redis.asyncio as aioredis
from pydantic import ValidationError
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from core.errors import LockTimeout, StorageError
from core.keys import KeyBuilder
from core.messages import ConversationKey, Platform
from core.sessions._records import dump_record, record_ttl
from core.state import ConversationState

log = logging.getLogger(__name__)

# Delete the lock only if it still holds our token: after our lease expired
# another process may own it, and a plain DEL would break its exclusivity.
_RELEASE_LUA = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)
_BACKOFF_FIRST_S = 0.005
_BACKOFF_MAX_S = 0.05


class RedisSessionStore:
    """A :class:`~core.protocols.SessionStore` on Redis.

    Args:
        redis: An asyncio client. The caller keeps ownership unless the store
            was made by :meth:`from_url`, in which case :meth:`aclose` closes it.
        keys: Key builder (its prefix namespaces a deployment).
        state_ttl_s: Lifetime of a conversation state, refreshed on each save;
            also the default lifetime of a record.
        dedup_ttl_s: How long a delivery id is remembered.
        lock_ttl_ms: Lease of a conversation lock; a crashed holder loses it then.
        lock_wait_s: How long ``lock()`` retries before raising :class:`LockTimeout`.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        keys: KeyBuilder | None = None,
        state_ttl_s: int = 30 * 24 * 3600,
        dedup_ttl_s: int = 3600,
        lock_ttl_ms: int = 15_000,
        lock_wait_s: float = 10.0,
    ) -> None:
        self.redis = redis
        self.keys = keys or KeyBuilder()
        self.state_ttl_s = state_ttl_s
        self.dedup_ttl_s = dedup_ttl_s
        self.lock_ttl_ms = lock_ttl_ms
        self.lock_wait_s = lock_wait_s
        self._release_script = redis.register_script(_RELEASE_LUA)
        self._owns_client = False

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisSessionStore:
        """Connect to ``url`` (``redis://``, ``rediss://``, ``unix://``); ``kwargs`` go to ``__init__``."""
        store = cls(aioredis.Redis.from_url(url), **kwargs)
        store._owns_client = True
        return store

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except RedisError as e:
            raise StorageError(f"redis failed to {action}: {e}") from e

    async def load(self, key: ConversationKey) -> ConversationState | None:
        name = self.keys.state(key)
        with self._errors("load state"):
            raw = await self.redis.get(name)
        if raw is None:
            return None
        try:
            return ConversationState.model_validate_json(raw)
        except ValidationError as e:
            raise StorageError(f"state at {name} is not a valid conversation state") from e

    async def save(self, key: ConversationKey, state: ConversationState) -> None:
        name = self.keys.state(key)
        with self._errors("save state"):
            pipe = self.redis.pipeline(transaction=False)
            pipe.set(name, state.model_dump_json(), ex=self.state_ttl_s)
            if state.user_id:
                members = (name, self.keys.lock(key))
                self._index(pipe, (key.platform, state.user_id), members, self.state_ttl_s)
            await pipe.execute()

    def _index(
        self, pipe: Pipeline, user: tuple[Platform, str], members: tuple[str, ...], ttl_s: int
    ) -> None:
        index = self.keys.user_index(*user)
        pipe.sadd(index, *members)
        # NX gives a new index a TTL; GT stretches it to the longest-lived member.
        pipe.expire(index, ttl_s, nx=True)
        pipe.expire(index, ttl_s, gt=True)

    @asynccontextmanager
    async def lock(self, key: ConversationKey) -> AsyncIterator[None]:
        """Hold the conversation's lock for the body of an ``async with``.

        Raises:
            LockTimeout: If another holder keeps it longer than ``lock_wait_s``.
            StorageError: If Redis cannot be reached.
        """
        name = self.keys.lock(key)
        token = secrets.token_hex(16)
        await self._acquire(name, token, key)
        try:
            yield
        finally:
            await self._release(name, token)

    async def _acquire(self, name: str, token: str, key: ConversationKey) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        delay = _BACKOFF_FIRST_S
        while True:
            with self._errors("take lock"):
                if await self.redis.set(name, token, nx=True, px=self.lock_ttl_ms):
                    return
            waited = loop.time() - started
            if waited >= self.lock_wait_s:
                raise LockTimeout(self.keys.conversation_tag(key), waited)
            await asyncio.sleep(min(delay * random.uniform(0.5, 1.0), self.lock_wait_s - waited))
            delay = min(delay * 2, _BACKOFF_MAX_S)

    async def _release(self, name: str, token: str) -> None:
        try:
            await self._release_script(keys=[name], args=[token])
        except RedisError as e:
            # Not raised: the body's own outcome matters more, and the lease
            # frees the lock by itself after lock_ttl_ms.
            log.warning("could not release %s (expires in %d ms): %s", name, self.lock_ttl_ms, e)

    async def first_delivery(self, scope: str, delivery_id: str) -> bool:
        name = self.keys.dedup(scope, delivery_id)
        with self._errors("record delivery"):
            return bool(await self.redis.set(name, b"1", nx=True, ex=self.dedup_ttl_s))

    async def put_record(
        self,
        namespace: str,
        record_id: str,
        value: dict,
        ttl_s: int | None = None,
        *,
        user: tuple[Platform, str] | None = None,
    ) -> None:
        """Store a JSON record; ``user`` ties it to a user so ``forget_user`` erases it.

        Raises:
            ValueError: If ``ttl_s`` is not positive.
            TypeError: If ``value`` is not a JSON-serialisable dict.
            StorageError: If Redis cannot be reached.
        """
        name = self.keys.record(namespace, record_id)
        ttl = record_ttl(ttl_s, self.state_ttl_s)
        payload = dump_record(value)  # refuses bad values before anything is written
        with self._errors("save record"):
            pipe = self.redis.pipeline(transaction=False)
            pipe.set(name, payload, ex=ttl)
            if user is not None:
                self._index(pipe, user, (name,), ttl)
            await pipe.execute()

    async def get_record(self, namespace: str, record_id: str) -> dict | None:
        name = self.keys.record(namespace, record_id)
        with self._errors("load record"):
            raw = await self.redis.get(name)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError as e:
            raise StorageError(f"record at {name} is not JSON") from e

    async def delete_record(self, namespace: str, record_id: str) -> None:
        with self._errors("delete record"):
            await self.redis.delete(self.keys.record(namespace, record_id))

    async def forget_user(self, platform: Platform, user_id: str) -> int:
        """Erase every state, lock and record indexed for this user, then the index.

        Returns:
            How many states, locks and records existed and were removed.
        """
        index = self.keys.user_index(platform, user_id)
        with self._errors("forget user"):
            members = await self.redis.smembers(index)
            # One DEL per key: the members live in other hash slots than the index.
            pipe = self.redis.pipeline(transaction=False)
            for member in members:
                pipe.delete(member)
            removed = sum(await pipe.execute()) if members else 0
            await self.redis.delete(index)
        return removed

    async def schedule(self, queue: str, member: str, at: float) -> None:
        """ZADD ``member`` at score ``at``; the set lives ``state_ttl_s`` after its last write."""
        name = self.keys.schedule(queue)
        with self._errors("schedule"):
            pipe = self.redis.pipeline(transaction=False)
            pipe.zadd(name, {member: float(at)})
            pipe.expire(name, self.state_ttl_s)
            await pipe.execute()

    async def due(self, queue: str, until: float, limit: int = 100) -> list[str]:
        with self._errors("read schedule"):
            members = await self.redis.zrangebyscore(self.keys.schedule(queue), "-inf", float(until),
                                                     start=0, num=limit)
        return [m.decode() if isinstance(m, bytes) else str(m) for m in members]

    async def unschedule(self, queue: str, member: str) -> bool:
        with self._errors("unschedule"):
            return bool(await self.redis.zrem(self.keys.schedule(queue), member))

    async def ping(self) -> bool:
        """True when Redis answers; a failure is logged and reported as False."""
        try:
            return bool(await self.redis.ping())
        except RedisError as e:
            log.warning("redis ping failed: %s", e)
            return False

    async def aclose(self) -> None:
        if self._owns_client:
            with self._errors("close"):
                await self.redis.aclose()
