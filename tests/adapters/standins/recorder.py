"""Call recording and the aiohttp server plumbing the stand-ins share."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web


@dataclass
class Call:
    """One API call as received: method name, decoded parameters, headers."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _maybe_json(value: str) -> Any:
    if value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


async def read_params(request: web.Request) -> dict[str, Any]:
    """Parameters from a JSON, url-encoded or multipart body (JSON-looking values decoded)."""
    if request.content_type == "application/json":
        body = await request.read()
        return json.loads(body) if body else {}
    form = await request.post()
    params: dict[str, Any] = {k: _maybe_json(v) if isinstance(v, str) else v for k, v in form.items()}
    params.update({k: _maybe_json(v) for k, v in request.query.items()})
    return params


class Recorder:
    """Records calls and lets tests wait until some have arrived."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._changed = asyncio.Condition()

    async def record(self, call: Call) -> None:
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    def of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 15.0) -> list[Call]:
        """Wait until ``count`` calls of ``method`` arrived (a deadline, not a speed check)."""
        await self.wait_until(lambda: len(self.of(method)) >= count, f"{count} x {method}", timeout)
        return self.of(method)

    async def wait_until(self, arrived: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
        """Wait until ``arrived()`` holds over the calls so far (a deadline, not a speed check)."""

        async def waiting() -> None:
            async with self._changed:
                await self._changed.wait_for(arrived)

        try:
            await asyncio.wait_for(waiting(), timeout)
        except TimeoutError as error:
            seen = [c.method for c in self.calls]
            raise AssertionError(f"expected {what}, got calls {seen}") from error

    def assert_received_request_count(self, method: str, count: int) -> None:
        """Exactly ``count`` calls of ``method`` so far (as bolt-python's mock server asserts)."""
        seen = len(self.of(method))
        assert seen == count, f"expected {count} x {method}, received {seen}: {[c.method for c in self.calls]}"


class StandinServer:
    """An aiohttp app on 127.0.0.1 with an ephemeral port; use ``async with``."""

    def __init__(self) -> None:
        self.recorder = Recorder()
        self.app = web.Application()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Self:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server  # aiohttp exposes the bound socket only here
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
