"""The Grafana dashboard in deploy/ only asks for metrics /metrics really exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from adapters.metrics import AdapterMetrics

DASHBOARD = Path(__file__).resolve().parent.parent / "deploy" / "grafana" / "shopkeep-dashboard.json"


def test_every_query_names_a_metric_and_labels_that_exist() -> None:
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    metrics = AdapterMetrics()
    exposed: dict[str, set[str]] = {}
    for family in metrics.registry.collect():
        names = {family.name, f"{family.name}_total", f"{family.name}_bucket", f"{family.name}_count",
                 f"{family.name}_sum"}
        labels = set(getattr(metrics, _attr(family.name))._labelnames) | {"le"}
        for name in names:
            exposed[name] = labels
    queries = [t["expr"] for p in board["panels"] for t in p["targets"]]
    assert len(queries) >= 10
    used = set()
    for query in queries:
        for name in re.findall(r"\b(shopkeep_[a-z_]+)", query):
            assert name in exposed, f"{name} is not exposed by /metrics"
            used.add(name)
        for labels in re.findall(r"by \(([^)]*)\)", query):
            for label in (x.strip() for x in labels.split(",")):
                metric = re.findall(r"\b(shopkeep_[a-z_]+)", query)[0]
                assert label in exposed[metric], (label, metric)
    # Every metric family is on the dashboard.
    families = {f.name for f in metrics.registry.collect()}
    assert all(any(u.startswith(f) for u in used) for f in families), families
    assert {p["id"] for p in board["panels"]} == set(range(1, len(board["panels"]) + 1))


def _attr(family: str) -> str:
    return {"shopkeep_messages": "messages", "shopkeep_message_latency_seconds": "latency",
            "shopkeep_intents": "intents", "shopkeep_fallbacks": "fallbacks", "shopkeep_handoffs": "handoffs",
            "shopkeep_events": "events", "shopkeep_errors": "errors",
            "shopkeep_duplicate_deliveries": "duplicates"}[family]
