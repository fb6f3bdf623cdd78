"""Session store on Redis or Redis Cluster (redis.asyncio, hiredis parser when installed).

Values are JSON, every key written has a TTL, and every key comes from
:class:`~core.keys.KeyBuilder`. Every script touches the keys of one hash tag
only (one conversation), and the pipelines that mix tags are not
transactions, so the same code runs on one Redis and on a Redis Cluster
(``redis+cluster://`` URLs, see :meth:`RedisSessionStore.from_url`).

A message costs two round trips (:meth:`RedisSessionStore.hold`): one script
drops a repeated delivery, takes the lock and reads the state; one pipeline
stores the state and releases the lock (a script that first checks the lock
is still ours, so a holder that lost its lock cannot overwrite its
successor's state) together with the user index of any participant who needs
it (a newcomer, or one whose index entry is half way to expiry), so most
saves carry no index command at all.

Conversation locks are short leases (``lock_heartbeat_ms``) that a watchdog
renews while the holder works, up to ``lock_ttl_ms`` in all: a process that
dies loses its locks within a heartbeat, a slow action keeps its lock. A
release that fails because Redis is unreachable is remembered and retried
until Redis answers again, so a lock left behind by an outage clears as soon
as Redis is back instead of when its lease ends.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from pydantic import ValidationError
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisError

from core.errors import LockTimeout, StorageError
from core.keys import KeyBuilder
from core.messages import ConversationKey, Platform
from core.sessions._records import dump_record, load_record, record_ttl
from core.state import ConversationState

log = logging.getLogger(__name__)

# KEYS: lock, state[, delivery mark]. ARGV: token, lease ms, mark TTL s.
# {1, state} taken (state false when none), {0} busy, {-1} a repeated delivery.
# Our own token already there means this is a retry of a call whose reply was
# lost: it counts as taken, never as a repeat of itself.
_HOLD_LUA = """
local owner = redis.call('get', KEYS[1])
if owner == ARGV[1] then return {1, redis.call('get', KEYS[2])} end
if KEYS[3] and redis.call('exists', KEYS[3]) == 1 then return {-1} end
if owner then return {0} end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
if KEYS[3] then redis.call('set', KEYS[3], '1', 'EX', ARGV[3]) end
return {1, redis.call('get', KEYS[2])}
"""
# KEYS: lock, state. ARGV: token, state JSON, TTL s. 1 saved and released, 0 the lock is not ours.
_SAVE_RELEASE_LUA = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('set', KEYS[2], ARGV[2], 'EX', ARGV[3])
redis.call('del', KEYS[1])
return 1
"""
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
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}

Client = aioredis.Redis | RedisCluster
_T = TypeVar("_T")


@dataclass
class _Lease:
    """A lock this process holds: its key, its token, when its total hold must end, when it was last renewed."""

    name: str
    token: str
    hold_until: float  # event-loop time
    renewed_at: float


class _RedisHeld:
    """What :meth:`RedisSessionStore.hold` hands out (a :class:`~core.protocols.HeldConversation`)."""

    def __init__(self, store: RedisSessionStore, key: ConversationKey, token: str, *, duplicate: bool,
                 state: ConversationState | None) -> None:
        self.duplicate = duplicate
        self.state = state
        self._store = store
        self._key = key
        self._token = token
        self.released = duplicate

    async def save(self, state: ConversationState) -> None:
        if self.released:
            raise StorageError("this conversation was already saved and released")
        self.released = True
        await self._store._save_and_release(self._key, self._token, state)


def cluster_startup_nodes(url: str) -> tuple[str, list[ClusterNode]]:
    """``redis+cluster://[user:pass@]host:port[,host:port...]`` → (plain URL of the first node, all seed nodes).

    Raises:
        ValueError: the URL has no host.
    """
    parts = urlsplit(url)
    auth, _, hosts = parts.netloc.rpartition("@")
    nodes: list[ClusterNode] = []
    for host_port in hosts.split(","):
        host, _, port = host_port.strip().rpartition(":")
        if not host:
            host, port = port, "6379"
        nodes.append(ClusterNode(host.strip("[]"), int(port)))
    if not nodes or not nodes[0].host:
        raise ValueError(f"cluster URL names no host: {url!r}")
    first = f"{auth}@{hosts.split(',')[0]}" if auth else hosts.split(",")[0]
    plain = urlunsplit((CLUSTER_SCHEMES[parts.scheme], first, parts.path, parts.query, ""))
    return plain, nodes


class RedisSessionStore:
    """A :class:`~core.protocols.SessionStore` on Redis or Redis Cluster.

    Args:
        redis: An asyncio client (``Redis`` or ``RedisCluster``). The caller
            keeps ownership unless the store was made by :meth:`from_url`, in
            which case :meth:`aclose` closes it.
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
        wait_replicas: After each conversation save, wait until this many
            replicas have it (``WAIT``, in the same round trip) so a failover
            cannot lose a reply's state; 0 does not wait.
        wait_replicas_ms: The longest that wait may take (a master whose
            replica is gone answers after it, and the save still counts).
    """

    def __init__(
        self,
        redis: Client,
        *,
        keys: KeyBuilder | None = None,
        state_ttl_s: int = 30 * 24 * 3600,
        dedup_ttl_s: int = 3600,
        lock_ttl_ms: int = 15_000,
        lock_wait_s: float = 10.0,
        lock_heartbeat_ms: int = 10_000,
        wait_replicas: int = 0,
        wait_replicas_ms: int = 100,
    ) -> None:
        if lock_ttl_ms <= 0 or lock_heartbeat_ms <= 0:
            raise ValueError("lock_ttl_ms and lock_heartbeat_ms must be positive")
        if wait_replicas < 0 or wait_replicas_ms <= 0:
            raise ValueError("wait_replicas must be >= 0 and wait_replicas_ms positive")
        self.redis = redis
        self.keys = keys or KeyBuilder()
        self.state_ttl_s = state_ttl_s
        self.dedup_ttl_s = dedup_ttl_s
        self.lock_ttl_ms = lock_ttl_ms
        self.lock_wait_s = lock_wait_s
        self.lock_heartbeat_ms = lock_heartbeat_ms
        self.wait_replicas = wait_replicas
        self.wait_replicas_ms = wait_replicas_ms
        self.cluster = isinstance(redis, RedisCluster)
        # Locks held now, renewed by one watchdog task for the whole store.
        self._leases: dict[tuple[str, str], _Lease] = {}
        self._renewer: asyncio.Task[None] | None = None
        self._renewer_loop: asyncio.AbstractEventLoop | None = None
        # (lock name, token) -> loop time its lease lapses anyway: releases Redis missed.
        self._unreleased: dict[tuple[str, str], float] = {}
        self._retrier: asyncio.Task[None] | None = None
        self._owns_client = False

    @classmethod
    def from_url(cls, url: str, *, max_connections: int = 64, **kwargs: Any) -> RedisSessionStore:
        """Connect to ``url``; ``kwargs`` go to ``__init__``.

        ``redis://``, ``rediss://`` and ``unix://`` open one server through a
        pool that blocks when all ``max_connections`` are busy instead of
        failing with "Too many connections" (under a burst a message waits a
        few milliseconds rather than getting an apology).
        ``redis+cluster://host:port[,host:port...]`` (or ``rediss+cluster://``)
        opens a Redis Cluster from those seed nodes; the client follows
        redirections and failovers by itself.
        """
        scheme = urlsplit(url).scheme
        client: Client
        if scheme in CLUSTER_SCHEMES:
            plain, nodes = cluster_startup_nodes(url)
            client = RedisCluster.from_url(plain, startup_nodes=nodes, max_connections=max_connections,
                                           require_full_coverage=False)
        else:
            pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=5)
            client = aioredis.Redis.from_pool(pool)
        store = cls(client, **kwargs)
        store._owns_client = True
        return store

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except RedisError as e:
            raise StorageError(f"redis failed to {action}: {e}") from e

    def _parse_state(self, name: str, raw: bytes | str | None) -> ConversationState | None:
        if raw is None:
            return None
        try:
            return ConversationState.model_validate_json(raw)
        except ValidationError as e:
            raise StorageError(f"state at {name} is not a valid conversation state") from e

    async def load(self, key: ConversationKey) -> ConversationState | None:
        name = self.keys.state(key)
        with self._errors("load state"):
            raw = await self.redis.get(name)
        return self._parse_state(name, raw)

    async def save(self, key: ConversationKey, state: ConversationState) -> None:
        name = self.keys.state(key)
        with self._errors("save state"):
            due = state.due_for_index(time.time(), self.state_ttl_s)  # marks them: before the dump
            pipe = self.redis.pipeline(transaction=False)
            pipe.set(name, state.model_dump_json(), ex=self.state_ttl_s)
            self._index_participants(pipe, key, due)
            await pipe.execute()

    def _index_participants(self, pipe: Any, key: ConversationKey, users: list[str]) -> None:
        """Queue the user index update of each participant ``state.due_for_index`` named
        (their first message, then once per half TTL: most saves queue nothing)."""
        for user_id in users:
            self._index(pipe, (key.platform, user_id), (self.keys.state(key),), self.state_ttl_s)

    def _index(
        self, pipe: Any, user: tuple[Platform, str], members: tuple[str, ...], ttl_s: int
    ) -> None:
        index = self.keys.user_index(*user)
        pipe.sadd(index, *members)
        # NX gives a new index a TTL; GT stretches it to the longest-lived member.
        pipe.expire(index, ttl_s, nx=True)
        pipe.expire(index, ttl_s, gt=True)

    # --- the hot path: hold = repeat check + lock + load; save = store + release --------
    @asynccontextmanager
    async def hold(self, key: ConversationKey, *, delivery_id: str | None = None) -> AsyncIterator[_RedisHeld]:
        """See :meth:`core.protocols.SessionStore.hold`."""
        loop = asyncio.get_running_loop()
        lock, state = self.keys.lock(key), self.keys.state(key)
        names = [lock, state] + ([self.keys.delivery(key, delivery_id)] if delivery_id else [])
        token = secrets.token_hex(16)
        px = self._lease_ms(self.lock_ttl_ms / 1000)

        async def attempt() -> list[Any] | None:
            reply = await self.redis.eval(_HOLD_LUA, len(names), *names, token, px, self.dedup_ttl_s)
            return None if int(reply[0]) == 0 else reply

        reply = await self._acquire(lock, token, self.keys.conversation_tag(key), px, attempt)
        if int(reply[0]) < 0:
            yield _RedisHeld(self, key, token, duplicate=True, state=None)
            return
        lease = self._track(lock, token, loop)
        held: _RedisHeld | None = None
        try:
            held = _RedisHeld(self, key, token, duplicate=False,
                              state=self._parse_state(state, reply[1] if len(reply) > 1 else None))
            yield held
        finally:
            self._leases.pop((lease.name, lease.token), None)
            if held is None or not held.released:
                await self._release(lock, token)

    async def _save_and_release(self, key: ConversationKey, token: str, state: ConversationState) -> None:
        lock, name = self.keys.lock(key), self.keys.state(key)
        self._leases.pop((lock, token), None)
        due = state.due_for_index(time.time(), self.state_ttl_s)  # marks them: before the dump
        pipe = self.redis.pipeline(transaction=False)
        pipe.eval(_SAVE_RELEASE_LUA, 2, lock, name, token, state.model_dump_json(), self.state_ttl_s)
        self._index_participants(pipe, key, due)
        if self.wait_replicas:
            # WAIT counts the writes of its own connection: in a pipeline it rides
            # the save's connection (on a cluster, the node that owns the slot).
            redis = self.redis
            target = {"target_nodes": redis.get_node_from_key(name)} if isinstance(redis, RedisCluster) else {}
            pipe.execute_command("WAIT", self.wait_replicas, self.wait_replicas_ms, **target)
        try:
            results = await pipe.execute()
        except RedisError as e:
            # The save may not have happened: release once Redis answers (a no-op if it did).
            self._remember_release(lock, token, asyncio.get_running_loop().time() + self.lock_heartbeat_ms / 1000)
            raise StorageError(f"redis failed to save state: {e}") from e
        if not results[0]:
            raise StorageError(f"lock {lock} was lost before the save; nothing was stored")

    # --- locks -----------------------------------------------------------------------------
    @asynccontextmanager
    async def lock(self, key: ConversationKey) -> AsyncIterator[None]:
        """Hold the conversation's lock for the body of an ``async with``.

        The lease is renewed every ``lock_heartbeat_ms / 3`` while the body
        runs, for at most ``lock_ttl_ms`` in all.

        Raises:
            LockTimeout: If another holder keeps it longer than ``lock_wait_s``.
            StorageError: If Redis cannot be reached.
        """
        async with self._lock_at(self.keys.lock(key), self.keys.conversation_tag(key)):
            yield

    @asynccontextmanager
    async def _lock_at(self, name: str, tag: str) -> AsyncIterator[None]:
        """Hold the lock at key ``name`` (see :meth:`lock`); ``tag`` names its conversation in a timeout."""
        loop = asyncio.get_running_loop()
        token = secrets.token_hex(16)
        px = self._lease_ms(self.lock_ttl_ms / 1000)

        async def attempt() -> bool | None:
            return True if await self.redis.set(name, token, nx=True, px=px) else None

        await self._acquire(name, token, tag, px, attempt)
        lease = self._track(name, token, loop)
        try:
            yield
        finally:
            self._leases.pop((lease.name, lease.token), None)
            await self._release(name, token)

    def _lease_ms(self, hold_left_s: float) -> int:
        """PX for the next (re)newal: one heartbeat, never past the end of the hold."""
        return max(1, min(self.lock_heartbeat_ms, int(hold_left_s * 1000)))

    async def _acquire(self, name: str, token: str, tag: str, px: int,
                       attempt: Callable[[], Awaitable[_T | None]]) -> _T:
        """Call ``attempt`` (None: busy) with backoff until it succeeds or ``lock_wait_s`` runs out."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        delay = _BACKOFF_FIRST_S
        while True:
            if self._unreleased and any(pending == name for pending, _ in self._unreleased):
                await self._release_pending(name)  # our own lock, left behind while Redis was away
            try:
                got = await attempt()
            except RedisError as e:
                # The command may have been applied with its reply lost: release our
                # token once Redis answers (a no-op if it was never written).
                self._remember_release(name, token, loop.time() + px / 1000)
                raise StorageError(f"redis failed to take lock: {e}") from e
            if got is not None:
                return got
            waited = loop.time() - started
            if waited >= self.lock_wait_s:
                raise LockTimeout(tag, waited)
            await asyncio.sleep(min(delay * random.uniform(0.5, 1.0), self.lock_wait_s - waited))
            delay = min(delay * 2, _BACKOFF_MAX_S)

    def _track(self, name: str, token: str, loop: asyncio.AbstractEventLoop) -> _Lease:
        """Hand a freshly taken lock to the store's watchdog (one task for every lock, not one each)."""
        now = loop.time()
        lease = _Lease(name, token, now + self.lock_ttl_ms / 1000, now)
        self._leases[(name, token)] = lease
        if self._renewer is None or self._renewer.done() or self._renewer_loop is not loop:
            self._renewer = loop.create_task(self._renew_while_held(), name="renew conversation locks")
            self._renewer_loop = loop
        return lease

    async def _renew_while_held(self) -> None:
        """The watchdog: extend each held lease every third of a heartbeat until it is released or its hold ends."""
        loop = asyncio.get_running_loop()
        every_s = self.lock_heartbeat_ms / 1000 / _RENEWALS_PER_HEARTBEAT
        while self._leases:
            await asyncio.sleep(every_s / 2)
            now = loop.time()
            due = [lease for lease in self._leases.values() if now - lease.renewed_at >= every_s]
            if due:
                await asyncio.gather(*(self._renew(lease, now) for lease in due))

    async def _renew(self, lease: _Lease, now: float) -> None:
        hold_left = lease.hold_until - now
        if hold_left <= 0:
            log.warning("lock %s held for %d ms; letting its lease lapse", lease.name, self.lock_ttl_ms)
            self._leases.pop((lease.name, lease.token), None)
            return
        try:
            renewed = await self.redis.eval(_RENEW_LUA, 1, lease.name, lease.token, self._lease_ms(hold_left))
        except RedisError as e:
            # Keep trying: the holder's own commands fail too, and the
            # lease lapses by itself if Redis stays away.
            log.warning("could not renew %s: %s", lease.name, e)
            return
        lease.renewed_at = now
        if not renewed and self._leases.pop((lease.name, lease.token), None) is not None:
            log.warning("lock %s was lost while held (its lease lapsed before a renewal)", lease.name)

    async def _release(self, name: str, token: str) -> None:
        try:
            await self.redis.eval(_RELEASE_LUA, 1, name, token)
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
                    await self.redis.eval(_RELEASE_LUA, 1, name, token)
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
        value: dict[str, Any],
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

    async def get_record(self, namespace: str, record_id: str) -> dict[str, Any] | None:
        name = self.keys.record(namespace, record_id)
        with self._errors("load record"):
            raw = await self.redis.get(name)
        if raw is None:
            return None
        try:
            return load_record(raw)
        except (ValueError, TypeError) as e:
            raise StorageError(f"record at {name} is not a JSON object") from e

    async def delete_record(self, namespace: str, record_id: str) -> None:
        with self._errors("delete record"):
            await self.redis.delete(self.keys.record(namespace, record_id))

    async def forget_user(self, platform: Platform, user_id: str) -> int:
        """Erase the user from every conversation and record indexed for them, then the index.

        A conversation they had alone is deleted (with the repeat marks of its
        recent deliveries); a shared one keeps the other participants' part
        (:meth:`ConversationState.without_participant`), rewritten under its
        lock with its TTL kept. Call it outside any conversation lock (the
        dialogue manager does, once its reply is ready).

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
        async with self._lock_at(self.keys.lock_for_state(name), name):
            with self._errors("forget user"):
                raw = await self.redis.get(name)
                if raw is None:
                    return 0
                try:
                    state: ConversationState | None = ConversationState.model_validate_json(raw)
                except ValidationError:
                    state = None  # unreadable: nobody can be kept apart from the user in it
                rest = None if state is None else state.without_participant(user_id)
                if rest is None:
                    marks = [self.keys.delivery_for_state(name, d) for d in (state.deliveries if state else [])]
                    await self.redis.delete(name, *marks)  # one slot: the conversation's
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
        loop = asyncio.get_running_loop()
        tasks = [t for t in (self._renewer, self._retrier) if t is not None and not t.done()]
        for task in tasks:
            if task.get_loop() is loop:
                task.cancel()
            elif not task.get_loop().is_closed():  # made on a loop that still runs elsewhere
                task.get_loop().call_soon_threadsafe(task.cancel)
        await asyncio.gather(*(t for t in tasks if t.get_loop() is loop), return_exceptions=True)
        self._unreleased.clear()
        self._leases.clear()
        if self._owns_client:
            with self._errors("close"):
                await self.redis.aclose()
