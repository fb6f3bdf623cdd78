"""Shopkeep's error tree. Errors carry data so callers can act on them."""

from __future__ import annotations


class ShopkeepError(Exception):
    """Root of every error Shopkeep raises on purpose."""


class ConfigError(ShopkeepError):
    """A setting is missing or invalid. ``name`` is the environment variable."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"Setting {name!r} {reason}")
        self.name = name
        self.reason = reason


class StorageError(ShopkeepError):
    """The session store could not be reached or answered badly."""


class LockTimeout(StorageError):
    """The conversation lock was held by someone else for too long."""

    def __init__(self, conversation: str, waited_s: float) -> None:
        super().__init__(f"lock for {conversation} not acquired after {waited_s:.1f}s")
        self.conversation = conversation
        self.waited_s = waited_s


class ModelNotBuilt(ShopkeepError):
    """The ONNX artifacts are missing; run ``shopkeep models build``."""

    def __init__(self, path: str) -> None:
        super().__init__(f"model artifacts not found at {path}; run `shopkeep models build`")
        self.path = path


class CatalogError(ShopkeepError):
    """A catalogue file could not be read. ``line`` is 1-based when known."""

    def __init__(self, path: str, reason: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {reason}")
        self.path = path
        self.line = line


class BotDefinitionError(ShopkeepError):
    """A bot's data files (intents, responses, ...) are inconsistent."""
