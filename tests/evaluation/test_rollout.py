"""A staged rollout through the real graph: a retraining whose reason the policy stages starts a
rollout instead of promoting (the champion stays and is what `bento` packages); `rollout_report`
moves it to a canary once its shadow day is in, then decides on the labelled canary days; a newer
candidate promoted at once ends a rollout in progress; every move is a `retrain_decisions` row;
a champion that changed outside a retraining gets its Bento from `champion_bento_sensor`."""

from datetime import date

import dagster as dg
import pytest

from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.loop.retraining import DecisionLog
from mlops_assets.lib.loop.rollout import current_rollout
from mlops_assets.lib.modelling.registry import CHALLENGER, CHAMPION, MODEL_NAME, Registry
from mlops_assets.ops.features import build_features
from mlops_assets.ops.ingest import ingest_pending
from mlops_assets.ops.retrain import retrain
from mlops_assets.synth import generator
from tests.conftest import use_home
from tests.support.history import first_champion, run_config

pytestmark = pytest.mark.slow

DAYS_AFTER = ["2025-03-11", "2025-03-12", "2025-03-13"]
# Short enough for three generated days of 1,500 rows: a verdict on the second canary day.
ROLLOUT = {"config": {"shadow_days": 1, "max_canary_days": 2, "min_labelled_frauds": 10}}


def bento_tick(defs: dg.Definitions, instance: dg.DagsterInstance):
    """One evaluation of `champion_bento_sensor`: its run requests, or its skip reason."""
    sensor = defs.resolve_sensor_def("champion_bento_sensor")
    resources = {key: defs.resources[key] for key in sensor.required_resource_keys}
    with dg.build_sensor_context(instance=instance, definitions=defs, resources=resources) as context:
        result = sensor.evaluate_tick(context)
    return result.run_requests if result.run_requests else dg.SkipReason(result.skip_message)


def test_a_staged_retraining_goes_through_the_shadow_and_a_canary_to_a_verdict(tmp_path) -> None:
    with pytest.MonkeyPatch.context() as patch:
        settings = use_home(patch, tmp_path / "home")
        registry = Registry(settings.mlflow_tracking_uri, MODEL_NAME)
        lake = Lake(str(settings.lake_dir))
        with dg.DagsterInstance.get() as instance:
            defs, first = first_champion(settings, instance)
            assert first.success
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
