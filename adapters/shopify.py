"""Shopify webhooks over HTTP: a thin translator between Starlette and the shop's event receiver.

The receiver verifies the signature on the raw body, drops repeats and queues
the delivery; this route only hands it the headers and bytes and turns its
verdict into the HTTP answer (200 taken, 401 forged, 400 malformed, 503 try
again later), always well within Shopify's 5 seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

PATH = "/shopify/webhooks"


class WebhookReceiver(Protocol):
    async def receive(self, headers: Mapping[str, str], body: bytes) -> tuple[int, str]: ...


async def handle_webhook(request: Request, receiver: WebhookReceiver) -> Response:
    """Answer one delivery (``receiver`` decides; nothing here parses the body)."""
    status, reason = await receiver.receive(request.headers, await request.body())
    return JSONResponse({"ok": status == 200, "result": reason}, status_code=status)
