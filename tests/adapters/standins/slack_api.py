"""A stand-in for the Slack Web API (``https://slack.com/api/<method>``).

It keeps the messages the bot posted, per channel and ``ts``, so that
``chat.update`` behaves as Slack's does: it replaces a message the bot posted
and answers ``message_not_found`` for any other ``ts``. Answers follow Slack's
wire format: ``{"ok": true, ...}`` with the method's fields, or
``{"ok": false, "error": "<code>"}`` with HTTP 200.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from aiohttp import web

from tests.adapters.standins.recorder import Call, StandinServer, read_params

BOT_USER_ID = "UBOT0001"
BOT_ID = "BBOT0001"
TEAM_ID = "T0001"


class SlackApiStandin(StandinServer):
    """Answers like Slack and records every call.

    ``rate_limit_next(method)`` makes the next call of ``method`` answer
    HTTP 429 with ``Retry-After: 0``, once; ``fail_next(method, error)`` makes
    it answer ``{"ok": false, "error": error}``, once.
    """

    def __init__(self) -> None:
        super().__init__()
        self._ts = itertools.count(1)
        self._rate_limited: set[str] = set()
        self._failing: dict[str, str] = {}
        #: (channel, ts) → the message as Slack would return it.
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.app.router.add_post("/api/{method}", self._handle)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def rate_limit_next(self, method: str) -> None:
        self._rate_limited.add(method)

    def fail_next(self, method: str, error: str) -> None:
        self._failing[method] = error

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await read_params(request)
        await self.recorder.record(Call(method=method, params=params, headers=dict(request.headers)))
        if not request.headers.get("Authorization", "").startswith("Bearer xox"):
            return web.json_response({"ok": False, "error": "not_authed"})
        if method in self._rate_limited:
            self._rate_limited.discard(method)
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "0"})
        if method in self._failing:
            return web.json_response({"ok": False, "error": self._failing.pop(method)})
        return web.json_response(self._answer(method, params))

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _message(self, params: dict[str, Any], ts: str) -> dict[str, Any]:
        message = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "text": params.get("text", ""),
                   "ts": ts, "team": TEAM_ID}
        if params.get("blocks"):
            message["blocks"] = params["blocks"]
        if params.get("thread_ts"):
            message["thread_ts"] = params["thread_ts"]
        return message

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True, "url": "https://example.slack.com/", "team": "Example", "user": "shopkeep",
                "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID, "is_enterprise_install": False,
            }
        channel = str(params.get("channel") or "")
        if method in ("chat.postMessage", "chat.postEphemeral", "chat.update"):
            if not channel:
                return {"ok": False, "error": "channel_not_found"}
            if not (params.get("text") or params.get("blocks")):
                return {"ok": False, "error": "no_text"}
        if method == "chat.postMessage":
            ts = self._next_ts()
            message = self._message(params, ts)
            self.messages[(channel, ts)] = message
            return {"ok": True, "channel": channel, "ts": ts, "message": message}
        if method == "chat.postEphemeral":
            if not params.get("user"):
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "message_ts": self._next_ts()}  # never stored: it cannot be updated
        if method == "chat.update":
            ts = str(params.get("ts") or "")
            if (channel, ts) not in self.messages:
                return {"ok": False, "error": "message_not_found"}
            message = self._message(params, ts)
            self.messages[(channel, ts)] = message
            return {"ok": True, "channel": channel, "ts": ts, "text": message["text"], "message": message}
        return {"ok": True}
