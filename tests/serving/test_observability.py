"""The observability stack against real servers: a real Prometheus scrapes the real service and the
real pipeline exporter (`mlops exporter`) on the serving tests' home, evaluates the project's rules,
and answers every rule's and every dashboard panel's expression with data."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import httpx
import pytest

from mlops_assets.lib.quality.score_bins import LABELS
from mlops_assets.ops.servers import exporter_command, start_server
from mlops_assets.settings import Settings
from tests.serving.conftest import Served, new_transactions
from tests.support.history import DAYS
from tests.support.processes import free_port
from tests.support.prometheus import (
    Prometheus,
    alert_rules,
    panel_expressions,
    prometheus_server,
    rule_expressions,
)

LAST_DAY = f"2025-03-{DAYS:02d}"
TRAFFIC_SECONDS = 90  # the longest the test sends requests while it waits for every series


@contextlib.contextmanager
def exporter(settings: Settings, log_path: Path) -> Iterator[str]:
    """`mlops exporter` on a free port over `settings`' home (reading every second); `host:port`."""
    port = free_port()
    with open(log_path, "w") as log:
        process = start_server([*exporter_command(port), "--refresh", "1"], log)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, f"mlops exporter exited: {log_path.read_text()[-2000:]}"
            assert time.monotonic() < deadline, "mlops exporter did not answer within 120 s"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code == 200:
                    break
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def reported(served: Served) -> Served:
    """The home with a drift report of its last day, so the drift and live metrics have data."""
    with dg.DagsterInstance.get() as instance:
        result = served.defs.resolve_job_def("monitoring_job").execute_in_process(
            instance=instance, partition_key=LAST_DAY, asset_selection=[dg.AssetKey("drift_report")]
        )
        assert result.success
    return served


def test_the_exporter_publishes_the_pipeline_state_it_reads(reported: Served, tmp_path: Path) -> None:
    """The exporter's samples are the lake's, the registry's and the instance's facts."""
    served = reported
    with exporter(served.settings, tmp_path / "exporter.log") as address:
        text = httpx.get(f"http://{address}/metrics", timeout=30).text
    champion = served.registry.alias("champion")
    assert f"mlops_champion_version {float(champion.version)}" in text
    assert 'mlops_exporter_source_up{source="dagster"} 1.0' in text
    assert 'mlops_dagster_latest_run_failed{dagster_job="retrain_job"} 0.0' in text
    shares = [line for line in text.splitlines() if line.startswith("mlops_reference_score_share{")]
    assert len(shares) == len(LABELS)
    assert sum(float(line.rsplit(" ", 1)[1]) for line in shares) == pytest.approx(1.0)
    assert "mlops_drift_verdict{" in text and 'mlops_drift_input_score{input="' in text


def test_prometheus_evaluates_every_rule_and_every_panel_on_the_real_service_and_exporter(
    reported: Served, tmp_path: Path
) -> None:
    served = reported
    body = {"transactions": new_transactions(served, 40)}
    labels = [{"transaction_id": t["transaction_id"], "is_fraud": 0} for t in body["transactions"][:5]]
    assert served.client.post("/feedback", json={"labels": labels}).status_code == 200
    service = served.url.removeprefix("http://")
    with (
        exporter(served.settings, tmp_path / "exporter.log") as address,
        prometheus_server(tmp_path / "prometheus", service, address) as prometheus,
    ):
        expressions = {**rule_expressions(), **panel_expressions()}
        empty = _until_every_expression_has_data(served, prometheus, expressions)
        assert not empty, f"no data for: {sorted(empty)}"
        rules = prometheus.rules()
        assert len(rules) == len(rule_expressions())
        assert [(rule["name"], rule["lastError"]) for rule in rules if rule["health"] != "ok"] == []
        # An ordinary moment: the service up and answering, nothing degraded.
        for quiet in ("FraudDetectorDown", "FraudDetectorNotReady", "FraudDetectorDegraded", "PipelineExporterDown"):
            assert prometheus.alerts(quiet) == [], quiet


def _until_every_expression_has_data(served: Served, prometheus: Prometheus, expressions: dict[str, str]) -> set[str]:
    """Sends /predict requests (bounded: `TRAFFIC_SECONDS`) until each expression answers with a
    sample; returns those that never did. Alert expressions are conditions, empty while they do
    not hold: for them, only that they evaluate (no error)."""
    alerts = set(alert_rules())
    for name in alerts:
        prometheus.query(expressions[name])
    waiting = set(expressions) - alerts
    body = {"transactions": new_transactions(served, 20)}
    deadline = time.monotonic() + TRAFFIC_SECONDS
    while waiting and time.monotonic() < deadline:
        assert served.client.post("/predict", json=body).status_code == 200
        waiting = {name for name in waiting if not prometheus.query(expressions[name])}
        time.sleep(0.3)
    return waiting
