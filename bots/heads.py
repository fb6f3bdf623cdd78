"""Which intent head a bot serves, and swapping in a newly trained one without a restart.

A bot's head comes from one of two places:

* ``artifacts/intents/<bot>/`` — trained from the bot's own ``intents.yaml``
  (``make models``);
* ``<data dir>/<bot>/heads/<version>/`` — trained with what the owner taught
  on the dashboard merged in; ``<data dir>/<bot>/heads/CURRENT`` names the
  published version.

A published head is served when its encoder is the one loaded (its
manifest records the encoder manifest's hash); otherwise the artifacts head
is, with a warning. Publishing writes ``CURRENT`` and then the version to
Redis (``heads:<bot>:version``); every worker's :class:`HeadWatcher` reads
that key every ``head_check_every_s`` and, when it changed, loads the new
head off the event loop and swaps it into the dialogue manager (a message
in flight finishes with the head it started with).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from core.errors import ShopkeepError
from core.keys import KeyBuilder
from core.settings import Settings
from core.teaching import load_answers

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from core.dialogue import DialogueManager
    from core.protocols import IntentClassifier, TextEncoder

logger = logging.getLogger(__name__)

CURRENT = "CURRENT"
KEEP_VERSIONS = 3
_VERSION = re.compile(r"^[0-9]{8}T[0-9]{6}-[0-9a-f]{6}$")


def new_version() -> str:
    """A sortable, unique version name: ``20250101T120000-ab12cd``."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def heads_dir(data_dir: Path, bot: str) -> Path:
    return Path(data_dir) / bot / "heads"


def version_dir(data_dir: Path, bot: str, version: str) -> Path:
    """The folder of one version.

    Raises:
        ValueError: ``version`` is not a version name (it may come from Redis: no path tricks).
    """
    if not _VERSION.match(version):
        raise ValueError(f"not a head version: {version!r}")
    return heads_dir(data_dir, bot) / version


def current_version(data_dir: Path | None, bot: str) -> str | None:
    if data_dir is None:
        return None
    try:
        version = (heads_dir(data_dir, bot) / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return version if _VERSION.match(version) else None


def publish(data_dir: Path, bot: str, version: str) -> None:
    """Make ``version`` the bot's served head on disk, and prune old versions (the newest few stay)."""
    folder = version_dir(data_dir, bot, version)
    if not (folder / "manifest.json").is_file():
        raise ShopkeepError(f"{folder} holds no complete head (manifest.json missing)")
    pointer = heads_dir(data_dir, bot) / CURRENT
    tmp = pointer.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(version + "\n", encoding="utf-8")
    os.replace(tmp, pointer)
    versions = sorted(p.name for p in heads_dir(data_dir, bot).iterdir() if p.is_dir() and _VERSION.match(p.name))
    for old in versions[:-KEEP_VERSIONS]:
        if old != version:
            shutil.rmtree(heads_dir(data_dir, bot) / old, ignore_errors=True)


async def announce(redis: aioredis.Redis, keys: KeyBuilder, bot: str, version: str) -> None:
    """Tell every worker (through Redis) that ``version`` is the bot's head now."""
    await redis.set(keys.heads(bot, "version"), version)


def encoder_hash(artifacts_dir: Path) -> str:
    from models.intent import file_sha256

    manifest = artifacts_dir / "encoder" / "manifest.json"
    return file_sha256(manifest) if manifest.is_file() else ""


@dataclass(frozen=True)
class HeadChoice:
    """Where a bot's head is read from; ``version`` is None for the artifacts head."""

    path: Path
    version: str | None


def choose_head(settings: Settings, bot: str, *, version: str | None = None) -> HeadChoice:
    """The published head (``version`` or CURRENT) when it suits the loaded encoder, else the artifacts head."""
    artifacts = HeadChoice(settings.encoder_artifacts_dir / "intents" / bot, None)
    data_dir = settings.data_dir
    version = version or current_version(data_dir, bot)
    if data_dir is None or version is None:
        return artifacts
    folder = version_dir(data_dir, bot, version)
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        logger.warning("published head %s of %s is unreadable; serving %s", version, bot, artifacts.path)
        return artifacts
    if manifest.get("encoder") != encoder_hash(settings.encoder_artifacts_dir):
        logger.warning("published head %s of %s was trained for another encoder; serving %s (retrain it)",
                       version, bot, artifacts.path)
        return artifacts
    return HeadChoice(folder, version)


def load_head(choice: HeadChoice, encoder: TextEncoder) -> tuple[IntentClassifier, dict[str, dict[str, str]]]:
    """The classifier and its taught answers (blocking: call it in a thread)."""
    from models.intent_runtime import OnnxIntentClassifier

    return OnnxIntentClassifier.from_artifacts(choice.path, encoder), load_answers(choice.path)


class HeadWatcher:
    """Polls each bot's published version in Redis and swaps new heads into the managers.

    Args:
        settings: for the data and artifacts folders and the polling interval.
        redis: an asyncio client.
        keys: the deployment's key builder.
        managers: bot name -> dialogue manager.
        encoder: the shared encoder the heads read embeddings from.
        loaded: bot name -> version each manager serves now (None: the artifacts head).
    """

    def __init__(self, *, settings: Settings, redis: aioredis.Redis, keys: KeyBuilder,
                 managers: Mapping[str, DialogueManager], encoder: TextEncoder,
                 loaded: Mapping[str, str | None]) -> None:
        self.settings = settings
        self.redis = redis
        self.keys = keys
        self.managers = managers
        self.encoder = encoder
        self.loaded: dict[str, str | None] = dict(loaded)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="head watcher")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.head_check_every_s)
            try:
                await self.check()
            except (RedisError, OSError) as e:
                logger.warning("head watcher: redis unavailable: %s", e)

    async def check(self) -> list[str]:
        """Swap in every head whose published version changed; returns the bots swapped."""
        swapped = []
        for bot, manager in self.managers.items():
            raw: Any = await self.redis.get(self.keys.heads(bot, "version"))
            version = raw.decode() if isinstance(raw, bytes) else raw
            if not version or version == self.loaded.get(bot):
                continue
            try:
                choice = choose_head(self.settings, bot, version=version)
                if choice.version != version:
                    self.loaded[bot] = version  # unusable here; warned once by choose_head
                    continue
                classifier, answers = await asyncio.to_thread(load_head, choice, self.encoder)
            except (ShopkeepError, ValueError, OSError) as e:
                logger.warning("head %s of %s could not be loaded: %s", version, bot, e)
                self.loaded[bot] = version
                continue
            manager.use_head(classifier, answers)
            self.loaded[bot] = version
            swapped.append(bot)
            logger.info("intent head of %s is now %s", bot, version)
        return swapped
