"""End to end with several processes: the same closed-loop load split over N processes on one Redis.

    python -m bench.e2e_procs                 # 1 then 2 processes, gain printed
    python -m bench.e2e_procs --processes 1,2,3

Each process builds its own runtime (encoder with ``cores / N`` ONNX Runtime
threads, as ``shopkeep serve --workers N`` gives it), warms up, waits at a
start line so all measure together, then drives ``conversations / N``
closed-loop shoppers through ``DialogueManager.handle`` on the shared real
Redis. Throughput is all messages over the span from the first start to the
last finish; the 1-process run goes through the same path, so the two compare
like for like. Written into ``perf.json`` by ``make bench``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from bench.e2e import _delete_prefix, add_payloads_from, percentile, run_load

console = Console()


async def _worker(*, conversations: int, messages: int, warmup: int, threads: int, prefix: str, redis_url: str,
                  start_line: Path, ready: Path, out: Path) -> None:
    from bots.runtime import build_runtime
    from core.keys import KeyBuilder
    from core.sessions import RedisSessionStore
    from core.settings import Settings

    settings = Settings().model_copy(update={"redis_url": redis_url, "intra_op_threads": threads})
    store = RedisSessionStore.from_url(redis_url, keys=KeyBuilder(prefix=prefix))
    runtime = await build_runtime(settings, store=store)
    try:
        payloads = add_payloads_from(runtime.manager)
        await run_load(runtime.manager.handle, conversations=min(conversations, warmup), messages=warmup,
                       add_payloads=payloads, label="warm-up")
        ready.touch()
        while not start_line.exists():
            await asyncio.sleep(0.005)
        started = time.time()
        latencies: list[float] = []

        async def handle(message: Any) -> Any:
            t0 = time.perf_counter()
            replies = await runtime.manager.handle(message)
            latencies.append((time.perf_counter() - t0) * 1000)
            return replies

        result = await run_load(handle, conversations=conversations, messages=messages, add_payloads=payloads,
                                label=f"worker {os.getpid()}")
        out.write_text(json.dumps({"started": started, "finished": time.time(), "latencies_ms": latencies,
                                   "result": asdict(result)}))
    finally:
        await runtime.aclose()


def measure_processes(counts: tuple[int, ...] = (1, 2), *, conversations: int = 100, messages: int = 3000,
                      warmup: int = 300, redis_url: str | None = None) -> list[dict[str, Any]]:
    """Run the load once per process count; returns one summary per count (gain vs the first)."""
    from models.encoder import default_threads

    url = redis_url or os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    cores = default_threads()
    summaries: list[dict[str, Any]] = []
    for n in counts:
        prefix = f"bench-procs-{uuid.uuid4().hex[:8]}"
        with tempfile.TemporaryDirectory(prefix="bench-procs-") as tmp_name:
            tmp = Path(tmp_name)
            start_line = tmp / "go"
            threads = max(1, cores // n)
            procs = []
            for i in range(n):
                args = [sys.executable, "-m", "bench.e2e_procs", "--worker", "--conversations",
                        str(conversations // n + (i < conversations % n)), "--messages",
                        str(messages // n + (i < messages % n)), "--warmup", str(max(1, warmup // n)),
                        "--threads", str(threads), "--prefix", prefix, "--redis-url", url,
                        "--start-line", str(start_line), "--ready", str(tmp / f"ready{i}"), "--out", str(tmp / f"out{i}")]
                procs.append(subprocess.Popen(args, env={**os.environ, "HF_HUB_OFFLINE": "1",
                                                         "TOKENIZERS_PARALLELISM": "false"}))
            deadline = time.monotonic() + 600
            while not all((tmp / f"ready{i}").exists() for i in range(n)):
                if any(p.poll() not in (None, 0) for p in procs) or time.monotonic() > deadline:
                    for p in procs:
                        p.kill()
                    raise RuntimeError(f"a bench worker failed before the start line ({n} processes)")
                time.sleep(0.05)
            start_line.touch()
            codes = [p.wait(900) for p in procs]
            if any(codes):
                raise RuntimeError(f"bench workers exited with {codes}")
            parts = [json.loads((tmp / f"out{i}").read_text()) for i in range(n)]
        asyncio.run(_delete_prefix(url, prefix))
        span = max(p["finished"] for p in parts) - min(p["started"] for p in parts)
        latencies = [ms for p in parts for ms in p["latencies_ms"]]
        done = sum(len(p["latencies_ms"]) for p in parts)
        summaries.append({
            "processes": n, "threads_per_process": threads, "conversations": conversations, "messages": done,
            "errors": sum(p["result"]["errors"] for p in parts), "seconds": span,
            "messages_per_s": done / span if span else 0.0, "p50_ms": percentile(latencies, 50),
            "p99_ms": percentile(latencies, 99), "rss_mb": [p["result"]["rss_mb"] for p in parts],
        })
    for s in summaries:
        s["gain_vs_first"] = s["messages_per_s"] / summaries[0]["messages_per_s"] if summaries[0]["messages_per_s"] else None
    return summaries


def print_processes(summaries: list[dict[str, Any]]) -> None:
    table = Table(title="end to end, closed loop, load split over N processes on one Redis")
    for column in ("processes", "threads each", "msg/s", "p50 ms", "p99 ms", "errors", "RSS MiB each", "gain"):
        table.add_column(column, justify="right")
    for s in summaries:
        table.add_row(str(s["processes"]), str(s["threads_per_process"]), f"{s['messages_per_s']:.0f}",
                      f"{s['p50_ms']:.1f}", f"{s['p99_ms']:.1f}", str(s["errors"]),
                      ", ".join(f"{r:.0f}" for r in s["rss_mb"]), f"{s['gain_vs_first']:.2f}×")
    console.print(table)


def run(
    processes: Annotated[str, typer.Option(help="Process counts to run, comma-separated.")] = "1,2",
    conversations: Annotated[int, typer.Option(help="Concurrent conversations in all.")] = 100,
    messages: Annotated[int, typer.Option(help="Messages measured in all.")] = 3000,
    warmup: Annotated[int, typer.Option(help="Warm-up messages in all.")] = 300,
    worker: Annotated[bool, typer.Option("--worker", hidden=True)] = False,
    threads: Annotated[int, typer.Option(hidden=True)] = 0,
    prefix: Annotated[str, typer.Option(hidden=True)] = "",
    redis_url: Annotated[str, typer.Option(hidden=True)] = "",
    start_line: Annotated[Path | None, typer.Option(hidden=True)] = None,
    ready: Annotated[Path | None, typer.Option(hidden=True)] = None,
    out: Annotated[Path | None, typer.Option(hidden=True)] = None,
) -> None:
    """Closed-loop load through 1, 2… processes sharing one Redis; prints throughput and the gain."""
    if worker:
        assert start_line is not None and ready is not None and out is not None
        asyncio.run(_worker(conversations=conversations, messages=messages, warmup=warmup, threads=threads,
                            prefix=prefix, redis_url=redis_url, start_line=start_line, ready=ready, out=out))
        return
    counts = tuple(int(x) for x in processes.split(",") if x.strip())
    print_processes(measure_processes(counts, conversations=conversations, messages=messages, warmup=warmup))


def main() -> None:
    typer.run(run)


if __name__ == "__main__":
    main()
