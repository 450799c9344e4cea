"""End to end: `mlops up` runs the real Dagster daemon, whose `landing_sensor` ingests new files
once; SIGTERM stops everything it started."""

import signal
import time
from datetime import timedelta

import dagster as dg
import pytest

from mlops_assets.keys import LANDING_FILES_TAG, RANGE_END_TAG, RANGE_START_TAG
from mlops_assets.lib.data.lake import Lake
from mlops_assets.ops.servers import start_server
from mlops_assets.settings import Settings
from tests.conftest import DAY, land
from tests.support.processes import MLOPS, answers, free_port, status, wait_until


def sensor_runs(instance: dg.DagsterInstance, sensor: str = "landing_sensor") -> list[dg.DagsterRun]:
    return instance.get_runs(filters=dg.RunsFilter(tags={"dagster/sensor_name": sensor}))


@pytest.mark.slow
@pytest.mark.timeout(1500)  # a hang guard: each wait below is bounded on its own
def test_the_daemon_ingests_new_files_once_builds_their_features_and_stops_on_sigterm(
    settings: Settings, instance
) -> None:
    port, serve_port, exporter_port, prometheus_port = free_port(), free_port(), free_port(), free_port()
    log_path = settings.home / "up.log"
    ports = ["--port", str(port), "--serve-port", str(serve_port)]
    ports += ["--exporter-port", str(exporter_port), "--prometheus-port", str(prometheus_port)]
    with open(log_path, "w") as log:
        # Started as a user would start it (SIGINT restored: pytest may run with it ignored).
        server = start_server([MLOPS, "up", *ports], log)
        try:
            # Bounds for a slow machine under load (`make test` runs the long stories beside it):
            # in CI the UI once took over 120 s to answer.
            wait_until(lambda: answers(port), 420, "the Dagster UI", log_path)
            # The serving API runs beside it: alive, not ready before there is a champion.
            wait_until(lambda: status(serve_port, "/livez") == 200, 420, "the serving API", log_path)
            assert status(serve_port, "/readyz") == 503
            # And the pipeline's exporter, and Prometheus with the rules loaded.
            wait_until(lambda: status(exporter_port, "/metrics") == 200, 420, "the exporter", log_path)
            wait_until(lambda: status(prometheus_port, "/-/ready") == 200, 120, "Prometheus", log_path)
            land(settings, days=2, rows=300)
            land(settings, start=DAY + timedelta(days=3), rows=300)  # and a day after a gap
            days = ["2025-03-01", "2025-03-02", "2025-03-04"]
            succeeded = [dg.DagsterRunStatus.SUCCESS] * 3
            ingested = lambda: [r.status for r in sensor_runs(instance)] == succeeded  # noqa: E731
            wait_until(ingested, 420, "three sensor runs", log_path)
            runs = sensor_runs(instance)
            assert sorted(run.tags["dagster/partition"] for run in runs) == days
            assert all(run.tags[LANDING_FILES_TAG].startswith("transactions_baseline_") for run in runs)
            # Then features_sensor builds each stretch of days in one run (a single-run backfill of
            # its range), one online-store writer at a time.
            features_done = lambda: [r.status for r in sensor_runs(instance, "features_sensor")] == succeeded[:2]  # noqa: E731
            wait_until(features_done, 420, "two successful feature runs", log_path)
            records = [instance.get_run_record_by_id(run.run_id) for run in sensor_runs(instance, "features_sensor")]
            first, second = sorted(records, key=lambda record: record.start_time)
            assert first.end_time <= second.start_time
            ranges = {
                (run.tags.get(RANGE_START_TAG), run.tags.get(RANGE_END_TAG), run.tags.get("dagster/partition"))
                for run in sensor_runs(instance, "features_sensor")
            }
            assert ranges == {("2025-03-01", "2025-03-02", None), (None, None, "2025-03-04")}
            assert sorted(Lake(str(settings.lake_dir)).partitions("customer_features")) == days
            # Locally a run's steps run in its own process, one after another: no start-up per step.
            for run in sensor_runs(instance, "features_sensor"):
                steps = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)
                assert len(steps) == 2 and len({step.dagster_event.pid for step in steps}) == 1
            # Several more ticks of each sensor (every 5 s) see nothing new and start nothing.
            time.sleep(32)
            assert len(sensor_runs(instance)) == 3 and len(sensor_runs(instance, "features_sensor")) == 2
        finally:
            server.send_signal(signal.SIGTERM)
            exit_code = server.wait(timeout=90)
    assert exit_code == 0, log_path.read_text()[-3000:]
    assert not answers(port) and status(serve_port, "/livez") is None
    assert status(exporter_port, "/metrics") is None and status(prometheus_port, "/-/ready") is None
    # No tick failed: MLflow's store existed before the sensors and the service first opened it.
    assert "Sensor tick caught an error" not in log_path.read_text()
