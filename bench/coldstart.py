"""Cold start: ``shopkeep serve`` from process start to ``/readyz`` answering 200, and its RSS.

    python -m bench.coldstart              # 3 starts, median reported
    python -m bench.coldstart --runs 1

Also home of the small process helpers the soak uses (a throwaway
``redis-server`` and ``shopkeep serve`` subprocesses on free loopback ports).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from bench.e2e import RESULTS_DIR, rss_mb

REPO_ROOT = Path(__file__).resolve().parent.parent
SHOPKEEP = Path(sys.executable).with_name("shopkeep")
console = Console()


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RedisServer:
    """A private ``redis-server`` on a free loopback port; acknowledged writes survive :meth:`restart`.

    Started with ``--appendonly yes --appendfsync always`` in its own temporary
    directory, so a stop/start keeps every write it acknowledged.
    """

    port: int = field(default_factory=free_port)
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="shopkeep-redis-")))
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, timeout_s: float = 10.0) -> float:
        """Start (or restart) the server and wait until it answers PING; returns the wall time it answered."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
             "--appendfsync", "always", "--dir", str(self.directory), "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.ping():
                return time.monotonic()
            time.sleep(0.02)
        raise RuntimeError(f"redis-server on port {self.port} did not answer within {timeout_s}s")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s)."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


@dataclass
class ServeProcess:
    """One ``shopkeep serve`` subprocess on a free loopback port."""

    env: Mapping[str, str]
    args: tuple[str, ...] = ()  # more `shopkeep serve` options (``("--workers", "2")``)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    log: Path = field(default_factory=lambda: Path(tempfile.mkstemp(prefix="shopkeep-serve-", suffix=".log")[1]))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **self.env}
        self.started_at = time.monotonic()
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(SHOPKEEP), "serve", "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
                 *self.args],
                env=env, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
            )

    def wait_ready(self, *, timeout_s: float = 180.0) -> float:
        """Poll ``/readyz`` until 200; returns seconds since :meth:`start`.

        Raises:
            RuntimeError: the process exited or did not get ready in time (its log tail attached).
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"shopkeep serve exited early:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=1.0) as response:
                    if response.status == 200:
                        return time.monotonic() - self.started_at
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"shopkeep serve not ready after {timeout_s}s:\n{self.log_tail()}")

    def rss(self) -> tuple[float, float]:
        """(current, peak) RSS of the worker in MiB."""
        return rss_mb(self.process.pid) if self.process is not None else (0.0, 0.0)

    def worker_pids(self) -> list[int]:
        """The processes serving requests: the children uvicorn spawned for ``--workers``, else this one."""
        if self.process is None:
            return []
        children: list[int] = []
        for task in Path(f"/proc/{self.process.pid}/task").glob("*/children"):
            try:
                children += [int(pid) for pid in task.read_text().split()]
            except OSError:
                continue
        # multiprocessing's spawn starts a resource tracker too: it never loads the app.
        serving = [pid for pid in children if "resource_tracker" not in _cmdline(pid)]
        return serving or [self.process.pid]

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None
        self.log.unlink(missing_ok=True)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def serve_env(*, redis_url: str, slack_api_url: str = "http://127.0.0.1:9/api/",
              signing_secret: str = "bench-signing-secret") -> dict[str, str]:
    """Environment for a Slack-only HTTP server on the given Redis (no real platform is contacted)."""
    return {
        "SHOPKEEP_PLATFORMS": "slack",
        "SLACK_BOT_TOKEN": "xoxb-bench-token",
        "SLACK_SIGNING_SECRET": signing_secret,
        "SLACK_API_URL": slack_api_url,
        "REDIS_URL": redis_url,
    }


def measure_coldstart(*, runs: int = 3, redis_url: str | None = None) -> dict[str, Any]:
    """Start ``shopkeep serve`` ``runs`` times; time to ``/readyz`` 200 and the worker's RSS once ready."""
    url = redis_url or os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    samples: list[dict[str, float]] = []
    for _ in range(runs):
        server = ServeProcess(env=serve_env(redis_url=url))
        server.start()
        try:
            ready_s = server.wait_ready()
            time.sleep(0.5)  # let start-up allocations settle before reading RSS
            rss, peak = server.rss()
            samples.append({"ready_s": ready_s, "rss_mb": rss, "peak_rss_mb": peak})
        finally:
            server.stop()
    return {
        "command": "shopkeep serve (SHOPKEEP_PLATFORMS=slack, Redis store)",
        "runs": samples,
        "ready_s_median": statistics.median(s["ready_s"] for s in samples),
        "rss_mb_median": statistics.median(s["rss_mb"] for s in samples),
    }


def run(
    runs: Annotated[int, typer.Option(help="How many cold starts.")] = 3,
    out: Annotated[Path, typer.Option(help="JSON output.")] = RESULTS_DIR / "coldstart.json",
) -> None:
    """Process start of ``shopkeep serve`` to ``/readyz`` 200, and the worker's RSS."""
    result = measure_coldstart(runs=runs)
    console.print(f"cold start: median {result['ready_s_median']:.2f} s to /readyz 200, "
                  f"RSS {result['rss_mb_median']:.0f} MiB ({runs} runs)")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    typer.run(run)


if __name__ == "__main__":
    main()
