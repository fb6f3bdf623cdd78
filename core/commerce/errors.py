"""Errors of the commerce backends (offline demo data, Shopify). They carry data.

The bots catch :class:`CommerceError` at the edge and answer politely; the
server's ``/readyz`` reports :class:`CommerceAuthError` until the token works.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.errors import ShopkeepError


class CommerceError(ShopkeepError):
    """A commerce backend could not do what was asked."""


class CommerceUnavailable(CommerceError):
    """The shop's API cannot be reached, keeps failing or keeps throttling.

    ``retry_after_s`` is how long the backend suggests waiting, when known.
    """

    def __init__(self, reason: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(f"shop backend unavailable: {reason}")
        self.reason = reason
        self.retry_after_s = retry_after_s


class CommerceAuthError(CommerceError):
    """The API refused the credentials (HTTP 401/403): the token was revoked or lacks a scope."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"shop API refused the access token (HTTP {status}): {reason}")
        self.status = status
        self.reason = reason


class CommerceQueryError(CommerceError):
    """The API answered a query with errors (a bug on our side, or a schema change)."""

    def __init__(self, messages: Sequence[str], *, codes: Sequence[str] = ()) -> None:
        super().__init__("shop API query failed: " + "; ".join(messages))
        self.messages = tuple(messages)
        self.codes = tuple(codes)


class CommerceRejected(CommerceError):
    """A mutation was refused by the shop (``userErrors``): e.g. the order cannot be cancelled."""

    def __init__(self, action: str, messages: Sequence[str], *, codes: Sequence[str] = ()) -> None:
        super().__init__(f"{action} refused: " + "; ".join(messages))
        self.action = action
        self.messages = tuple(messages)
        self.codes = tuple(codes)
