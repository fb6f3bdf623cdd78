"""Session stores: where conversation state, locks, dedup marks and records live.

:class:`RedisSessionStore` serves production (any number of processes share
one Redis); :class:`MemorySessionStore` is the embedded default. Both pass
``tests/core/test_session_contract.py``.
"""

from __future__ import annotations

from core.keys import KeyBuilder
from core.protocols import SessionStore
from core.sessions.memory import MemorySessionStore
from core.sessions.redis import RedisSessionStore
from core.settings import Settings

__all__ = ["MemorySessionStore", "RedisSessionStore", "make_store"]


def make_store(settings: Settings, *, keys: KeyBuilder | None = None) -> SessionStore:
    """The store the settings ask for: Redis when ``redis_url`` is set, else memory.

    ``redis+cluster://host:port[,host:port...]`` opens a Redis Cluster.

    Args:
        settings: Read for ``redis_url`` and the TTL and lock settings.
        keys: Key builder; the default uses the ``shopkeep`` prefix.

    Nothing connects here; the first command does. Call ``await store.ping()``
    at start-up to fail early, and ``await store.aclose()`` at shutdown.
    """
    if settings.redis_url:
        return RedisSessionStore.from_url(
            settings.redis_url,
            keys=keys,
            state_ttl_s=settings.state_ttl_s,
            dedup_ttl_s=settings.dedup_ttl_s,
            lock_ttl_ms=settings.lock_ttl_ms,
            lock_wait_s=settings.lock_wait_s,
            wait_replicas=settings.redis_wait_replicas,
            wait_replicas_ms=settings.redis_wait_replicas_ms,
        )
    return MemorySessionStore(
        keys=keys,
        state_ttl_s=settings.state_ttl_s,
        dedup_ttl_s=settings.dedup_ttl_s,
        lock_ttl_ms=settings.lock_ttl_ms,
        lock_wait_s=settings.lock_wait_s,
    )
