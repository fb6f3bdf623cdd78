"""``make bench``: encoder, end-to-end and cold-start figures in one run.

    python -m bench.perf            # full run (~10-15 min on 2 cores)
    python -m bench.perf --quick    # < 3 min

Runs :mod:`bench.encoder` (its own ``encoder.json``/``encoder.png``), then the
end-to-end load of :mod:`bench.e2e` with micro-batching on and off (ratios to
the unbatched run in the same run), event recording on and off, the owner's
dashboard at scale (:mod:`bench.dashboard`, its own ``dashboard.json``), then
:mod:`bench.coldstart`. Writes
``bench/results/perf.json`` and ``e2e.png``; prints the tables.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from bench.charts import e2e_chart
from bench.coldstart import measure_coldstart
from bench.e2e import (
    RESULTS_DIR,
    TARGET_MESSAGES_PER_S,
    TARGET_P99_MS,
    measure_e2e,
    measure_recording,
    print_open_loop,
    print_recording,
    print_table,
)

console = Console()


def machine() -> dict[str, Any]:
    """Where the figures were measured (they mean little without it)."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {"platform": platform.platform(), "python": platform.python_version(), "cpu": model,
            "cpu_count": os.cpu_count(), "loadavg_at_start": [round(x, 2) for x in load]}


def run(
    quick: Annotated[bool, typer.Option("--quick", help="Short runs (< 3 min in all).")] = False,
    skip_encoder: Annotated[bool, typer.Option("--skip-encoder", help="Reuse bench/results/encoder.json.")] = False,
    conversations: Annotated[int, typer.Option(help="Concurrent simulated conversations.")] = 100,
    profile: Annotated[bool, typer.Option("--profile/--no-profile",
                                          help="cProfile the batched e2e run (slows it: figures not comparable).")] = False,
    out_dir: Annotated[Path, typer.Option(help="Results folder.")] = RESULTS_DIR,
) -> None:
    """Encoder, end-to-end (batching on/off) and cold-start benchmarks; writes ``perf.json``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    payload: dict[str, Any] = {"quick": quick, "machine": machine(),
                               "commands": {"all": f"python -m bench.perf{' --quick' if quick else ''}"}}

    if not skip_encoder:
        console.rule("encoder (python -m bench.encoder)")
        args = [sys.executable, "-m", "bench.encoder", "--out-dir", str(out_dir)] + (["--quick"] if quick else [])
        done = subprocess.run(args, check=False)
        if done.returncode != 0:
            console.print(f"[red]bench.encoder failed (exit {done.returncode}); continuing without its figures[/]")
    encoder_json = out_dir / "encoder.json"
    payload["encoder"] = json.loads(encoder_json.read_text()) if encoder_json.exists() else None

    console.rule("end to end (bench.e2e)")
    messages = 600 if quick else 3000
    rates = (100.0, 300.0, 500.0) if quick else (100.0, 200.0, 300.0, 400.0, 500.0)
    e2e = asyncio.run(measure_e2e(conversations=conversations, messages=messages, warmup=100 if quick else 300,
                                  profile=profile, rates=rates, rate_seconds=3.0 if quick else 6.0))
    payload["e2e"] = e2e
    print_table(e2e["results"], f"end to end: {conversations} conversations, real RedisSessionStore")
    print_open_loop(e2e["open_loop"])
    verdict = "met" if e2e["met"] else "MISSED"
    console.print(f"target ≥ {TARGET_MESSAGES_PER_S:.0f} msg/s at p99 ≤ {TARGET_P99_MS:.0f} ms: {verdict}")
    if e2e["profile_top"]:
        console.print("cProfile, batched run, by own time:", style="bold")
        console.print(e2e["profile_top"], markup=False, soft_wrap=True)
    e2e_chart(e2e["results"], out_dir / "e2e.png", target_rate=TARGET_MESSAGES_PER_S, target_p99_ms=TARGET_P99_MS,
              title=f"shop assistant end to end, {conversations} conversations, {os.cpu_count()} cores")

    console.rule("event recording on and off (bench.e2e.measure_recording)")
    payload["recording"] = asyncio.run(measure_recording(conversations=50, messages=600 if quick else 1500,
                                                         rounds=2 if quick else 3))
    print_recording(payload["recording"])

    console.rule("owner's dashboard at 200,000 messages/day (python -m bench.dashboard)")
    args = [sys.executable, "-m", "bench.dashboard", "--out", str(out_dir / "dashboard.json")] + (
        ["--quick"] if quick else [])
    done = subprocess.run(args, check=False)
    if done.returncode != 0:
        console.print(f"[red]bench.dashboard failed (exit {done.returncode})[/]")
    dashboard_json = out_dir / "dashboard.json"
    payload["dashboard"] = json.loads(dashboard_json.read_text()) if dashboard_json.exists() else None

    console.rule("cold start (bench.coldstart)")
    payload["coldstart"] = measure_coldstart(runs=1 if quick else 3)
    console.print(f"shopkeep serve → /readyz 200: {payload['coldstart']['ready_s_median']:.2f} s, "
                  f"worker RSS {payload['coldstart']['rss_mb_median']:.0f} MiB")

    payload["seconds"] = time.monotonic() - started
    (out_dir / "perf.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {out_dir / 'perf.json'} and {out_dir / 'e2e.png'} in {payload['seconds']:.0f} s")


def main() -> None:
    typer.run(run)


if __name__ == "__main__":
    main()
