"""Drives the monitoring loop day by day in-process, as the daemon would: the real sensors are
evaluated through Dagster's sensor testing API and their run requests executed on the instance,
each run key once (the daemon's deduplication). Used by the loop and retry tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import dagster as dg

from mlops_assets.lib.data.lake import Lake
from mlops_assets.ops.features import build_features
from mlops_assets.ops.ingest import ingest_pending
from mlops_assets.ops.retrain import retrain
from mlops_assets.ops.runs import QUIET
from mlops_assets.settings import Settings
from mlops_assets.synth import generator

RUN_KEY_TAG = "dagster/run_key"


@dataclass
class Loop:
    settings: Settings
    defs: dg.Definitions
    instance: dg.DagsterInstance
    rows_per_day: int
    seed: int
    cursors: dict[str, str | None] = field(default_factory=dict)
    # Extra `ops` config of a requested run (a test making one run's gates impossible, say).
    extra_ops: Callable[[dg.RunRequest], dict] = lambda request: {}
    # Assets the requested runs leave out: no loop test reads the day's Evidently HTML, which was
    # 44% of a day's time here (its own tests render and read it).
    left_out: frozenset[str] = frozenset({"drift_report_html"})

    @property
    def lake(self) -> Lake:
        return Lake(str(self.settings.lake_dir))

    def history(self, start: date, days: int, training: dict) -> dg.ExecuteInProcessResult:
        """Baseline days ingested with their features, then the first `retrain_job`."""
        generator.generate(start, days, self.rows_per_day, self.settings.landing_dir, seed=self.seed)
        assert not ingest_pending(self.defs, self.instance).failed_days
        assert not build_features(self.defs, self.instance, self.lake.partitions("validated_transactions"))
        return retrain(self.defs, self.instance, None, training)

    def day(self, day: date, scenario: str = "baseline") -> list[dg.DagsterRun]:
        """Lands one day, ingests it, builds its features, then lets the monitoring sensors act;
        returns the `retrain_job` runs they started."""
        generator.generate(day, 1, self.rows_per_day, self.settings.landing_dir, scenario=scenario, seed=self.seed)
        assert not ingest_pending(self.defs, self.instance).failed_days
        features = self.defs.resolve_job_def("features_job")
        assert features.execute_in_process(
            partition_key=day.isoformat(), instance=self.instance, run_config=QUIET
        ).success
        self.tick("drift_report_sensor")
        return self.tick("drift_retrain_sensor")

    def tick(self, sensor_name: str, cursor: str | None = ...) -> list[dg.DagsterRun]:
        """One evaluation of the sensor from its last cursor (or from `cursor`); runs what it
        requests, skipping run keys already used; returns the runs started."""
        sensor = self.defs.resolve_sensor_def(sensor_name)
        with dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursors.get(sensor_name) if cursor is ... else cursor,
            sensor_name=sensor_name,
            definitions=self.defs,
            # Only what the sensor uses: the others (MLflow tracking) start runs when built.
            resources={key: self.defs.resources[key] for key in sensor.required_resource_keys},
        ) as context:
            result = sensor.evaluate_tick(context)
        self.cursors[sensor_name] = result.cursor
        started = []
        for request in result.run_requests or []:
            if self.instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: request.run_key}), limit=1):
                continue
            job = self.defs.resolve_job_def(request.job_name or sensor.job_name)
            ops = {**(request.run_config or {}).get("ops", {}), **self.extra_ops(request)}
            assets = job.asset_layer.selected_asset_keys
            kept = [key for key in assets if key.to_user_string() not in self.left_out]
            outcome = job.execute_in_process(
                instance=self.instance,
                partition_key=request.partition_key,
                asset_selection=kept if len(kept) < len(assets) else None,
                run_config={**QUIET, "ops": ops},
                tags={**request.tags, RUN_KEY_TAG: request.run_key, "dagster/sensor_name": sensor_name},
                raise_on_error=False,
            )
            started.append(self.instance.get_run_by_id(outcome.run_id))
        return started


def days_after(first: date, count: int) -> list[date]:
    return [first + timedelta(days=offset) for offset in range(count)]
