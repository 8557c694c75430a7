"""The Grafana dashboard, its provisioning and Prometheus's scrape of the workers agree with the
metrics the code exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from adapters.observability.metrics import BUSINESS_METRICS
from workflows import metrics as workflow_metrics

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "deploy" / "grafana" / "provisioning"
DASHBOARD = GRAFANA / "dashboards" / "q2c.json"

SDK_METRICS = (
    "temporal_workflow_task_execution_latency",
    "temporal_workflow_task_schedule_to_start_latency",
    "temporal_activity_schedule_to_start_latency",
    "temporal_activity_execution_failed_total",
)


def _queries(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_the_dashboard_is_valid_json_with_a_panel_for_each_business_metric() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    queries = _queries(dashboard)
    for metric in (*BUSINESS_METRICS, *SDK_METRICS):
        assert any(re.search(rf"\b{metric}(_bucket|_count)?\b", q) for q in queries), metric
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    datasource = yaml.safe_load((GRAFANA / "datasources" / "prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == uid, panel["title"]
            assert panel["description"], f"{panel['title']}: say what it shows"
            y = panel["gridPos"]["y"]
            assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24 and y >= 0


def test_grafana_provisions_the_dashboard_from_where_compose_mounts_it() -> None:
    provider = yaml.safe_load((GRAFANA / "dashboards" / "q2c.yml").read_text())["providers"][0]
    assert provider["type"] == "file"
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    mount = next(m for m in mounts if m.startswith("./deploy/grafana/provisioning:"))
    inside = mount.split(":")[1]
    assert provider["options"]["path"] == f"{inside}/dashboards"


def test_workflow_metric_names_are_the_exported_ones() -> None:
    assert workflow_metrics.QUOTE_TO_BILL in BUSINESS_METRICS
    assert f"{workflow_metrics.INVOICE_POSTINGS}_total" in BUSINESS_METRICS
    assert f"{workflow_metrics.JOURNAL_POSTINGS}_total" in BUSINESS_METRICS
