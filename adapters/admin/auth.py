"""Who may see the dashboard, and proof that a form was sent from it.

* **Login**: the owner types ``SHOPKEEP_ADMIN_TOKEN``; it is compared in
  constant time. Failures are counted per client address (too many in a
  short while: 429 for a while).
* **Session**: a signed cookie (HMAC-SHA256 with a key derived from the
  token, so changing the token logs everyone out) holding a random session
  id, whether it is logged in, and its expiry. ``HttpOnly``,
  ``SameSite=Strict``, ``Path=/admin``, and ``Secure`` when served over
  https. A new session id is issued at login (no fixation); logging out
  revokes the id server-side.
* **CSRF**: every form carries ``nonce.signature`` where the signature
  binds the nonce to the session id. A POST whose token is missing, forged
  or from another session is refused with 403, and each nonce is accepted
  once (claimed in Redis), so a replayed form is refused too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import deque
from dataclasses import dataclass
from typing import Protocol

COOKIE = "shopkeep_admin"
CSRF_FIELD = "csrf"
_MAX_FAILURES = 10
_FAILURE_WINDOW_S = 300.0


class NonceStore(Protocol):
    """Remembers one-time values for a while (shared by every worker)."""

    async def claim(self, name: str, ttl_s: int) -> bool:
        """True the first time ``name`` is claimed within ``ttl_s``."""
        ...

    async def seen(self, name: str) -> bool:
        """Whether ``name`` was claimed and has not expired."""
        ...


@dataclass(frozen=True)
class Session:
    sid: str
    authenticated: bool
    expires: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class AdminAuth:
    """Sessions and CSRF tokens for one admin token.

    Args:
        token: ``SHOPKEEP_ADMIN_TOKEN``.
        nonces: where used CSRF nonces and revoked sessions are remembered.
        session_ttl_s: how long a login lasts.
    """

    def __init__(self, *, token: str, nonces: NonceStore, session_ttl_s: int = 12 * 3600) -> None:
        if not token:
            raise ValueError("an admin token is required")
        self._token = token.encode()
        self._key = hmac.new(self._token, b"shopkeep-admin-v1", hashlib.sha256).digest()
        self.nonces = nonces
        self.session_ttl_s = session_ttl_s
        self._failures: dict[str, deque[float]] = {}

    # --- the token ------------------------------------------------------------------
    def token_matches(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self._token)

    def too_many_failures(self, client: str) -> bool:
        recent = self._recent(client)
        return len(recent) >= _MAX_FAILURES

    def record_failure(self, client: str) -> None:
        self._recent(client).append(time.monotonic())

    def _recent(self, client: str) -> deque[float]:
        failures = self._failures.setdefault(client, deque())
        cutoff = time.monotonic() - _FAILURE_WINDOW_S
        while failures and failures[0] < cutoff:
            failures.popleft()
        if len(self._failures) > 10_000:  # bound the table; a flood of addresses forgets the oldest
            self._failures.pop(next(iter(self._failures)))
        return failures

    # --- sessions ---------------------------------------------------------------------
    def _sign(self, payload: bytes) -> str:
        return _b64(hmac.new(self._key, payload, hashlib.sha256).digest())

    def new_session(self, *, authenticated: bool) -> Session:
        return Session(sid=secrets.token_urlsafe(18), authenticated=authenticated,
                       expires=float(int(time.time()) + self.session_ttl_s))

    def cookie_value(self, session: Session) -> str:
        payload = json.dumps({"sid": session.sid, "auth": session.authenticated, "exp": int(session.expires)},
                             separators=(",", ":")).encode()
        return f"{_b64(payload)}.{self._sign(payload)}"

    async def read_cookie(self, value: str | None) -> Session | None:
        """The session a cookie holds, or None when it is missing, forged, expired or revoked."""
        if not value or value.count(".") != 1:
            return None
        body, signature = value.split(".")
        try:
            payload = _unb64(body)
        except (ValueError, TypeError):
            return None
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            data = json.loads(payload)
            session = Session(sid=str(data["sid"]), authenticated=bool(data["auth"]), expires=float(data["exp"]))
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires < time.time():
            return None
        if session.authenticated and await self.nonces.seen(f"revoked:{session.sid}"):
            return None
        return session

    async def revoke(self, session: Session) -> None:
        await self.nonces.claim(f"revoked:{session.sid}", max(1, int(session.expires - time.time())))

    # --- CSRF --------------------------------------------------------------------------
    def csrf_token(self, session: Session) -> str:
        nonce = secrets.token_urlsafe(12)
        return f"{nonce}.{self._sign(f'csrf:{session.sid}:{nonce}'.encode())}"

    async def check_csrf(self, session: Session | None, token: str | None) -> bool:
        """True once for a token made for this session; forged, foreign or replayed tokens are False."""
        if session is None or not token or token.count(".") != 1:
            return False
        nonce, signature = token.split(".")
        if not nonce or not hmac.compare_digest(signature, self._sign(f"csrf:{session.sid}:{nonce}".encode())):
            return False
        return await self.nonces.claim(f"csrf:{nonce}", self.session_ttl_s)
