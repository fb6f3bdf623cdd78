"""The Grafana dashboard in deploy/ only asks for metrics /metrics really exposes, and shows them all."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase

from adapters.metrics import AdapterMetrics
from core.protocols import CacheStats

DASHBOARD = Path(__file__).resolve().parent.parent / "deploy" / "grafana" / "shopkeep-dashboard.json"
SUFFIXES = ("", "_total", "_bucket", "_count", "_sum")


def _exposed() -> dict[str, set[str]]:
    """Every series name /metrics can show, with its labels."""
    metrics = AdapterMetrics()
    metrics.watch_embedding_cache(lambda: CacheStats(hits=3, misses=1, entries=4, capacity=10))
    labels = {m._name: set(m._labelnames) for m in vars(metrics).values() if isinstance(m, MetricWrapperBase)}
    exposed: dict[str, set[str]] = {}
    for family in metrics.registry.collect():
        for suffix in SUFFIXES:
            exposed[family.name + suffix] = labels.get(family.name, set()) | {"le"}
    return exposed


def test_every_query_names_a_metric_and_labels_that_exist() -> None:
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exposed = _exposed()
    queries = [t["expr"] for p in board["panels"] for t in p["targets"]]
    assert len(queries) >= 12
    used: set[str] = set()
    for query in queries:
        names = re.findall(r"\b(shopkeep_[a-z_]+)", query)
        assert names, query
        for name in names:
            assert name in exposed, f"{name} is not exposed by /metrics"
            used.add(name)
        for group in re.findall(r"by \(([^)]*)\)", query):
            for label in (x.strip() for x in group.split(",")):
                assert label in exposed[names[0]], (label, names[0])
    families = {name for name in exposed if not name.endswith(SUFFIXES[1:])}
    assert all(any(u.startswith(f) for u in used) for f in families), families - {
        f for f in families if any(u.startswith(f) for u in used)}
    assert {p["id"] for p in board["panels"]} == set(range(1, len(board["panels"]) + 1))
