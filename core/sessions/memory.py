"""In-process session store: the embedded default (console, tests, one process).

It behaves like :class:`~core.sessions.redis.RedisSessionStore`: values are
kept as JSON text (so callers always get copies, never aliases), every entry
has a TTL on a monotonic clock, locks are leases that expire after
``lock_ttl_ms`` and waiting for one gives up after ``lock_wait_s``.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from core.errors import LockTimeout, StorageError
from core.keys import KeyBuilder
from core.messages import ConversationKey, Platform
from core.sessions._records import dump_record, load_record, record_ttl
from core.state import ConversationState

_SWEEP_EVERY = 256  # writes between sweeps of expired entries


@dataclass
class _Entry:
    value: str
    expires_at: float


@dataclass
class _Lease:
    token: str
    expires_at: float


class _MemoryHeld:
    """What :meth:`MemorySessionStore.hold` hands out (a :class:`~core.protocols.HeldConversation`)."""

    def __init__(self, store: MemorySessionStore, key: ConversationKey, slot: _LockSlot | None, token: str, *,
                 state: ConversationState | None) -> None:
        self.duplicate = slot is None
        self.state = state
        self._store = store
        self._key = key
        self._slot = slot
        self._token = token
        self.released = slot is None

    async def save(self, state: ConversationState) -> None:
        if self.released or self._slot is None:
            raise StorageError("this conversation was already saved and released")
        self.released = True
        lease = self._slot.lease
        if lease is None or lease.token != self._token or lease.expires_at <= self._store._clock():
            raise StorageError(f"lock of {self._key.tag} was lost before the save; nothing was stored")
        await self._store.save(self._key, state)
        await self._store._release(self._slot, self._token)


@dataclass
class _LockSlot:
    """One conversation's lock: the current lease and who is using or awaiting it."""

    released: asyncio.Condition
    lease: _Lease | None = None
    users: int = 0


class MemorySessionStore:
    """A :class:`~core.protocols.SessionStore` kept in this process's memory.

    Args:
        keys: Key builder; entries use the same keys Redis would.
        state_ttl_s: Lifetime of a conversation state (and of a record without its own TTL).
        dedup_ttl_s: How long a delivery id is remembered.
        lock_ttl_ms: Lease of a conversation lock; a holder that never releases loses it then.
        lock_wait_s: How long ``lock()`` waits before raising :class:`LockTimeout`.
        clock: Monotonic clock in seconds; injectable so tests can move time.
    """

    def __init__(
        self,
        *,
        keys: KeyBuilder | None = None,
        state_ttl_s: int = 30 * 24 * 3600,
        dedup_ttl_s: int = 3600,
        lock_ttl_ms: int = 15_000,
        lock_wait_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.keys = keys or KeyBuilder()
        self.state_ttl_s = state_ttl_s
        self.dedup_ttl_s = dedup_ttl_s
        self.lock_ttl_ms = lock_ttl_ms
        self.lock_wait_s = lock_wait_s
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._indexes: dict[str, tuple[set[str], float]] = {}
        self._locks: dict[str, _LockSlot] = {}
        self._schedules: dict[str, dict[str, float]] = {}
        self._writes = 0
        self._closed = False

    # --- plain entries -----------------------------------------------------
    def _get(self, name: str) -> str | None:
        self._check_open()
        entry = self._entries.get(name)
        if entry is None:
            return None
        if entry.expires_at <= self._clock():
            del self._entries[name]
            return None
        return entry.value

    def _set(self, name: str, value: str, ttl_s: float) -> None:
        self._check_open()
        self._entries[name] = _Entry(value, self._clock() + ttl_s)
        self._writes += 1
        if self._writes % _SWEEP_EVERY == 0:
            self._sweep()

    def _sweep(self) -> None:
        now = self._clock()
        for name in [n for n, e in self._entries.items() if e.expires_at <= now]:
            del self._entries[name]
        for name in [n for n, (_, exp) in self._indexes.items() if exp <= now]:
            del self._indexes[name]

    def _index(
        self, platform: Platform, user_id: str, members: tuple[str, ...], ttl_s: float
    ) -> None:
        name = self.keys.user_index(platform, user_id)
        now = self._clock()
        current = self._indexes.get(name)
        if current is None or current[1] <= now:
            current = (set(), now)
        # Like Redis EXPIRE NX + GT: the index lives as long as its longest-lived member.
        self._indexes[name] = (current[0] | set(members), max(current[1], now + ttl_s))

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("memory session store is closed")

    # --- SessionStore ------------------------------------------------------
    async def load(self, key: ConversationKey) -> ConversationState | None:
        raw = self._get(self.keys.state(key))
        return None if raw is None else ConversationState.model_validate_json(raw)

    async def save(self, key: ConversationKey, state: ConversationState) -> None:
        """Store the state; list it in the user index of each participant that needs it (see
        :meth:`ConversationState.due_for_index`: their first message, then once per half TTL)."""
        name = self.keys.state(key)
        due = state.due_for_index(self._clock(), self.state_ttl_s)
        self._set(name, state.model_dump_json(), self.state_ttl_s)
        for user_id in due:
            self._index(key.platform, user_id, (name,), self.state_ttl_s)

    @asynccontextmanager
    async def lock(self, key: ConversationKey) -> AsyncIterator[None]:
        """Hold the conversation's lock for the body of an ``async with``.

        Raises:
            LockTimeout: If another holder keeps it longer than ``lock_wait_s``.
        """
        async with self._locked(key):
            yield

    @asynccontextmanager
    async def hold(self, key: ConversationKey, *, delivery_id: str | None = None) -> AsyncIterator[_MemoryHeld]:
        """See :meth:`core.protocols.SessionStore.hold`."""
        self._check_open()
        seen = self.keys.delivery(key, delivery_id) if delivery_id else None
        if seen is not None and self._get(seen) is not None:
            yield _MemoryHeld(self, key, None, "", state=None)
            return
        async with self._locked(key) as (slot, token):
            if seen is not None and self._get(seen) is not None:  # the same delivery got the lock first
                yield _MemoryHeld(self, key, None, "", state=None)
                return
            if seen is not None:
                self._set(seen, "1", self.dedup_ttl_s)
            yield _MemoryHeld(self, key, slot, token, state=await self.load(key))

    @asynccontextmanager
    async def _locked(self, key: ConversationKey) -> AsyncIterator[tuple[_LockSlot, str]]:
        """The lock's slot and our lease token; released on exit (a no-op if ``save`` released it)."""
        async with self._locked_at(self.keys.lock(key), self.keys.conversation_tag(key)) as held:
            yield held

    @asynccontextmanager
    async def _locked_at(self, name: str, tag: str) -> AsyncIterator[tuple[_LockSlot, str]]:
        """The lock at key ``name``; ``tag`` names its conversation in a timeout."""
        self._check_open()
        slot = self._locks.setdefault(name, _LockSlot(asyncio.Condition()))
        slot.users += 1
        try:
            token = await self._acquire(slot, tag)
            try:
                yield slot, token
            finally:
                await self._release(slot, token)
        finally:
            slot.users -= 1
            if slot.users == 0 and slot.lease is None:
                self._locks.pop(name, None)

    async def _acquire(self, slot: _LockSlot, tag: str) -> str:
        loop = asyncio.get_running_loop()
        started = loop.time()
        async with slot.released:
            while True:
                now = self._clock()
                lease = slot.lease
                if lease is None or lease.expires_at <= now:
                    token = secrets.token_hex(16)
                    slot.lease = _Lease(token, now + self.lock_ttl_ms / 1000)
                    return token
                left = started + self.lock_wait_s - loop.time()
                if left <= 0:
                    raise LockTimeout(tag, loop.time() - started)
                try:
                    # Wake on release, on lease expiry, or when our patience ends.
                    await asyncio.wait_for(
                        slot.released.wait(), timeout=min(left, lease.expires_at - now)
                    )
                except TimeoutError:
                    pass

    @staticmethod
    async def _release(slot: _LockSlot, token: str) -> None:
        async with slot.released:
            # Only our own lease: after it expired someone else may hold the lock.
            if slot.lease is not None and slot.lease.token == token:
                slot.lease = None
                slot.released.notify_all()

    async def first_delivery(self, scope: str, delivery_id: str) -> bool:
        name = self.keys.dedup(scope, delivery_id)
        if self._get(name) is not None:
            return False
        self._set(name, "1", self.dedup_ttl_s)
        return True

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
        """
        name = self.keys.record(namespace, record_id)
        ttl = record_ttl(ttl_s, self.state_ttl_s)
        self._set(name, dump_record(value), ttl)
        if user is not None:
            self._index(user[0], user[1], (name,), ttl)

    async def get_record(self, namespace: str, record_id: str) -> dict[str, Any] | None:
        raw = self._get(self.keys.record(namespace, record_id))
        return None if raw is None else load_record(raw)

    async def delete_record(self, namespace: str, record_id: str) -> None:
        self._entries.pop(self.keys.record(namespace, record_id), None)

    async def forget_user(self, platform: Platform, user_id: str) -> int:
        """Erase the user from every conversation and record indexed for them, then the index.

        A conversation they had alone is deleted (with the repeat marks of its
        recent deliveries); a shared one keeps the other participants' part
        (:meth:`ConversationState.without_participant`), rewritten under its
        lock. Call it outside any conversation lock.

        Returns:
            How many states and records were deleted or rewritten.
        """
        members, _ = self._indexes.get(self.keys.user_index(platform, user_id), (set(), 0.0))
        removed = 0
        for name in sorted(members):
            if self.keys.is_state(name):
                removed += await self._erase_from_state(name, user_id)
            elif name.endswith("}:lock"):
                continue  # listed by earlier versions; a lock lapses by itself, and may be someone's
            elif self._get(name) is not None:
                del self._entries[name]
                removed += 1
        self._indexes.pop(self.keys.user_index(platform, user_id), None)
        return removed

    async def _erase_from_state(self, name: str, user_id: str) -> int:
        async with self._locked_at(self.keys.lock_for_state(name), name):
            raw = self._get(name)
            if raw is None:
                return 0
            state = ConversationState.model_validate_json(raw)
            rest = state.without_participant(user_id)
            if rest is None:
                del self._entries[name]
                for delivery_id in state.deliveries:
                    self._entries.pop(self.keys.delivery_for_state(name, delivery_id), None)
            else:
                self._entries[name] = _Entry(rest.model_dump_json(), self._entries[name].expires_at)
            return 1

    async def schedule(self, queue: str, member: str, at: float) -> None:
        self._check_open()
        self._schedules.setdefault(self.keys.schedule(queue), {})[member] = float(at)

    async def due(self, queue: str, until: float, limit: int = 100) -> list[str]:
        self._check_open()
        members = self._schedules.get(self.keys.schedule(queue), {})
        ready = sorted((at, m) for m, at in members.items() if at <= until)
        return [m for _, m in ready[:limit]]

    async def unschedule(self, queue: str, member: str) -> bool:
        self._check_open()
        return self._schedules.get(self.keys.schedule(queue), {}).pop(member, None) is not None

    async def ping(self) -> bool:
        return not self._closed

    async def aclose(self) -> None:
        self._closed = True
        self._entries.clear()
        self._indexes.clear()
        self._schedules.clear()
