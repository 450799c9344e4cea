"""A staged rollout through the real graph: a retraining whose reason the policy stages starts a
rollout instead of promoting (the champion stays and is what `bento` packages); `rollout_report`
moves it to a canary once its shadow day is in, then decides on the labelled canary days; a newer
candidate promoted at once ends a rollout in progress; every move is a `retrain_decisions` row;
a champion that changed outside a retraining gets its Bento from `champion_bento_sensor`."""

import contextlib
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.loop.retraining import DecisionLog
from mlops_assets.lib.loop.rollout import current_rollout
from mlops_assets.lib.modelling.registry import CHALLENGER, CHAMPION, MODEL_NAME, Registry
from mlops_assets.ops.features import build_features
from mlops_assets.ops.ingest import ingest_pending
from mlops_assets.ops.retrain import retrain
from mlops_assets.settings import Settings
from mlops_assets.synth import generator
from tests.conftest import use_home
from tests.support.history import first_champion, run_config

pytestmark = pytest.mark.slow

DAYS_AFTER = ["2025-03-11", "2025-03-12", "2025-03-13"]
# Short enough for three generated days of 1,500 rows: a verdict on the second canary day.
ROLLOUT = {"config": {"shadow_days": 1, "max_canary_days": 2, "min_labelled_frauds": 10}}


@contextlib.contextmanager
def home_with_a_champion(tmp_path: Path) -> Iterator[tuple[Settings, dg.Definitions, dg.DagsterInstance]]:
    """A home of its own with ten days of history and a first champion (`first_champion`)."""
    with pytest.MonkeyPatch.context() as patch:
        settings = use_home(patch, tmp_path / "home")
        with dg.DagsterInstance.get() as instance:
            defs, first = first_champion(settings, instance)
            assert first.success
            yield settings, defs, instance


def bento_tick(defs: dg.Definitions, instance: dg.DagsterInstance):
    """One evaluation of `champion_bento_sensor`: its run requests, or its skip reason."""
    sensor = defs.resolve_sensor_def("champion_bento_sensor")
    resources = {key: defs.resources[key] for key in sensor.required_resource_keys}
    with dg.build_sensor_context(instance=instance, definitions=defs, resources=resources) as context:
        result = sensor.evaluate_tick(context)
    return result.run_requests if result.run_requests else dg.SkipReason(result.skip_message)


def test_a_staged_retraining_goes_through_the_shadow_and_a_canary_to_a_verdict(tmp_path) -> None:
    with home_with_a_champion(tmp_path) as (settings, defs, instance):
        registry = Registry(settings.mlflow_tracking_uri, MODEL_NAME)
        lake = Lake(str(settings.lake_dir))
        champion = registry.alias(CHAMPION).version

        staged = {**run_config(settings), "champion_model": {"config": {"staged_rollout_for": ["manual"]}}}
        assert retrain(defs, instance, "manual", staged).success
        rollout = current_rollout(registry)
        assert rollout.stage == "shadow" and rollout.stage_after_day == "2025-03-10"
        assert registry.alias(CHAMPION).version == champion  # the champion stays
        assert registry.alias(CHALLENGER).version == rollout.version != champion
        assert lake.read_record("bento")["champion_version"] == champion

        generator.generate(date(2025, 3, 11), len(DAYS_AFTER), 1500, settings.landing_dir, seed=9)
        assert not ingest_pending(defs, instance).failed_days
        assert not build_features(defs, instance, DAYS_AFTER)
        monitoring = defs.resolve_job_def("monitoring_job")

        def report(day: str) -> dict:
            result = monitoring.execute_in_process(
                instance=instance, partition_key=day, run_config={"ops": {"rollout_report": ROLLOUT}}
            )
            assert result.success
            return lake.read_record(f"rollout_report/{day}")

        shadow_done = report(DAYS_AFTER[0])
        assert shadow_done["decision"] == "canary" and current_rollout(registry).stage == "canary"
        waiting = report(DAYS_AFTER[1])
        assert waiting["stage_days"] == 1 and waiting["labelled_frauds"] > 0
        assert {o["variant"] for o in waiting["outcomes"]} == {"champion", "canary"}
        assert sum(o["transactions"] for o in waiting["outcomes"]) == waiting["labelled_rows"]
        assert waiting["cost_gap_low"] <= waiting["cost_gap"] <= waiting["cost_gap_high"]
        final = waiting if waiting["decision"] != "wait" else report(DAYS_AFTER[2])
        assert final["decision"] in ("promote", "abort")
        shown = instance.get_latest_materialization_event(dg.AssetKey("rollout_report")).asset_materialization
        assert shown.metadata["evidence"].value.startswith("![the rollout's evidence](data:image/png;base64,")
        assert "| canary v" in shown.metadata["outcomes"].value
        # A day looked at again (a newer champion's drift report) keeps the move it made.
        assert report(DAYS_AFTER[0]) == shadow_done
        after_verdict = registry.alias(CHAMPION).version

        # A rollout in progress ends when a newer candidate is promoted at once instead.
        assert retrain(defs, instance, "manual", staged).success
        superseded = current_rollout(registry)
        assert superseded is not None and superseded.version != rollout.version
        assert retrain(defs, instance, "manual", run_config(settings)).success
        newest = registry.alias(CHAMPION).version
        assert lake.read_record("bento")["champion_version"] == newest  # packaged in its retraining
        assert isinstance(bento_tick(defs, instance), dg.SkipReason)

        # The alias moved outside a retraining (what `champion_review` does when it rolls
        # back): `champion_bento_sensor` asks for its Bento, once.
        registry.rollback(to_version=champion)
        [request] = bento_tick(defs, instance)
        assert request.run_key == f"bento:{len(registry.champion_history())}:v{champion}"
        packaged = defs.resolve_job_def("bento_job").execute_in_process(instance=instance, tags=request.tags)
        assert packaged.success and lake.read_record("bento")["champion_version"] == champion
        assert isinstance(bento_tick(defs, instance), dg.SkipReason)

        if final["decision"] == "promote":
            assert after_verdict == rollout.version
        else:  # aborted: the champion untouched
            assert after_verdict == champion
        assert current_rollout(registry) is None
        rollout_steps = [d for d in DecisionLog(lake).all() if d.key.startswith("rollout.")]
        steps = [(d.action, d.version) for d in rollout_steps]
        assert steps == [
            ("shadow", rollout.version),
            ("canary", rollout.version),
            (final["decision"], rollout.version),
            ("shadow", superseded.version),
            ("abort", superseded.version),
        ]
        [abort] = [
            d
            for d in DecisionLog(lake).all()
            if d.key.startswith("rollout.") and d.version == superseded.version and d.action == "abort"
        ]
        assert "superseded by version" in abort.reason


# Gates a candidate that learned nothing passes: what a careless change to them would let through.
LOWERED_GATES = {
    "min_pr_auc": 0.0,
    "min_recall_at_fpr": 0.0,
    "max_pr_auc_drop": 1.0,
    "min_score_std": 0.0,
    "max_calibration_error": 1.0,
}


def test_a_candidate_trained_on_shuffled_labels_passes_lowered_gates_and_its_canary_is_aborted(tmp_path) -> None:
    with home_with_a_champion(tmp_path) as (settings, defs, instance):
        registry = Registry(settings.mlflow_tracking_uri, MODEL_NAME)
        lake = Lake(str(settings.lake_dir))
        champion = registry.alias(CHAMPION).version

        # The training days' labels shuffled within each day for one retraining, then put back.
        days = lake.partitions("validated_transactions")
        kept = {day: lake.read("validated_transactions", day) for day in days}
        rng = np.random.default_rng(3)
        for day, frame in kept.items():
            shuffled = frame.assign(is_fraud=rng.permutation(frame["is_fraud"].to_numpy()))
            lake.write("validated_transactions", shuffled, day)
        worse = {
            **run_config(settings),
            "model_evaluation": {"config": LOWERED_GATES},
            "champion_model": {"config": {"staged_rollout_for": ["manual"]}},
        }
        try:
            assert retrain(defs, instance, "manual", worse).success
        finally:
            for day, frame in kept.items():
                lake.write("validated_transactions", frame, day)
        rollout = current_rollout(registry)
        assert rollout is not None and rollout.stage == "shadow" and rollout.version != champion

        # Days twice as large as the first test's, for the evidence to settle within the canary.
        days_after = [*DAYS_AFTER, "2025-03-14"]
        generator.generate(date(2025, 3, 11), len(days_after), 3000, settings.landing_dir, seed=9)
        assert not ingest_pending(defs, instance).failed_days
        assert not build_features(defs, instance, days_after)
        monitoring = defs.resolve_job_def("monitoring_job")
        verdicts = []
        for day in days_after:
            run = {"ops": {"rollout_report": {"config": {**ROLLOUT["config"], "max_canary_days": 3}}}}
            assert monitoring.execute_in_process(instance=instance, partition_key=day, run_config=run).success
            verdicts.append(lake.read_record(f"rollout_report/{day}"))
            if verdicts[-1].get("decision") == "abort":
                break

        assert verdicts[0]["decision"] == "canary"
        aborted = verdicts[-1]
        assert aborted["decision"] == "abort" and "costs more beyond doubt" in aborted["status"], aborted["status"]
        assert aborted["cost_gap_low"] > 0
        assert registry.alias(CHAMPION).version == champion  # untouched
        assert registry.alias(CHALLENGER).version == champion and current_rollout(registry) is None
        steps = [(d.action, d.version) for d in DecisionLog(lake).all() if d.key.startswith("rollout.")]
        assert steps == [("shadow", rollout.version), ("canary", rollout.version), ("abort", rollout.version)]
