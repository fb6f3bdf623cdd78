"""``make bench``: encoder, end-to-end and cold-start figures in one run, before and after side by side.

    python -m bench.perf            # full run (~15-20 min on 2 cores)
    python -m bench.perf --quick    # a few minutes
    python -m bench.perf --before ''   # skip the "before" tree

Runs :mod:`bench.encoder` (its own ``encoder.json``/``encoder.png``; the int8
graph shipped before this work, blockwise ``MatMulNBits``, is rebuilt and
measured beside the current one), then the end-to-end load of
:mod:`bench.e2e` with micro-batching on and off, the same load on the tree
*before* (``--before REF``, ``git archive`` into a scratch folder, its own
code on the same artifacts but with the int8 graph it shipped), the load split
over 1 and 2 processes (:mod:`bench.e2e_procs`), event recording on and off,
the owner's dashboard at scale (:mod:`bench.dashboard`, its own
``dashboard.json``), then :mod:`bench.coldstart`.
Writes ``bench/results/perf.json`` and ``e2e.png``; prints each before/after
pair side by side.
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
from bench.coldstart import REPO_ROOT, measure_coldstart
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
from bench.e2e_procs import measure_processes, print_processes

console = Console()
# The tree before the issue-12 work (one round trip per store call, blockwise int8): "before" in make bench.
BEFORE_REF = "b1088af"
TARGET_READY_S = 2.0
TARGET_RSS_MB = 400.0


def run_before_tree(ref: str, *, conversations: int, messages: int, rates: tuple[float, ...],
                    artifacts_dir: Path) -> dict[str, Any] | None:
    """``bench.e2e`` of the tree at ``ref`` (its own code) on a copy of the artifacts whose int8 graph is the
    blockwise one that tree shipped; None (with the reason printed) when it cannot run."""
    import shutil
    import tempfile

    from bench.encoder import blockwise_int8_artifacts

    with tempfile.TemporaryDirectory(prefix="bench-before-") as tmp_name:
        tmp = Path(tmp_name)
        tree = tmp / "tree"
        tree.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", ref], capture_output=True, check=False)
        if archive.returncode != 0:
            console.print(f"[yellow]before: git archive {ref} failed: {archive.stderr.decode()[-300:]}[/]")
            return None
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
        artifacts = tmp / "artifacts"
        shutil.copytree(artifacts_dir, artifacts, ignore=shutil.ignore_patterns("encoder"))
        blockwise_int8_artifacts(artifacts_dir / "encoder", artifacts / "encoder")
        out = tmp / "e2e_before.json"
        from core.settings import Settings

        env = {**os.environ, "SHOPKEEP_ARTIFACTS_DIR": str(artifacts), "SHOPKEEP_DATASETS": str(Settings().datasets_dir),
               "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(tree)}
        done = subprocess.run([sys.executable, "-m", "bench.e2e", "--conversations", str(conversations), "--messages",
                               str(messages), "--rates", ",".join(f"{r:g}" for r in rates), "--out", str(out)],
                              cwd=tree, env=env, check=False)
        if done.returncode != 0 or not out.exists():
            console.print(f"[yellow]before: bench.e2e at {ref} failed (exit {done.returncode})[/]")
            return None
        payload = json.loads(out.read_text())
        payload["ref"] = ref
        return payload


def print_side_by_side(before: dict[str, Any] | None, after: dict[str, Any], procs: list[dict[str, Any]],
                       coldstart: dict[str, Any], encoder: dict[str, Any] | None) -> None:
    """Every target with its before and after figure in one table."""
    from rich.table import Table

    table = Table(title="before → after (same run, same machine)")
    for column in ("figure", "before", "after", "target", "met"):
        table.add_column(column, justify="left" if column == "figure" else "right")

    def row(name: str, was: float | None, now: float | None, target: str, ok: bool | None, fmt: str = "{:.0f}") -> None:
        table.add_row(name, "—" if was is None else fmt.format(was), "—" if now is None else fmt.format(now), target,
                      "" if ok is None else ("yes" if ok else "NO"))

    if encoder is not None:
        results = encoder["results"]
        for batch in sorted({m["batch_size"] for m in results}):
            ratio = {m["engine"]: m["ratio_to_pytorch"] for m in results if m["batch_size"] == batch}
            want = 4.0 if batch == 1 else 3.0 if batch <= 32 else None
            now = ratio.get("onnxruntime-int8")
            row(f"encoder int8 × PyTorch fp32, batch {batch}", ratio.get("onnxruntime-int8-blockwise"), now,
                "" if want is None else f"≥ {want:.0f}×", None if want is None or now is None else now >= want, "{:.2f}×")

    def closed(payload: dict[str, Any] | None) -> float | None:
        return None if payload is None else payload["results"][0]["messages_per_s"]

    def p99_at(payload: dict[str, Any] | None, rate: float) -> float | None:
        points = [] if payload is None else [p for p in payload["open_loop"] if p["offered_per_s"] == rate]
        return points[0]["p99_ms"] if points else None

    now = closed(after)
    row("e2e 1 process, closed loop msg/s", closed(before), now, "≥ 500", None if now is None else now >= 500)
    p99 = p99_at(after, 400.0)
    row("e2e open loop p99 ms at 400 msg/s", p99_at(before, 400.0), p99, "≤ 50", None if p99 is None else p99 <= 50,
        "{:.1f}")
    if len(procs) > 1:
        row(f"e2e {procs[-1]['processes']} processes vs 1, msg/s", procs[0]["messages_per_s"],
            procs[-1]["messages_per_s"], "gain printed", None)
        table.add_row("  gain", "", f"{procs[-1]['gain_vs_first']:.2f}×", "", "")
    ready = coldstart["ready_s_median"]
    row("cold start to /readyz, s", None, ready, "≤ 2", ready <= TARGET_READY_S, "{:.2f}")
    rss = coldstart["rss_mb_median"]
    row("RSS per worker, MiB", None, rss, "≤ 400", rss <= TARGET_RSS_MB)
    console.print(table)


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
    before: Annotated[str, typer.Option(help="git ref of the 'before' tree ('' to skip).")] = BEFORE_REF,
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
    rates = (100.0, 400.0) if quick else (100.0, 200.0, 300.0, 400.0, 500.0)
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

    before_payload: dict[str, Any] | None = None
    if before:
        console.rule(f"end to end, tree before ({before})")
        from core.settings import Settings

        before_payload = run_before_tree(before, conversations=conversations, messages=messages, rates=rates,
                                         artifacts_dir=Settings().artifacts_dir)
    payload["e2e_before"] = before_payload

    console.rule("end to end, 1 and 2 processes (bench.e2e_procs)")
    procs = measure_processes((1, 2), conversations=conversations, messages=messages, warmup=100 if quick else 300)
    payload["e2e_processes"] = procs
    print_processes(procs)

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

    print_side_by_side(before_payload, e2e, procs, payload["coldstart"], payload["encoder"])
    payload["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    payload["seconds"] = time.monotonic() - started
    (out_dir / "perf.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {out_dir / 'perf.json'} and {out_dir / 'e2e.png'} in {payload['seconds']:.0f} s")
    if out_dir == RESULTS_DIR:
        from bench.report import update_doc

        if update_doc():
            console.print("updated the figures block of docs/benchmarks.md")


def main() -> None:
    typer.run(run)


if __name__ == "__main__":
    main()
