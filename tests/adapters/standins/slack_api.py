"""A stand-in for the Slack Web API (``https://slack.com/api/<method>``)."""

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
    """Answers like Slack (``{"ok": true, ...}``) and records every call.

    ``rate_limit_next(method)`` makes the next call of ``method`` answer
    HTTP 429 with ``Retry-After: 0``, once.
    """

    def __init__(self) -> None:
        super().__init__()
        self._ts = itertools.count(1)
        self._rate_limited: set[str] = set()
        self.app.router.add_post("/api/{method}", self._handle)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def rate_limit_next(self, method: str) -> None:
        self._rate_limited.add(method)

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await read_params(request)
        await self.recorder.record(Call(method=method, params=params, headers=dict(request.headers)))
        if not request.headers.get("Authorization", "").startswith("Bearer xox"):
            return web.json_response({"ok": False, "error": "not_authed"})
        if method in self._rate_limited:
            self._rate_limited.discard(method)
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "0"})
        return web.json_response(self._answer(method, params))

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True, "url": "https://example.slack.com/", "team": "Example", "user": "shopkeep",
                "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID, "is_enterprise_install": False,
            }
        if method in ("chat.postMessage", "chat.postEphemeral"):
            ts = f"{int(time.time())}.{next(self._ts):06d}"
            return {"ok": True, "channel": params.get("channel"), "ts": ts, "message": {"text": params.get("text")}}
        return {"ok": True}
