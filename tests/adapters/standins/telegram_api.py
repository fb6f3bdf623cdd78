"""A stand-in for the Telegram Bot API (``https://api.telegram.org/bot<token>/<method>``)."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from aiohttp import web

from tests.adapters.standins.recorder import Call, StandinServer, read_params

BOT = {"id": 4242, "is_bot": True, "first_name": "Shopkeep", "username": "shopkeep_test_bot",
       "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}


class TelegramApiStandin(StandinServer):
    """Answers like the Bot API (``{"ok": true, "result": ...}``) and records every call.

    ``queue_update(update)`` feeds ``getUpdates`` for polling tests.
    ``fail_next(method, ...)`` makes the next call of ``method`` fail as the Bot API
    does: HTTP ``error_code`` with ``{"ok": false, "error_code": ..., "description": ...}``
    (by default what a user who blocked the bot gets). ``editMessageText`` edits a
    message the bot sent, and answers 400 "message to edit not found" for any other.
    """

    def __init__(self, *, token: str) -> None:
        super().__init__()
        self.token = token
        self._message_ids = itertools.count(100)
        self._updates: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._failing: dict[str, tuple[int, str]] = {}
        #: message_id → the message as the Bot API returned it.
        self.messages: dict[int, dict[str, Any]] = {}
        self.app.router.add_post("/bot{token}/{method}", self._handle)

    @property
    def api_url(self) -> str:
        return f"{self.url}/bot"

    def queue_update(self, update: dict[str, Any]) -> None:
        self._updates.put_nowait(update)

    def fail_next(self, method: str, *, error_code: int = 403,
                  description: str = "Forbidden: bot was blocked by the user") -> None:
        self._failing[method] = (error_code, description)

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await read_params(request)
        await self.recorder.record(Call(method=method, params=params))
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        if method in self._failing:
            code, description = self._failing.pop(method)
            return web.json_response({"ok": False, "error_code": code, "description": description}, status=code)
        if method == "editMessageText" and int(params.get("message_id") or 0) not in self.messages:
            return web.json_response({"ok": False, "error_code": 400,
                                      "description": "Bad Request: message to edit not found"}, status=400)
        result = await self._result(method, params)
        return web.json_response({"ok": True, "result": result})

    async def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT
        if method == "getUpdates":
            updates = []
            try:
                updates.append(await asyncio.wait_for(self._updates.get(), 0.2))
            except TimeoutError:
                pass
            while not self._updates.empty():
                updates.append(self._updates.get_nowait())
            return updates
        if method in ("sendMessage", "sendPhoto"):
            message: dict[str, Any] = {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "from": BOT,
            }
            if method == "sendMessage":
                message["text"] = params.get("text", "")
            else:
                message["photo"] = [{"file_id": "AgAD", "file_unique_id": "u1", "width": 90, "height": 90}]
                message["caption"] = params.get("caption", "")
            self.messages[message["message_id"]] = message
            return message
        if method == "editMessageText":
            message = {**self.messages[int(params["message_id"])], "text": params.get("text", ""),
                       "edit_date": int(time.time())}
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
            self.messages[message["message_id"]] = message
            return message
        return True  # answerCallbackQuery, setWebhook, deleteWebhook, ...
