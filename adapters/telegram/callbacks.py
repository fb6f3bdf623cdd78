"""Button payloads within Telegram's 64-byte ``callback_data``.

A payload that fits is sent as is. A longer one is kept server-side as a
record (``store.put_record("tgcb", ...)``) and the button carries a short
token instead: ``~`` followed by 16 URL-safe characters. Plain payloads
never start with ``~``, so the two can never be confused.

Callback data comes from the client, so :meth:`CallbackCodec.decode` trusts
none of it: anything that is not a payload we could have sent (empty data,
``~`` followed by anything but a well-formed token) reads as an expired button.
"""

from __future__ import annotations

import logging
import re
import secrets

from core.protocols import SessionStore

logger = logging.getLogger(__name__)

MAX_CALLBACK_BYTES = 64
TOKEN_PREFIX = "~"
NAMESPACE = "tgcb"
_TOKEN_BYTES = 12  # token_urlsafe(12): 16 characters, 96 bits
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16}")


class CallbackExpired(LookupError):
    """A tokenised payload is no longer (or was never) in the store."""

    def __init__(self, data: str) -> None:
        super().__init__(f"callback payload {data!r} has expired")
        self.data = data


class CallbackCodec:
    """Encodes button payloads into ``callback_data`` and back.

    Args:
        store: Where long payloads are kept; without one they cannot be sent.
        ttl_s: How long a long payload stays pressable.
    """

    def __init__(self, *, store: SessionStore | None, ttl_s: int) -> None:
        self._store = store
        self._ttl_s = ttl_s

    @staticmethod
    def fits(payload: str) -> bool:
        return len(payload.encode("utf-8")) <= MAX_CALLBACK_BYTES and not payload.startswith(TOKEN_PREFIX)

    async def encode(self, payload: str) -> str | None:
        """``callback_data`` for ``payload``, or ``None`` when it cannot be carried (no store)."""
        if self.fits(payload):
            return payload
        if self._store is None:
            logger.warning("telegram: no store for a %d-byte button payload; dropping the button", len(payload))
            return None
        token = secrets.token_urlsafe(_TOKEN_BYTES)
        await self._store.put_record(NAMESPACE, token, {"payload": payload}, self._ttl_s)
        return TOKEN_PREFIX + token

    async def decode(self, data: str) -> str:
        """The payload a button carried.

        Raises:
            CallbackExpired: If it was kept server-side and is gone, or ``data``
                is nothing we send (empty, or ``~`` without a well-formed token).
            StorageError: If the store cannot be reached.
        """
        if not data:
            raise CallbackExpired(data)  # Telegram never sends empty data for our buttons
        if not data.startswith(TOKEN_PREFIX):
            return data
        token = data[len(TOKEN_PREFIX) :]
        if not _TOKEN.fullmatch(token):
            raise CallbackExpired(data)  # not a token we minted: no need to ask the store
        record = await self._store.get_record(NAMESPACE, token) if self._store else None
        payload = record.get("payload") if record else None
        if not isinstance(payload, str):
            raise CallbackExpired(data)
        return payload
