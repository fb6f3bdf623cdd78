"""The dashboard's Retrain button: ``shopkeep nlu train`` in the background, one run per bot.

A run takes the bot's training lock in Redis (``SET NX``, renewed while it
runs), so concurrent clicks, in one worker or several, start one run; the
others are told one is running. Training is a child process (torch stays
out of the serving process); its ``progress:`` lines become the status
every worker shows. On success the new version is published on disk and
announced in Redis, where each worker's :class:`~bots.heads.HeadWatcher`
picks it up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import sys
import time
from collections import deque
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bots import heads
from core.errors import StorageError
from core.keys import KeyBuilder
from core.settings import Settings
from core.teaching import TrainingStatus

logger = logging.getLogger(__name__)

LOCK_TTL_S = 60  # renewed every third of this while the child runs
STATUS_TTL_S = 7 * 86400
MAX_RUN_S = 1800
_RELEASE_LUA = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
_RENEW_LUA = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end return 0"


class RedisHeadTrainer:
    """Implements :class:`core.teaching.HeadTrainer` with a child process and a Redis lock.

    Args:
        settings: the data, artifacts and datasets folders.
        redis: an asyncio client.
        keys: the deployment's key builder.
        bots_dirs: bot name -> the folder holding that bot's folder.
    """

    def __init__(self, *, settings: Settings, redis: aioredis.Redis, keys: KeyBuilder,
                 bots_dirs: dict[str, Path]) -> None:
        if settings.data_dir is None:
            raise ValueError("retraining needs SHOPKEEP_DATA_DIR")
        self.settings = settings
        self.data_dir = settings.data_dir
        self.redis = redis
        self.keys = keys
        self.bots_dirs = bots_dirs
        self._tasks: set[asyncio.Task[None]] = set()
        self._release = redis.register_script(_RELEASE_LUA)
        self._renew = redis.register_script(_RENEW_LUA)

    async def start(self, bot: str) -> bool:
        """Start a run for ``bot``; False when one is already running anywhere.

        Raises:
            KeyError: an unknown bot.
            StorageError: Redis failed.
        """
        if bot not in self.bots_dirs:
            raise KeyError(bot)
        token = secrets.token_hex(8)
        try:
            if not await self.redis.set(self.keys.heads(bot, "training"), token, nx=True, ex=LOCK_TTL_S):
                return False
            await self._set_status(bot, TrainingStatus(state="running", stage="starting", started_at=time.time()))
        except RedisError as e:
            raise StorageError(f"redis failed to start training: {e}") from e
        task = asyncio.get_running_loop().create_task(self._run(bot, token), name=f"train {bot}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def status(self, bot: str) -> TrainingStatus | None:
        """The latest run; a "running" one whose lock lapsed (its worker died) reads as failed."""
        try:
            raw = await self.redis.get(self.keys.heads(bot, "status"))
            if raw is None:
                return None
            status = TrainingStatus.model_validate_json(raw)
            if status.state == "running" and not await self.redis.exists(self.keys.heads(bot, "training")):
                return status.model_copy(update={"state": "failed",
                                                 "detail": "interrupted: the worker running it stopped"})
        except RedisError as e:
            raise StorageError(f"redis failed to read the training status: {e}") from e
        return status

    async def wait(self) -> None:
        """Wait for this worker's runs to finish (tests, shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.wait()

    async def _set_status(self, bot: str, status: TrainingStatus) -> None:
        await self.redis.set(self.keys.heads(bot, "status"), status.model_dump_json(), ex=STATUS_TTL_S)

    def command(self, bot: str, out: Path) -> list[str]:
        return [sys.executable, "-m", "bots.cli", "nlu", "train", "--bot", bot,
                "--bots-dir", str(self.bots_dirs[bot]), "--data-dir", str(self.data_dir),
                "--artifacts-dir", str(self.settings.artifacts_dir), "--out", str(out), "--force", "--progress"]

    async def _run(self, bot: str, token: str) -> None:
        started = time.time()
        status = TrainingStatus(state="running", stage="starting", started_at=started)
        version = heads.new_version()
        out = heads.version_dir(self.data_dir, bot, version)
        lock = self.keys.heads(bot, "training")
        renewer = asyncio.get_running_loop().create_task(self._keep(lock, token))
        tail: deque[str] = deque(maxlen=8)
        child: asyncio.subprocess.Process | None = None
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
            child = await asyncio.create_subprocess_exec(*self.command(bot, out), stdout=asyncio.subprocess.DEVNULL,
                                                         stderr=asyncio.subprocess.PIPE, env=env)
            assert child.stderr is not None
            async with asyncio.timeout(MAX_RUN_S):
                async for raw in child.stderr:
                    line = raw.decode("utf-8", "replace").strip()
                    if not line:
                        continue
                    tail.append(line)
                    if line.startswith("progress: "):
                        status = status.model_copy(update={"stage": line[len("progress: "):]})
                        await self._set_status(bot, status)
                code = await child.wait()
            if code != 0:
                raise RuntimeError(f"training exited with {code}: {' / '.join(tail)}")
            heads.publish(self.data_dir, bot, version)
            await heads.announce(self.redis, self.keys, bot, version)
            status = status.model_copy(update={"state": "done", "stage": "published", "version": version,
                                               "finished_at": time.time(), "detail": tail[-1] if tail else ""})
            logger.info("retrained %s: head %s published in %.1f s", bot, version, time.time() - started)
        except (Exception, asyncio.CancelledError) as e:  # noqa: BLE001 - reported on the dashboard
            status = status.model_copy(update={"state": "failed", "finished_at": time.time(),
                                               "detail": str(e)[-500:] or type(e).__name__})
            logger.warning("retraining %s failed: %s", bot, status.detail)
            shutil.rmtree(out, ignore_errors=True)  # never published: nothing should load it
        finally:
            if child is not None and child.returncode is None:  # timed out or cancelled: no orphan
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
            renewer.cancel()
            with contextlib.suppress(RedisError, asyncio.CancelledError):
                await self._set_status(bot, status)
                await self._release(keys=[lock], args=[token])

    async def _keep(self, lock: str, token: str) -> None:
        while True:
            await asyncio.sleep(LOCK_TTL_S / 3)
            with contextlib.suppress(RedisError):
                await self._renew(keys=[lock], args=[token, LOCK_TTL_S])
