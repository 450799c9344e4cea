"""`mlops exporter`: the pipeline's metrics for Prometheus, on 127.0.0.1:3002/metrics.

A pull exporter rather than the Pushgateway: what it publishes is state that already lives in
the lake, the registry and the Dagster instance (the newest drift verdict, the champion, the
runs), so a process that reads it when scraped is always current, loses nothing when it
restarts, and goes stale visibly (`up == 0`) instead of serving a finished job's last push for
ever, which is how the Pushgateway keeps metrics.

What it serves: `lib.quality.pipeline_metrics` (drift, live metrics, decisions, quarantine,
labels, registry, the champion's reference score shares), and from the Dagster instance the runs
of each job by status, whether each job's newest finished run failed, and whether each asset
check's newest evaluation failed. A scrape reads the sources at most every `refresh_seconds`;
a source that cannot be read is left out with `mlops_exporter_source_up{source} 0`, and the
others are still served.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator

from mlops_assets.lib.quality.pipeline_metrics import (
    HELP,
    Sample,
    decision_samples,
    drift_samples,
    label_samples,
    quarantine_samples,
    reference_score_samples,
    registry_samples,
)
from mlops_assets.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_PORT = 3002
DAGSTER_HELP = {
    "mlops_dagster_runs": "Runs of each job in the Dagster instance, by final status.",
    "mlops_dagster_latest_run_failed": "1 when the newest finished run of the job failed.",
    "mlops_dagster_latest_run_timestamp_seconds": "When the newest finished run of the job ended.",
    "mlops_asset_check_failed": "1 when the newest evaluation of the asset check failed.",
}
EXPORTER_HELP = {
    "mlops_exporter_source_up": "1 when the exporter read the source (lake, labels, registry, reference, dagster).",
    "mlops_exporter_read_seconds": "How long the exporter's last read of every source took.",
}
ALL_HELP = {**HELP, **DAGSTER_HELP, **EXPORTER_HELP}


def dagster_samples(instance, jobs: list[str], check_keys: list) -> list[Sample]:
    """Runs per job and status, each job's newest finished run, each check's newest evaluation."""
    import dagster as dg
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

    finished = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
    samples = []
    for job in jobs:
        for status in finished:
            count = instance.get_runs_count(dg.RunsFilter(job_name=job, statuses=[status]))
            samples.append(
                Sample("mlops_dagster_runs", float(count), {"dagster_job": job, "status": status.value.lower()})
            )
        newest = instance.get_run_records(dg.RunsFilter(job_name=job, statuses=finished), limit=1)
        if newest:
            record = newest[0]
            failed = record.dagster_run.status == dg.DagsterRunStatus.FAILURE
            samples.append(Sample("mlops_dagster_latest_run_failed", float(failed), {"dagster_job": job}))
            ended = record.end_time or record.update_timestamp.timestamp()
            samples.append(Sample("mlops_dagster_latest_run_timestamp_seconds", float(ended), {"dagster_job": job}))
    evaluated = (AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED)
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(check_keys)
    for key, record in sorted(latest.items(), key=lambda item: item[0].to_user_string()):
        if record.status in evaluated:
            labels = {"asset": key.asset_key.to_user_string(), "check": key.name}
            failed = record.status == AssetCheckExecutionRecordStatus.FAILED
            samples.append(Sample("mlops_asset_check_failed", float(failed), labels))
    return samples


class PipelineCollector:
    """A prometheus_client collector of the pipeline's samples, read at most every `refresh_seconds`."""

    def __init__(self, settings: Settings, instance, refresh_seconds: float = 15.0):
        from mlops_assets.definitions import defs
        from mlops_assets.lib.data.labels import LabelFolder
        from mlops_assets.lib.modelling.registry import MODEL_NAME, Registry
        from mlops_assets.ops.instance import open_lake

        self.refresh_seconds = refresh_seconds
        self.lake = open_lake(settings)
        self.labels = LabelFolder.of_landing(settings.landing_location, settings.s3)
        self.registry = Registry(settings.mlflow_tracking_uri, MODEL_NAME)
        self.instance = instance
        graph = defs.resolve_asset_graph()
        self.check_keys = sorted(graph.asset_check_keys, key=lambda key: key.to_user_string())
        self.jobs = sorted(job.name for job in defs.resolve_all_job_defs())
        self._reference: dict[str, list[Sample]] = {}  # per champion version: its scores don't change
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._samples: list[Sample] = []

    def sources(self) -> dict[str, Callable[[], list[Sample]]]:
        return {
            "lake": lambda: drift_samples(self.lake) + decision_samples(self.lake) + quarantine_samples(self.lake),
            "labels": lambda: label_samples(self.labels),
            "registry": lambda: registry_samples(self.registry),
            "reference": self._reference_samples,
            "dagster": lambda: dagster_samples(self.instance, self.jobs, self.check_keys),
        }

    def _reference_samples(self) -> list[Sample]:
        from mlops_assets.lib.modelling.registry import CHAMPION

        champion = self.registry.alias(CHAMPION)
        if champion is None:
            return []
        if champion.version not in self._reference:
            self._reference = {champion.version: reference_score_samples(self.registry, champion.version)}
        return self._reference[champion.version]

    def samples(self) -> list[Sample]:
        """Every source's samples, read again when the last read is older than `refresh_seconds`."""
        with self._lock:
            if time.monotonic() - self._read_at >= self.refresh_seconds:
                self._samples = self._read()
                self._read_at = time.monotonic()
            return self._samples

    def _read(self) -> list[Sample]:
        started = time.perf_counter()
        samples = []
        for source, read in self.sources().items():
            try:
                samples += read()
                up = 1.0
            except Exception as error:  # noqa: BLE001 - one unreadable source must not hide the others
                log.warning("exporter: %s unreadable: %s", source, error)
                up = 0.0
            samples.append(Sample("mlops_exporter_source_up", up, {"source": source}))
        samples.append(Sample("mlops_exporter_read_seconds", time.perf_counter() - started))
        return samples

    def collect(self) -> Iterator:
        from prometheus_client.core import GaugeMetricFamily

        by_name: dict[str, list[Sample]] = {}
        for sample in self.samples():
            by_name.setdefault(sample.name, []).append(sample)
        for name, samples in by_name.items():
            labelnames = sorted(samples[0].labels)
            family = GaugeMetricFamily(name, ALL_HELP[name], labels=labelnames)
            for sample in samples:
                family.add_metric([sample.labels[label] for label in labelnames], sample.value)
            yield family


def serve(settings: Settings, port: int = DEFAULT_PORT, refresh_seconds: float = 15.0, host: str = "127.0.0.1") -> None:
    """Serves `/metrics` on `host`:`port` until the process is stopped."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from prometheus_client import CollectorRegistry, make_wsgi_app

    from mlops_assets.ops.instance import open_instance

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, *_) -> None:  # one line per scrape is noise
            pass

    serving: list = []  # the server, once it serves

    def stop(*_) -> None:
        """SIGTERM and Ctrl-C end the server cleanly, with exit status 0. While it serves, the
        signal may land inside a scrape, where wsgiref would catch an exception raised here and
        answer 500: so the server is shut down from another thread instead (not from this one,
        which is the one serving)."""
        if not serving:
            raise SystemExit(0)
        threading.Thread(target=serving[0].shutdown, daemon=True).start()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)

    with open_instance(settings) as instance:
        registry = CollectorRegistry(auto_describe=False)
        collector = PipelineCollector(settings, instance, refresh_seconds)
        registry.register(collector)
        collector.samples()  # the first read (the reference scores load the model) before serving
        with make_server(host, port, make_wsgi_app(registry), handler_class=QuietHandler) as server:
            serving.append(server)
            print(f"pipeline metrics on http://{host}:{port}/metrics", flush=True)
            server.serve_forever()
