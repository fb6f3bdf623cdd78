"""Regenerate the figures block of ``docs/benchmarks.md`` from ``perf.json`` (and ``soak.json``).

    python -m bench.report      # also run at the end of make bench and make soak

Only the text between ``<!-- figures:begin -->`` and ``<!-- figures:end -->``
is replaced; the prose around it is written by people.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.e2e import RESULTS_DIR

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
BEGIN, END = "<!-- figures:begin -->", "<!-- figures:end -->"


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS_DIR / name
    return json.loads(path.read_text()) if path.exists() else None


def _fmt(value: float | None, pattern: str = "{:.0f}") -> str:
    return "—" if value is None else pattern.format(value)


def _point(point: dict[str, Any]) -> str:
    return f"{point['p99_ms']:.1f} ({point['achieved_per_s']:.0f})"


def render(perf: dict[str, Any] | None, soak: dict[str, Any] | None) -> str:
    """The markdown of the figures block."""
    lines: list[str] = []
    if perf is not None:
        machine = perf["machine"]
        lines += [(f"Last `make bench` (`python -m bench.perf{' --quick' if perf.get('quick') else ''}`): "
                   f"{machine.get('cpu', '?')}, {machine.get('cpu_count')} cores, load average "
                   f"{machine.get('loadavg_at_start')} at start, {machine.get('loadavg_at_end', '?')} at end, "
                   f"{perf.get('seconds', 0):.0f} s."), ""]
        encoder = perf.get("encoder")
        if encoder:
            header = ("| batch | PyTorch fp32 sent/s | ORT fp32 (×) | int8 blockwise, before (×) | int8 shipped, after (×) "
                      "| min cos after | target |")
            lines += [header, "|---:|---:|---:|---:|---:|---:|---|"]
            for batch in sorted({m["batch_size"] for m in encoder["results"]}):
                by = {m["engine"]: m for m in encoder["results"] if m["batch_size"] == batch}

                def cell(name: str, by: dict[str, Any] = by) -> str:
                    m = by.get(name)
                    return "—" if m is None else f"{m['sentences_per_s']:.0f} ({m['ratio_to_pytorch']:.2f}×)"

                after = by.get("onnxruntime-int8", {})
                target = "≥ 4×" if batch == 1 else "≥ 3×" if batch <= 32 else ""
                lines.append(f"| {batch} | {by['pytorch-fp32']['sentences_per_s']:.0f} | {cell('onnxruntime-fp32')} | "
                             f"{cell('onnxruntime-int8-blockwise')} | {cell('onnxruntime-int8')} | "
                             f"{_fmt(after.get('cosine_min_vs_pytorch'), '{:.4f}')} | {target} |")
            lines.append("")
        e2e, before = perf.get("e2e"), perf.get("e2e_before")
        if e2e:
            lines += ["| end to end, one process | before | after | target |", "|---|---:|---:|---|"]
            closed = (before["results"][0]["messages_per_s"] if before else None, e2e["results"][0]["messages_per_s"])
            lines.append(f"| closed loop msg/s (100 conversations, batching on) | {_fmt(closed[0])} | {_fmt(closed[1])} "
                         f"| ≥ 500 |")
            for point in e2e["open_loop"]:
                rate = point["offered_per_s"]
                was = [p for p in (before or {}).get("open_loop", []) if p["offered_per_s"] == rate]
                lines.append(f"| open loop {rate:.0f} msg/s offered: p99 ms (achieved msg/s) | "
                             f"{_point(was[0]) if was else '—'} | {_point(point)} | "
                             f"{'≤ 50 at 400' if rate == 400 else ''} |")
            lines.append("")
        procs = perf.get("e2e_processes")
        if procs:
            lines += ["| processes | ONNX threads each | msg/s | p99 ms | RSS MiB each | gain |", "|---:|---:|---:|---:|---|---:|"]
            for s in procs:
                lines.append(f"| {s['processes']} | {s['threads_per_process']} | {s['messages_per_s']:.0f} | "
                             f"{s['p99_ms']:.1f} | {', '.join(f'{r:.0f}' for r in s['rss_mb'])} | {s['gain_vs_first']:.2f}× |")
            lines.append("")
        cold = perf.get("coldstart")
        if cold:
            lines += [(f"Cold start `shopkeep serve` → `/readyz` 200: **{cold['ready_s_median']:.2f} s** (target ≤ 2 s); "
                       f"worker RSS **{cold['rss_mb_median']:.0f} MiB** (target ≤ 400)."), ""]
    cluster = (soak or {}).get("cluster_failover")
    if cluster:
        lines += [(f"Cluster failover (`make soak`, {cluster['serve']}, {cluster['cluster']}): {cluster['messages']} "
                   f"messages, **{cluster['duplicate_replies']} duplicate replies**, **{cluster['unanswered']} unanswered**, "
                   f"{cluster['acknowledged_cart_adds']} acknowledged cart adds, **{cluster['acknowledged_lost']} lost**; "
                   f"replica promoted {cluster['failover_s']:.2f} s after the kill, **time to recovery "
                   f"{cluster['recovery_s']:.2f} s** (target ≤ 5 s)."), ""]
    return "\n".join(lines).rstrip() + "\n"


def update_doc(doc: Path = DOC) -> bool:
    """Replace the figures block; False when the markers are missing."""
    text = doc.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        return False
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    soak = _load("soak.json") or _load("soak_cluster.json")
    doc.write_text(f"{head}{BEGIN}\n{render(_load('perf.json'), soak)}{END}{tail}", encoding="utf-8")
    return True


if __name__ == "__main__":
    print("updated" if update_doc() else f"no {BEGIN} block in {DOC}")
