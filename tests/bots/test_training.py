"""The Retrain runner on the real Redis: a failing run is reported and publishes nothing."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bots.training import RedisHeadTrainer
from core.keys import KeyBuilder
from core.settings import Settings
from core.teaching import TrainingStatus


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    redis = aioredis.Redis.from_url(redis_url)
    yield redis
    await redis.aclose()


@pytest.fixture
def keys() -> KeyBuilder:
    return KeyBuilder(prefix=f"sktest-train-{uuid.uuid4().hex[:8]}")


async def test_a_run_that_fails_says_why_and_publishes_nothing(
        client: aioredis.Redis, keys: KeyBuilder, tmp_path: Path, artifacts_dir: Path) -> None:
    bots = tmp_path / "bots"
    (bots / "broken").mkdir(parents=True)
    (bots / "broken" / "intents.yaml").write_text("intents:\n  only_one:\n    examples: [a, b]\n", encoding="utf-8")
    settings = Settings(data_dir=tmp_path / "data", artifacts_dir=artifacts_dir)
    trainer = RedisHeadTrainer(settings=settings, redis=client, keys=keys, bots_dirs={"broken": bots})
    try:
        assert await trainer.start("broken")
        await trainer.wait()
        status = await trainer.status("broken")
        assert status is not None and status.state == "failed"
        assert "at least two intents" in status.detail
        heads = tmp_path / "data" / "broken" / "heads"
        assert not heads.exists() or not any(p.is_dir() for p in heads.iterdir())
        assert not await client.exists(keys.heads("broken", "version"))
        assert not await client.exists(keys.heads("broken", "training"))  # the lock was released
        with pytest.raises(KeyError):
            await trainer.start("nobody")
    finally:
        for key in [k async for k in client.scan_iter(match=f"{keys.prefix}:*")]:
            await client.delete(key)


async def test_a_run_whose_worker_died_reads_as_failed(client: aioredis.Redis, keys: KeyBuilder,
                                                       tmp_path: Path) -> None:
    trainer = RedisHeadTrainer(settings=Settings(data_dir=tmp_path), redis=client, keys=keys, bots_dirs={"b": tmp_path})
    running = TrainingStatus(state="running", stage="cross-validation fold 2/5", started_at=time.time())
    await client.set(keys.heads("b", "status"), running.model_dump_json())
    try:
        status = await trainer.status("b")  # no lock: nobody is running it any more
        assert status is not None and status.state == "failed" and "interrupted" in status.detail
        await client.set(keys.heads("b", "training"), "someone", ex=60)
        assert (await trainer.status("b")).state == "running"  # type: ignore[union-attr]
    finally:
        await client.delete(keys.heads("b", "status"), keys.heads("b", "training"))
