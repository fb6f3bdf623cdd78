"""PNG charts for ``bench/results`` (matplotlib, Agg backend; imported lazily)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def e2e_chart(results: Sequence[dict[str, Any]], path: Path, *, target_rate: float, target_p99_ms: float,
              title: str) -> None:
    """Throughput and latency percentiles per run (batching on/off), with the targets drawn in."""
    plt = _pyplot()
    labels = [r["label"] for r in results]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    left.bar(labels, [r["messages_per_s"] for r in results], color="#4c72b0")
    left.axhline(target_rate, color="#c44e52", linestyle="--", label=f"target {target_rate:.0f} msg/s")
    left.set_ylabel("messages / s")
    left.set_title("throughput")
    left.legend()
    width = 0.25
    for k, (name, color) in enumerate((("p50_ms", "#55a868"), ("p95_ms", "#dd8452"), ("p99_ms", "#8172b3"))):
        right.bar([i + (k - 1) * width for i in range(len(results))], [r[name] for r in results], width,
                  label=name.replace("_ms", ""), color=color)
    right.axhline(target_p99_ms, color="#c44e52", linestyle="--", label=f"p99 target {target_p99_ms:.0f} ms")
    right.set_xticks(range(len(results)))
    right.set_xticklabels(labels)
    right.set_ylabel("latency per message (ms)")
    right.set_yscale("log")
    right.set_title("latency")
    right.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def soak_chart(verdicts: dict[str, bool], path: Path) -> None:
    """One row per reliability target, green when met."""
    plt = _pyplot()
    names = list(verdicts)
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(names) + 0.8))
    ax.barh(names, [1] * len(names), color=["#55a868" if verdicts[n] else "#c44e52" for n in names])
    ax.set_xticks([])
    ax.invert_yaxis()
    ax.set_title("reliability targets (green: met)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
