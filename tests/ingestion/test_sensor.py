"""`landing_sensor`: new files become partition run requests, once, across restarts;
`label_sensor`: late labels ask for their days to be validated again."""

import os
import time
import uuid
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from mlops_assets.defs.ingestion import sensors
from mlops_assets.defs.ingestion.sensors import landing_sensor
from mlops_assets.defs.labels import sensors as label_sensors
from mlops_assets.defs.labels.sensors import LABEL_SETTLE_SECONDS, label_sensor
from mlops_assets.keys import LANDING_FILES_TAG, ONLINE_STORE_TAG
from mlops_assets.lib.data.labels import LabelFolder
from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.modelling.registry import MODEL_NAME, Registry
from mlops_assets.ops.features import build_features
from mlops_assets.ops.ingest import ingest_pending
from mlops_assets.settings import Settings
from mlops_assets.synth import generator
from tests.conftest import DAY, land


@pytest.fixture(autouse=True)
def files_settle_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """`land` writes whole files (renamed into place): these tests need not wait for them to
    settle. The partial-file test sets the real wait again."""
    monkeypatch.setattr(sensors, "LANDING_SETTLE_SECONDS", 0)


def evaluate(resources: dict, instance: dg.DagsterInstance) -> dg.SensorResult:
    """One tick, as the daemon would run it (a fresh context: nothing kept between ticks)."""
    # A context initializes all it is given: only what the sensor uses.
    used = {key: resources[key] for key in ("landing", "lake", "model_registry")}
    with dg.build_sensor_context(instance=instance, resources=used) as context:
        return landing_sensor(context)


def test_new_files_become_one_run_request_per_day(settings: Settings, resources: dict, instance) -> None:
    land(settings, days=2, rows=300)
    land(settings, scenario="dirty", rows=300)
    result = evaluate(resources, instance)
    requests = {request.partition_key: request for request in result.run_requests}
    assert sorted(requests) == ["2025-03-01", "2025-03-02"]
    assert requests["2025-03-01"].tags[LANDING_FILES_TAG] == (
        "transactions_baseline_2025-03-01.parquet,transactions_dirty_2025-03-01.parquet"
    )
    assert requests["2025-03-02"].job_name == "ingest_job"
    rejected = sorted(event.metadata["rejected_file"].value for event in result.asset_events)
    assert rejected == [
        "transactions_dirty_2025-03-01_no_amount.csv",
        "transactions_dirty_2025-03-01_truncated.parquet",
    ]


def test_one_new_day_after_the_champions_reference_goes_to_its_verdict_in_one_run(
    settings: Settings, resources: dict, defs: dg.Definitions, instance, tmp_path: Path
) -> None:
    land(settings, rows=300)
    assert not ingest_pending(defs, instance).failed_days
    assert not build_features(defs, instance, ["2025-03-01"])
    land(settings, start=DAY + timedelta(days=1), rows=300)
    only_job = lambda: [request.job_name for request in evaluate(resources, instance).run_requests]  # noqa: E731
    assert only_job() == ["ingest_job"]  # no champion: nothing to give a verdict against

    # A champion (registered from a plain folder: the sensor reads only its tags) whose reference
    # ends on the last validated day: the new day is the first it has not seen.
    registry = Registry(settings.mlflow_tracking_uri, MODEL_NAME)
    registry.client.create_registered_model(MODEL_NAME)
    version = str(registry.client.create_model_version(MODEL_NAME, source=tmp_path.as_uri()).version)
    registry.set_tags(version, {"reference_window": "2025-02-20..2025-03-02"})
    registry.promote(version)
    assert only_job() == ["ingest_job"]  # the day is in the champion's reference
    registry.set_tags(version, {"reference_window": "2025-02-20..2025-03-01"})
    [request] = evaluate(resources, instance).run_requests
    assert request.job_name == "landed_day_job" and request.partition_key == "2025-03-02"
    assert ONLINE_STORE_TAG.items() <= request.tags.items()  # it writes the online store: one writer at a time

    # Not while other runs may still change the history it reads.
    running = dg.DagsterRun(job_name="features_job", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED)
    instance.add_run(running)
    assert only_job() == ["ingest_job"]
    instance.delete_run(running.run_id)
    # An earlier day's `landed_day_job` still at its HTML: this one queues behind it (one online-store writer).
    earlier = dg.DagsterRun(job_name="landed_day_job", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED)
    instance.add_run(earlier)
    assert only_job() == ["landed_day_job"]
    instance.delete_run(earlier.run_id)
    # Not when more than one day is pending: the stages go day by day, each sensor after the last.
    land(settings, start=DAY + timedelta(days=2), rows=300)
    assert only_job() == ["ingest_job", "ingest_job"]


def test_a_file_still_being_written_is_indexed_only_once_whole(
    settings: Settings, resources: dict, instance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A producer writing a CSV in place: the sensor sees the first half (a readable file, cut
    mid-row) and leaves it; once the file is whole and has settled, all its rows are indexed."""
    monkeypatch.setattr(sensors, "LANDING_SETTLE_SECONDS", 5)
    [generated] = generator.generate(DAY, 1, 300, tmp_path, seed=11).files
    whole = pd.read_parquet(generated).to_csv(index=False).encode()
    path = settings.landing_dir / "transactions_2025-03-01.csv"
    path.write_bytes(whole[: len(whole) // 2])

    first = evaluate(resources, instance)
    assert first.run_requests == [] and "1 still being written" in first.skip_reason.skip_message
    assert not first.asset_events  # nothing rejected
    index = resources["landing"].index()
    assert index.entries() == []

    path.write_bytes(whole)  # the producer is done
    assert evaluate(resources, instance).run_requests == []  # just modified: not settled yet
    settled = time.time() - sensors.LANDING_SETTLE_SECONDS - 1
    os.utime(path, (settled, settled))
    done = evaluate(resources, instance)
    assert [request.partition_key for request in done.run_requests] == ["2025-03-01"]
    [entry] = index.entries()
    assert (entry.name, entry.rows) == (path.name, 300)


def test_a_parquet_file_is_indexed_as_soon_as_its_footer_reads(
    settings: Settings, resources: dict, instance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Parquet file written in place is whole once its footer is there (a writer puts it last):
    cut before it, the sensor leaves the file; whole, it is indexed at once, without the settle
    that a CSV waits."""
    monkeypatch.setattr(sensors, "LANDING_SETTLE_SECONDS", 60)
    [generated] = generator.generate(DAY, 1, 300, tmp_path, seed=12).files
    whole = generated.read_bytes()
    path = settings.landing_dir / "transactions_2025-03-01.parquet"
    path.write_bytes(whole[:-8])  # all but the footer's length and closing magic

    first = evaluate(resources, instance)
    assert first.run_requests == [] and "1 still being written" in first.skip_reason.skip_message
    assert resources["landing"].index().entries() == []

    path.write_bytes(whole)
    done = evaluate(resources, instance)
    assert [request.partition_key for request in done.run_requests] == ["2025-03-01"]
    [entry] = resources["landing"].index().entries()
    assert (entry.name, entry.rows) == (path.name, 300)


def test_pending_work_keeps_its_run_key_until_done_then_nothing_is_requested_again(
    settings: Settings, resources: dict, defs: dg.Definitions, instance
) -> None:
    land(settings, days=2, rows=300)
    first = evaluate(resources, instance)
    # A tick before the runs finished (or after a crash) asks again with the same keys, which
    # Dagster deduplicates: the same work is never started twice.
    second = evaluate(resources, instance)
    assert [r.run_key for r in first.run_requests] == [r.run_key for r in second.run_requests]
    assert len(first.run_requests) == 2

    report = ingest_pending(defs, instance)
    assert not report.failed_days
    assert [counts.rows_validated for counts in report.files] == [300, 300]
    assert [run.tags["dagster/partition"] for run in instance.get_runs()] == ["2025-03-02", "2025-03-01"]

    # Restarted sensor, no cursor: the lake shows the files are in, so nothing is requested.
    after = evaluate(resources, instance)
    assert after.run_requests == [] and after.skip_reason is not None

    # A new file for one day requests that day only, under a new key.
    land(settings, start=DAY, rows=50, scenario="covariate_shift")
    new = evaluate(resources, instance)
    assert [request.partition_key for request in new.run_requests] == ["2025-03-01"]
    assert new.run_requests[0].run_key not in {request.run_key for request in first.run_requests}


def test_late_labels_revalidate_the_days_of_their_transactions(
    settings: Settings, resources: dict, defs: dg.Definitions, instance
) -> None:
    land(settings, days=2, rows=300)
    ingest_pending(defs, instance)
    lake = Lake(str(settings.lake_dir))
    second_day = lake.read("validated_transactions", "2025-03-02")["transaction_id"].head(2).tolist()
    folder = LabelFolder.of_landing(settings.landing_dir)
    late = pd.DataFrame({"transaction_id": [*second_day, "not-landed"], "is_fraud": [1, 1, 0]})
    path = Path(folder.write(late, "feedback"))

    def tick(cursor: str | None):
        used = {key: resources[key] for key in ("landing", "lake")}
        with dg.build_sensor_context(instance=instance, resources=used, cursor=cursor) as context:
            return label_sensor(context)

    assert isinstance(tick(None), dg.SkipReason)  # still settling: a writer may not be done with it
    settled = time.time() - LABEL_SETTLE_SECONDS - 1
    os.utime(path, (settled, settled))
    result = tick(None)
    requested = [(r.partition_key, r.run_key) for r in result.run_requests]
    assert requested == [("2025-03-02", f"labels:2025-03-02:{path.name}")]  # the day with landed ids
    assert result.cursor == f"{path.stat().st_mtime_ns}:{path.name}"
    assert isinstance(tick(result.cursor), dg.SkipReason)  # handled once
    # A file dropped later under any name (here one that sorts first) is seen by its arrival.
    dropped = Path(folder.folder.path) / "a-bank-chargebacks.parquet"
    late.head(1).to_parquet(dropped)
    os.utime(dropped, (settled + 0.5, settled + 0.5))
    later = tick(result.cursor)
    assert [r.partition_key for r in later.run_requests] == ["2025-03-02"] and dropped.name in later.cursor


def test_labels_whose_transaction_never_landed_are_set_aside_with_the_reason(
    settings: Settings, resources: dict, defs: dg.Definitions, instance
) -> None:
    land(settings, days=1, rows=300)
    ingest_pending(defs, instance)
    landed = Lake(str(settings.lake_dir)).read("validated_transactions", "2025-03-01")["transaction_id"].head(2)
    folder = LabelFolder.of_landing(settings.landing_dir)
    mixed = Path(folder.write(pd.DataFrame({"transaction_id": [*landed, "typo-1"], "is_fraud": [1, 0, 1]}), "feedback"))
    dropped = Path(folder.folder.path) / "bank-chargebacks.parquet"  # a file of the two label columns only
    pd.DataFrame({"transaction_id": ["typo-2"], "is_fraud": [1]}).to_parquet(dropped)
    recent = Path(folder.write(pd.DataFrame({"transaction_id": ["typo-3"], "is_fraud": [0]}), "feedback"))
    long_ago = time.time() - (label_sensors.UNMATCHED_LABEL_DAYS + 1) * 86400
    for path in (mixed, dropped):
        os.utime(path, (long_ago, long_ago))
    dropped_at = pd.Timestamp(dropped.stat().st_mtime_ns, unit="ns", tz="UTC")

    def tick():
        with dg.build_sensor_context(instance=instance, resources={"landing": resources["landing"]}) as context:
            return label_sensors.unmatched_labels_sensor(context)

    result = tick()
    reported = {
        event.metadata["label_file"].value: event.metadata["unmatched_labels"].value for event in result.asset_events
    }
    assert reported == {mixed.name: 1, dropped.name: 1}
    assert {event.asset_key for event in result.asset_events} == {dg.AssetKey("validated_transactions")}
    aside = Path(folder.unmatched.path)
    typo = pd.read_parquet(aside / mixed.name)
    assert typo["transaction_id"].tolist() == ["typo-1"] and typo["source"].tolist() == ["feedback"]
    assert typo["reason"].tolist() == ["no transaction with this id had landed 2 days after the label arrived"]
    chargeback = pd.read_parquet(aside / dropped.name)
    assert chargeback["transaction_id"].tolist() == ["typo-2"]
    assert chargeback["received_at"].tolist() == [dropped_at]  # its arrival, kept though the file is gone
    # What stays: the landed labels of the mixed file, and the label still within its wait.
    assert not dropped.exists() and recent.exists()
    assert sorted(folder.read()["transaction_id"]) == sorted([*landed, "typo-3"])
    assert isinstance(tick(), dg.SkipReason)  # once
