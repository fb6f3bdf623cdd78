"""Fixtures for tests/core: session stores on the real Redis and in memory.

Every Redis test gets its own key prefix and deletes its keys afterwards;
the server is shared with other tests, so nothing here ever FLUSHes it.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from bench.redis_cluster import LocalRedisCluster
from core.keys import KeyBuilder
from core.protocols import SessionStore
from core.sessions import MemorySessionStore, RedisSessionStore

StoreFactory = Callable[..., Awaitable[SessionStore]]


@pytest.fixture
def key_builder() -> KeyBuilder:
    """A key builder with a prefix no other test uses."""
    return KeyBuilder(prefix=f"sktest-{uuid.uuid4().hex[:12]}")


@pytest.fixture
async def raw_redis(redis_url: str, key_builder: KeyBuilder) -> AsyncIterator[aioredis.Redis]:
    """A plain client for inspecting what a store wrote; removes the test's keys afterwards."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.ping()
    except aioredis.ConnectionError as e:
        pytest.fail(f"Redis is not reachable at {redis_url}: {e}", pytrace=False)
    yield client
    async for name in client.scan_iter(match=f"{key_builder.prefix}:*", count=500):
        await client.delete(name)
    await client.aclose()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[LocalRedisCluster]:
    """A private Redis Cluster (3 masters, 3 replicas on loopback) for this test session."""
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.skip("needs the redis-server and redis-cli binaries")
    with LocalRedisCluster() as cluster:
        yield cluster


@pytest.fixture(params=["memory", "redis", "cluster"])
async def store_factory(
    request: pytest.FixtureRequest,
    key_builder: KeyBuilder,
    redis_url: str,
    raw_redis: aioredis.Redis,  # requested so the test's Redis keys get cleaned up
) -> AsyncIterator[StoreFactory]:
    """Makes stores of one kind (memory, Redis, Redis Cluster) sharing the test's key prefix."""
    made: list[SessionStore] = []
    kind: str = request.param

    async def make(**kwargs: Any) -> SessionStore:
        store: SessionStore
        if kind == "redis":
            store = RedisSessionStore.from_url(redis_url, keys=key_builder, **kwargs)
        elif kind == "cluster":
            cluster = request.getfixturevalue("redis_cluster")
            store = RedisSessionStore.from_url(cluster.url, keys=key_builder, wait_replicas=1, **kwargs)
        else:
            store = MemorySessionStore(keys=key_builder, **kwargs)
        made.append(store)
        return store

    yield make
    for store in made:
        await store.aclose()


@pytest.fixture
async def store(store_factory: StoreFactory) -> SessionStore:
    """A store with default settings, once per implementation."""
    return await store_factory()


@pytest.fixture
async def redis_store(
    key_builder: KeyBuilder, redis_url: str, raw_redis: aioredis.Redis
) -> AsyncIterator[RedisSessionStore]:
    """A Redis store, for the checks only Redis can show (TTLs, raw bytes)."""
    store = RedisSessionStore.from_url(redis_url, keys=key_builder)
    yield store
    await store.aclose()
