"""One real runtime on real Redis for the whole reliability module (model loading is the slow part)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from bots.runtime import Runtime, build_runtime, load_encoder
from core.keys import KeyBuilder
from core.sessions import RedisSessionStore
from core.settings import Settings


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def real_runtime(redis_url: str, artifacts_dir: Path) -> AsyncIterator[Runtime]:
    """The shop assistant with the built encoder and intent head, on a fresh key prefix of the real Redis."""
    settings = Settings(redis_url=redis_url, artifacts_dir=artifacts_dir)
    store = RedisSessionStore.from_url(redis_url, keys=KeyBuilder(prefix=f"test-rel-{uuid.uuid4().hex[:8]}"))
    runtime = await build_runtime(settings, store=store, encoder=load_encoder(settings))
    try:
        yield runtime
    finally:
        await runtime.aclose()
