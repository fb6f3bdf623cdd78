"""Record helpers shared by the session stores (JSON only, never pickle)."""

from __future__ import annotations

import json
from typing import Any


def record_ttl(ttl_s: int | None, default_s: int) -> int:
    """The TTL a record gets: its own, or the state TTL when none is given.

    Raises:
        ValueError: If ``ttl_s`` is not positive.
    """
    if ttl_s is None:
        return default_s
    if ttl_s <= 0:
        raise ValueError(f"record ttl_s must be positive, got {ttl_s}")
    return ttl_s


def load_record(raw: str | bytes) -> dict[str, Any]:
    """Parse a stored record.

    Raises:
        ValueError: If ``raw`` is not JSON.
        TypeError: If it is JSON but not an object.
    """
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise TypeError(f"a record must be a JSON object, got {type(value).__name__}")
    return value


def dump_record(value: dict[str, Any]) -> str:
    """Serialise a record to compact JSON text.

    Raises:
        TypeError: If ``value`` is not a dict of JSON-serialisable values.
    """
    if not isinstance(value, dict):
        raise TypeError(f"a record must be a dict, got {type(value).__name__}")
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
