"""Dagster failures posted to a webhook: the real sensors evaluated on a real Dagster instance with
real runs, posting to a receiver on loopback."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from mlops_assets.defs.alerting.sensors import AlertWebhook, check_failure_alert, run_failure_alert
from mlops_assets.lib.loop.webhook import Alert, body
from tests.support.processes import free_port


@contextlib.contextmanager
def receiver() -> Iterator[tuple[str, list]]:
    """An HTTP receiver on loopback that keeps every JSON body posted to it."""
    received: list = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


@dg.op
def breaks() -> None:
    raise RuntimeError("the landing folder is unreadable")


@dg.op
def works() -> int:
    return 1


@dg.asset(
    partitions_def=dg.StaticPartitionsDefinition(["2025-03-01", "2025-03-02"]),
    check_specs=[dg.AssetCheckSpec("rows_reconcile", asset="scored")],
)
def scored(context):
    passed = context.partition_key != "2025-03-02"
    yield dg.Output(1)
    yield dg.AssetCheckResult(passed=passed, description="rows read = rows written" if passed else "3 rows lost")


def definitions(url: str) -> dg.Definitions:
    return dg.Definitions(
        assets=[scored],
        jobs=[
            dg.JobDefinition(graph_def=dg.GraphDefinition("broken", node_defs=[breaks])),
            dg.JobDefinition(graph_def=dg.GraphDefinition("fine", node_defs=[works])),
        ],
        sensors=[run_failure_alert, check_failure_alert],
        resources={"alert_webhook": AlertWebhook(url=url, format="json", dagster_url="http://127.0.0.1:3000")},
    )


def tick(defs: dg.Definitions, sensor: dg.SensorDefinition, instance, cursor: str | None):
    resources = {"alert_webhook": defs.resources["alert_webhook"]}
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs, resources=resources)
    return defs.resolve_sensor_def(sensor.name).evaluate_tick(context)


def test_one_message_per_failed_run_with_its_id_and_link_and_none_for_successes() -> None:
    with receiver() as (url, received), dg.instance_for_test() as instance:
        defs = definitions(url)
        first = tick(defs, run_failure_alert, instance, None)  # starts watching from now
        failed = defs.resolve_job_def("broken").execute_in_process(instance=instance, raise_on_error=False)
        assert not failed.success
        assert defs.resolve_job_def("fine").execute_in_process(instance=instance).success
        again = tick(defs, run_failure_alert, instance, first.cursor)
        tick(defs, run_failure_alert, instance, again.cursor)  # nothing new: nothing sent twice
    [message] = received
    assert message["kind"] == "run_failure" and message["job"] == "broken"
    assert message["run_id"] == failed.run_id
    assert message["url"] == f"http://127.0.0.1:3000/runs/{failed.run_id}"
    assert "broken" in message["title"]


def test_one_message_per_failed_check_evaluation_from_when_alerting_started() -> None:
    with receiver() as (url, received), dg.instance_for_test() as instance:
        defs = definitions(url)
        job = defs.resolve_implicit_global_asset_job_def()
        job.execute_in_process(instance=instance, partition_key="2025-03-02")  # before alerting: not sent
        first = tick(defs, check_failure_alert, instance, None)
        job.execute_in_process(instance=instance, partition_key="2025-03-01")  # passes
        failing = job.execute_in_process(instance=instance, partition_key="2025-03-02")
        second = tick(defs, check_failure_alert, instance, first.cursor)
        tick(defs, check_failure_alert, instance, second.cursor)
    [message] = received
    assert (message["kind"], message["asset"], message["check"]) == ("check_failure", "scored", "rows_reconcile")
    assert message["partition"] == "2025-03-02" and message["run_id"] == failing.run_id
    assert "3 rows lost" in message["text"]


def test_a_receiver_that_is_down_does_not_break_the_sensor() -> None:
    down = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    with dg.instance_for_test() as instance:
        defs = definitions(down)
        first = tick(defs, run_failure_alert, instance, None)
        defs.resolve_job_def("broken").execute_in_process(instance=instance, raise_on_error=False)
        after = tick(defs, run_failure_alert, instance, first.cursor)
        assert after.cursor != first.cursor  # the tick completed and moved on


@pytest.mark.parametrize("receiver_format", ["json", "slack", "alertmanager"])
def test_each_receiver_gets_the_title_and_the_link(receiver_format: str) -> None:
    alert = Alert("run_failure", "Dagster run of ingest_job failed", "boom", "http://ui/runs/1", {"run_id": "1"})
    text = json.dumps(body(alert, receiver_format))
    assert "Dagster run of ingest_job failed" in text and "http://ui/runs/1" in text
    if receiver_format == "alertmanager":
        [sent] = body(alert, receiver_format)
        assert sent["labels"]["alertname"] == "DagsterRunFailed" and sent["generatorURL"] == "http://ui/runs/1"
