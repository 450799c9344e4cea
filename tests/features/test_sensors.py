"""`features_sensor`: which days need features, waiting for ingestion, and nothing twice."""

import os
import uuid
from datetime import timedelta

import dagster as dg
import pandas as pd

from mlops_assets.defs.features.sensors import features_sensor, stale_feature_days
from mlops_assets.keys import ONLINE_STORE_TAG, RANGE_END_TAG, RANGE_START_TAG
from mlops_assets.lib.data.lake import Lake
from mlops_assets.ops.features import build_features
from mlops_assets.ops.ingest import ingest_pending
from mlops_assets.settings import Settings
from tests.conftest import DAY, land

SECOND = 1_000_000_000


def write(lake: Lake, key: str, day: str, at_seconds: int) -> None:
    path = lake.write(key, pd.DataFrame({"x": [1]}), day)
    os.utime(path, ns=(at_seconds * SECOND, at_seconds * SECOND))


def test_a_day_is_stale_when_its_features_are_older_than_any_input_in_its_history(settings: Settings) -> None:
    lake = Lake(str(settings.lake_dir))
    for day, when in [("2025-01-01", 10), ("2025-01-20", 10), ("2025-02-15", 10), ("2025-02-16", 10)]:
        write(lake, "validated_transactions", day, when)
    write(lake, "customer_features", "2025-01-01", 20)
    write(lake, "customer_features", "2025-01-20", 20)
    write(lake, "customer_features", "2025-02-15", 20)
    assert list(stale_feature_days(lake)) == ["2025-02-16"]  # never computed
    write(lake, "validated_transactions", "2025-01-20", 30)  # a late file rewrote this day
    # The day itself and the days whose 30-day history holds it; 2025-01-01 does not, nor 2025-02-2x.
    assert stale_feature_days(lake) == {"2025-01-20": 30 * SECOND, "2025-02-15": 30 * SECOND, "2025-02-16": 30 * SECOND}


def evaluate(resources: dict, instance: dg.DagsterInstance):
    # A sensor context initializes every resource it is given: only the one the sensor uses.
    with dg.build_sensor_context(instance=instance, resources={"lake": resources["lake"]}) as context:
        return features_sensor(context)


def test_requests_wait_for_ingestion_then_come_once(
    settings: Settings, resources: dict, defs: dg.Definitions, instance
) -> None:
    land(settings, days=2, rows=200)
    assert not ingest_pending(defs, instance).failed_days

    running = dg.DagsterRun(job_name="ingest_job", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED)
    instance.add_run(running)
    assert "waiting for ingestion" in evaluate(resources, instance).skip_message
    instance.delete_run(running.run_id)

    # Consecutive days are one run over their range (a single-run backfill), keyed by their state.
    [request] = evaluate(resources, instance)
    assert request.partition_key is None
    assert request.tags == {**ONLINE_STORE_TAG, RANGE_START_TAG: "2025-03-01", RANGE_END_TAG: "2025-03-02"}
    assert [r.run_key for r in evaluate(resources, instance)] == [request.run_key]

    assert build_features(defs, instance, ["2025-03-01", "2025-03-02"]) == {}
    assert evaluate(resources, instance).skip_message == "features are up to date"

    # A late file for the first day makes both days stale again; with a gap in the days, each
    # stretch is a run of its own (a single day as its partition).
    land(settings, days=1, rows=50, scenario="covariate_shift")
    land(settings, start=DAY + timedelta(days=3), rows=200)
    assert not ingest_pending(defs, instance).failed_days
    first, second = evaluate(resources, instance)
    assert (first.tags[RANGE_START_TAG], first.tags[RANGE_END_TAG]) == ("2025-03-01", "2025-03-02")
    assert first.run_key != request.run_key
    assert second.partition_key == "2025-03-04" and second.tags == ONLINE_STORE_TAG
