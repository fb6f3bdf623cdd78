"""Session store on Redis (redis.asyncio, hiredis parser when installed).

Values are JSON, every key written has a TTL, and every key comes from
:class:`~core.keys.KeyBuilder`. Nothing here sends a command touching keys of
two different hash tags in one MULTI, so the store also works on Redis Cluster.

Conversation locks are short leases (``lock_heartbeat_ms``) that a watchdog
renews while the holder works, up to ``lock_ttl_ms`` in all: a process that
dies loses its locks within a heartbeat, a slow action keeps its lock. A
release that fails because Redis is unreachable is remembered and retried
until Redis answers again, so a lock left behind by an outage clears as soon
as Redis is back instead of when its lease ends.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
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
# Extend the lease only while it still holds our token, for the same reason.
_RENEW_LUA = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
)
_BACKOFF_FIRST_S = 0.005
_BACKOFF_MAX_S = 0.05
_RENEWALS_PER_HEARTBEAT = 3  # a renewal may be late twice before the lease lapses
_RELEASE_RETRY_S = 0.1  # how often releases that failed are retried while Redis is away


@dataclass
class _Lease:
    """A lock this process holds: its key, its token and when its total hold must end."""

    name: str
    token: str
    hold_until: float  # event-loop time
    stop: asyncio.Event


class RedisSessionStore:
    """A :class:`~core.protocols.SessionStore` on Redis.

    Args:
        redis: An asyncio client. The caller keeps ownership unless the store
            was made by :meth:`from_url`, in which case :meth:`aclose` closes it.
        keys: Key builder (its prefix namespaces a deployment).
        state_ttl_s: Lifetime of a conversation state, refreshed on each save;
            also the default lifetime of a record.
        dedup_ttl_s: How long a delivery id is remembered.
        lock_ttl_ms: The longest a holder keeps a conversation lock; after that
            the watchdog stops renewing and the lease lapses even if the holder
            is still working (a wedged holder cannot block a conversation forever).
        lock_wait_s: How long ``lock()`` retries before raising :class:`LockTimeout`.
        lock_heartbeat_ms: Lease of one renewal (capped at ``lock_ttl_ms``): a
            holder whose process died loses the lock within this time. Renewals
            run on the event loop, so this must exceed its longest stall (a
            40,000-character message blocks it ~1.5 s on the 2-core VM).
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
        lock_heartbeat_ms: int = 10_000,
    ) -> None:
        if lock_ttl_ms <= 0 or lock_heartbeat_ms <= 0:
            raise ValueError("lock_ttl_ms and lock_heartbeat_ms must be positive")
        self.redis = redis
        self.keys = keys or KeyBuilder()
        self.state_ttl_s = state_ttl_s
        self.dedup_ttl_s = dedup_ttl_s
        self.lock_ttl_ms = lock_ttl_ms
        self.lock_wait_s = lock_wait_s
        self.lock_heartbeat_ms = lock_heartbeat_ms
        self._release_script = redis.register_script(_RELEASE_LUA)
        self._renew_script = redis.register_script(_RENEW_LUA)
        # (lock name, token) -> loop time its lease lapses anyway: releases Redis missed.
        self._unreleased: dict[tuple[str, str], float] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._retrier: asyncio.Task[None] | None = None
        self._owns_client = False

    @classmethod
    def from_url(cls, url: str, *, max_connections: int = 64, **kwargs: Any) -> RedisSessionStore:
        """Connect to ``url`` (``redis://``, ``rediss://``, ``unix://``); ``kwargs`` go to ``__init__``.

        The pool blocks when all ``max_connections`` are busy instead of
        failing with "Too many connections": under a burst, a message waits a
        few milliseconds for a connection rather than getting an apology.
        """
        pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=5)
        store = cls(aioredis.Redis.from_pool(pool), **kwargs)
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
        """SET the state; in the same round trip, list it in the user index of each participant
        that needs it (:meth:`ConversationState.due_for_index`: their first message, then once
        per half TTL), so most saves are a single SET."""
        name = self.keys.state(key)
        due = state.due_for_index(time.time(), self.state_ttl_s)
        with self._errors("save state"):
            if not due:
                await self.redis.set(name, state.model_dump_json(), ex=self.state_ttl_s)
                return
            pipe = self.redis.pipeline(transaction=False)
            pipe.set(name, state.model_dump_json(), ex=self.state_ttl_s)
            for user_id in due:
                self._index(pipe, (key.platform, user_id), (name,), self.state_ttl_s)
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

        The lease is renewed every ``lock_heartbeat_ms / 3`` while the body
        runs, for at most ``lock_ttl_ms`` in all.

        Raises:
            LockTimeout: If another holder keeps it longer than ``lock_wait_s``.
            StorageError: If Redis cannot be reached.
        """
        async with self._hold(self.keys.lock(key), self.keys.conversation_tag(key)):
            yield

    @asynccontextmanager
    async def _hold(self, name: str, tag: str) -> AsyncIterator[None]:
        """Hold the lock at key ``name`` (see :meth:`lock`); ``tag`` names the conversation in a timeout."""
        loop = asyncio.get_running_loop()
        token = secrets.token_hex(16)
        await self._acquire(name, token, tag)
        lease = _Lease(name, token, loop.time() + self.lock_ttl_ms / 1000, asyncio.Event())
        watchdog = loop.create_task(self._renew(lease), name=f"renew {name}")
        self._background.add(watchdog)
        watchdog.add_done_callback(self._background.discard)
        try:
            yield
        finally:
            # Stopped, not cancelled: a renewal in flight completes (a no-op once
            # the key is gone) instead of tearing down its connection.
            lease.stop.set()
            await self._release(name, token)

    def _lease_ms(self, hold_left_s: float) -> int:
        """PX for the next (re)newal: one heartbeat, never past the end of the hold."""
        return max(1, min(self.lock_heartbeat_ms, int(hold_left_s * 1000)))

    async def _acquire(self, name: str, token: str, tag: str) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        delay = _BACKOFF_FIRST_S
        px = self._lease_ms(self.lock_ttl_ms / 1000)
        while True:
            if any(pending == name for pending, _ in self._unreleased):
                await self._release_pending(name)  # our own lock, left behind while Redis was away
            try:
                if await self.redis.set(name, token, nx=True, px=px):
                    return
            except RedisError as e:
                # The SET may have been applied with its reply lost: release our
                # token once Redis answers (a no-op if it was never written).
                self._remember_release(name, token, loop.time() + px / 1000)
                raise StorageError(f"redis failed to take lock: {e}") from e
            waited = loop.time() - started
            if waited >= self.lock_wait_s:
                raise LockTimeout(tag, waited)
            await asyncio.sleep(min(delay * random.uniform(0.5, 1.0), self.lock_wait_s - waited))
            delay = min(delay * 2, _BACKOFF_MAX_S)

    async def _renew(self, lease: _Lease) -> None:
        """The watchdog: extend the lease every third of a heartbeat until stopped or the hold ends."""
        loop = asyncio.get_running_loop()
        every_s = self.lock_heartbeat_ms / 1000 / _RENEWALS_PER_HEARTBEAT
        while True:
            try:
                async with asyncio.timeout(every_s):
                    await lease.stop.wait()
                return
            except TimeoutError:
                pass
            hold_left = lease.hold_until - loop.time()
            if hold_left <= 0:
                log.warning("lock %s held for %d ms; letting its lease lapse", lease.name, self.lock_ttl_ms)
                return
            try:
                renewed = await self._renew_script(keys=[lease.name], args=[lease.token, self._lease_ms(hold_left)])
            except RedisError as e:
                # Keep trying: the holder's own commands fail too, and the
                # lease lapses by itself if Redis stays away.
                log.warning("could not renew %s: %s", lease.name, e)
                continue
            if not renewed and not lease.stop.is_set():
                log.warning("lock %s was lost while held (its lease lapsed before a renewal)", lease.name)
                return

    async def _release(self, name: str, token: str) -> None:
        try:
            await self._release_script(keys=[name], args=[token])
        except RedisError as e:
            # Not raised: the body's own outcome matters more. Retried until
            # Redis answers; the lease lapses by itself within a heartbeat anyway.
            log.warning("could not release %s (will retry): %s", name, e)
            self._remember_release(name, token, asyncio.get_running_loop().time() + self.lock_heartbeat_ms / 1000)

    def _remember_release(self, name: str, token: str, lapses_at: float) -> None:
        self._unreleased[(name, token)] = lapses_at
        if self._retrier is None or self._retrier.done():
            self._retrier = asyncio.get_running_loop().create_task(self._retry_releases(), name="retry lock releases")

    async def _release_pending(self, only: str | None = None) -> bool:
        """Retry remembered releases (of lock ``only``, or all); False while Redis is unreachable."""
        now = asyncio.get_running_loop().time()
        for (name, token), lapses_at in list(self._unreleased.items()):
            if only is not None and name != only:
                continue
            if lapses_at > now:  # else the lease is gone already: nothing to release
                try:
                    await self._release_script(keys=[name], args=[token])
                except RedisError:
                    return False
                log.info("released %s after Redis came back", name)
            self._unreleased.pop((name, token), None)
        return True

    async def _retry_releases(self) -> None:
        """Retry every remembered release until all are done or their leases lapsed."""
        while self._unreleased:
            if not await self._release_pending():
                await asyncio.sleep(_RELEASE_RETRY_S)

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
        """Erase the user from every conversation and record indexed for them, then the index.

        A conversation they had alone is deleted; a shared one keeps the other
        participants' part (:meth:`ConversationState.without_participant`),
        rewritten under its lock with its TTL kept. Call it outside any
        conversation lock (the dialogue manager does, after its reply is ready).

        Returns:
            How many states and records were deleted or rewritten.

        Raises:
            StorageError: If Redis cannot be reached (the index is then kept, so a retry finishes the job).
            LockTimeout: If a shared conversation stays locked longer than ``lock_wait_s``.
        """
        index = self.keys.user_index(platform, user_id)
        with self._errors("forget user"):
            members = sorted(m.decode() if isinstance(m, bytes) else str(m) for m in await self.redis.smembers(index))
        states = [m for m in members if self.keys.is_state(m)]
        # Locks were listed by earlier versions: a lock lapses by itself and may be someone else's.
        records = [m for m in members if not self.keys.is_state(m) and not m.endswith("}:lock")]
        removed = 0
        for name in states:
            removed += await self._erase_from_state(name, user_id)
        with self._errors("forget user"):
            # One DEL per key: the members live in other hash slots than the index.
            pipe = self.redis.pipeline(transaction=False)
            for name in records:
                pipe.delete(name)
            removed += sum(await pipe.execute()) if records else 0
            await self.redis.delete(index)
        return removed

    async def _erase_from_state(self, name: str, user_id: str) -> int:
        async with self._hold(self.keys.lock_for_state(name), name):
            with self._errors("forget user"):
                raw = await self.redis.get(name)
                if raw is None:
                    return 0
                try:
                    rest = ConversationState.model_validate_json(raw).without_participant(user_id)
                except ValidationError:
                    rest = None  # unreadable: nobody can be kept apart from the user in it
                if rest is None:
                    await self.redis.delete(name)
                else:
                    await self.redis.set(name, rest.model_dump_json(), keepttl=True)
            return 1

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
        """Stop the lock watchdogs and release retries, then close the client if the store made it."""
        tasks = [*self._background, *([self._retrier] if self._retrier else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._unreleased.clear()
        if self._owns_client:
            with self._errors("close"):
                await self.redis.aclose()
