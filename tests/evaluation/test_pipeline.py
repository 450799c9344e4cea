"""Training, evaluation, gating, promotion and rollback through the real graph: generated days,
a real Feast store, a real MLflow sqlite store and registry, the real `mlops` command line."""

import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from mlops_assets.defs.evaluation.assets import champion_model, model_evaluation
from mlops_assets.defs.ingestion import sensors as ingestion_sensors
from mlops_assets.defs.monitoring.assets import drift_report, drift_report_html
from mlops_assets.defs.monitoring.review import champion_review
from mlops_assets.defs.training.assets import baseline_model, bayesian_network, xgboost_model
from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.loop.retraining import DecisionLog
from mlops_assets.lib.modelling.graphs import structural_hamming_distance
from mlops_assets.lib.modelling.registry import MODEL_NAME, Registry
from mlops_assets.ops.features import build_features
from mlops_assets.ops.ingest import ingest_pending
from mlops_assets.ops.retrain import retrain
from mlops_assets.ops.runs import QUIET
from mlops_assets.resources import build_resources
from mlops_assets.settings import Settings
from mlops_assets.synth import generator
from mlops_assets.synth.generator import TRUTH_EDGES, TRUTH_NODES
from tests.conftest import use_home
from tests.support.history import first_champion, run_config

pytestmark = pytest.mark.slow


@dataclass
class Trained:
    settings: Settings
    defs: dg.Definitions
    instance: dg.DagsterInstance
    first: dg.ExecuteInProcessResult

    @property
    def registry(self) -> Registry:
        return Registry(self.settings.mlflow_tracking_uri, MODEL_NAME)

    @property
    def lake(self) -> Lake:
        return Lake(str(self.settings.lake_dir))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """Ten ingested baseline days with features, then one `retrain_job` run."""
    home = tmp_path_factory.mktemp("mlops")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(home)  # anything MLflow wrote to ./mlruns would show up here
        settings = use_home(patch, home)
        with dg.DagsterInstance.get() as instance:
            defs, first = first_champion(settings, instance)
            assert first.success
            yield Trained(settings, defs, instance, first)


def test_retraining_registers_three_tagged_versions_and_promotes_the_best(trained: Trained) -> None:
    registry = trained.registry
    versions = registry.versions()
    assert len(versions) == 3
    evaluation = trained.lake.read_record("model_evaluation")
    ranked = sorted(evaluation["candidates"].values(), key=lambda c: -c["metrics"]["pr_auc"])
    best_passing = next(c for c in ranked if not c["failures"])
    assert registry.alias("champion").version == best_passing["version"]
    assert registry.alias("challenger").version == ranked[0]["version"]
    assert registry.champion_history() == [best_passing["version"]]
    for version in versions:
        tags = version.tags
        assert tags["reason"] == "initial"
        assert tags["training_window"] == "2025-03-01..2025-03-06"  # the 4 holdout days are not trained on
        assert tags["git_commit"] == trained.settings.git_commit
        assert int(tags["train_rows"]) > 8000 and int(tags["train_fraud_rows"]) > 0
        assert 0 < float(tags["pr_auc"]) <= 1 and 0 < float(tags["threshold"]) < 1
        assert tags["gates"] == "passed" or tags["gates"].startswith("failed: ")
        assert len(tags["model_sha256"]) == 64


def test_mlflow_holds_one_finished_run_per_dagster_run_with_a_child_per_model(trained: Trained) -> None:
    import mlflow

    client = mlflow.MlflowClient(trained.settings.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name("fraud-detector")
    assert experiment.artifact_location == trained.settings.mlartifacts_dir.as_uri()
    assert not (trained.settings.home / "mlruns").exists()
    runs = client.search_runs([experiment.experiment_id])
    parents = [run for run in runs if run.data.tags.get("dagster_run_id") == trained.first.run_id]
    assert len(parents) == 1
    children = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert sorted(run.data.tags["kind"] for run in children) == ["baseline", "bayesian_network", "xgboost"]
    assert {run.info.status for run in [*parents, *children]} == {"FINISHED"}
    xgboost = next(run for run in children if run.data.tags["kind"] == "xgboost")
    assert xgboost.data.params["max_depth"] == "5" and "holdout_pr_auc" in xgboost.data.metrics
    assert "evaluation/evaluation.json" in {a.path for a in client.list_artifacts(parents[0].info.run_id, "evaluation")}


def test_the_champion_loads_through_mlflow_pyfunc_and_scores_like_our_loader(trained: Trained) -> None:
    import mlflow

    holdout = trained.lake.read("training_set").query("is_holdout").head(500)
    champion = trained.registry.alias("champion")
    pyfunc = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@champion")
    np.testing.assert_allclose(
        pyfunc.predict(holdout), trained.registry.load(champion.version).predict_proba(holdout), atol=1e-12
    )


def test_each_version_keeps_a_sample_of_its_holdout_days_as_drift_reference(trained: Trained) -> None:
    champion = trained.registry.alias("champion")
    model, reference = trained.registry.load_with_reference(champion.version)
    np.testing.assert_array_equal(
        model.predict_proba(reference), trained.registry.load(champion.version).predict_proba(reference)
    )
    assert set(model.inputs) <= set(reference.columns) and reference["is_fraud"].sum() > 0
    days = reference["event_timestamp"].dt.strftime("%Y-%m-%d")
    # The days it was evaluated on, after (never among) the days it was trained on.
    assert f"{days.min()}..{days.max()}" == champion.tags["reference_window"] == "2025-03-07..2025-03-10"
    assert champion.tags["training_window"] == "2025-03-01..2025-03-06"


def tick(trained: Trained, sensor_name: str):
    """One tick of a sensor of the real definitions, as the daemon evaluates it."""
    sensor = trained.defs.resolve_sensor_def(sensor_name)
    resources = {key: trained.defs.resources[key] for key in sensor.required_resource_keys}
    with dg.build_sensor_context(instance=trained.instance, definitions=trained.defs, resources=resources) as context:
        return sensor.evaluate_tick(context)


def test_a_new_day_goes_from_its_landing_file_to_its_drift_verdict_in_one_run(
    trained: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingestion_sensors, "LANDING_SETTLE_SECONDS", 0)  # the file is written whole
    # The first day `drifted` lands (the same day, rows and seed: the same file), landed first here.
    generator.generate(date(2025, 3, 11), 1, 1500, trained.settings.landing_dir, seed=8)
    [request] = tick(trained, "landing_sensor").run_requests
    assert (request.job_name, request.partition_key) == ("landed_day_job", "2025-03-11")
    run = trained.defs.resolve_job_def(request.job_name).execute_in_process(
        instance=trained.instance, partition_key=request.partition_key, tags=request.tags, run_config=QUIET
    )
    assert run.success
    written = {event.asset_key.to_user_string() for event in run.get_asset_materialization_events()}
    assert {"raw_transactions", "validated_transactions", "online_features", "drift_report"} <= written
    assert {"drift_report_html", "champion_review", "scored_transactions", "alert_queue"} <= written
    champion = trained.registry.alias("champion").version
    assert set(trained.lake.read("scored_transactions", "2025-03-11")["model_version"]) == {champion}
    assert str(trained.lake.read_record("drift_report/2025-03-11")["champion_version"]) == champion
    # The stages' own sensors find nothing left to do for the day.
    assert tick(trained, "features_sensor").skip_message == "features are up to date"
    assert tick(trained, "drift_report_sensor").skip_message == "no day after 2025-03-10 with features yet"
    assert tick(trained, "landing_sensor").run_requests == []
    assert tick(trained, "scoring_sensor").skip_message == "every day after 2025-03-10 is scored and queued"


def test_a_model_whose_files_changed_is_refused(trained: Trained) -> None:
    registry = trained.registry
    version = registry.versions()[0].version
    registry.set_tags(version, {"model_sha256": "0" * 64})
    try:
        with pytest.raises(ValueError, match="do not match"):
            registry.load(version)
    finally:
        registry.set_tags(version, {"model_sha256": registry.versions()[0].tags["model_sha256"]})


def test_the_bayesian_network_reports_its_distance_to_the_truth_and_its_graph(trained: Trained) -> None:
    [materialization] = trained.first.asset_materializations_for_node("bayesian_network")
    metadata = materialization.metadata
    record = trained.lake.read_record("bayesian_network")
    network = trained.registry.load(record["version"]).network
    shared = sorted(set(TRUTH_NODES) & set(network.cardinality))
    assert metadata["structural_hamming_distance"].value == structural_hamming_distance(
        network.edges, TRUTH_EDGES, shared
    )
    # The network's variables are the model inputs' names: those the truth graph shares are compared.
    assert "is_fraud" in shared and len(shared) >= 3 and metadata["truth_variables_compared"].value == ", ".join(shared)
    assert metadata["learned_graph"].value.startswith("![learned network](data:image/png;base64,")
    assert metadata["learned_graph_mermaid"].value.startswith("```mermaid")


def test_evaluation_metadata_compares_every_model_with_plots(trained: Trained) -> None:
    [materialization] = trained.first.asset_materializations_for_node("model_evaluation")
    metadata = materialization.metadata
    for kind in ("xgboost", "baseline", "bayesian_network"):
        assert kind in metadata["metrics"].value
    assert "data:image/png;base64," in metadata["plots"].value
    assert Path(metadata["plot_path"].value).read_bytes().startswith(b"\x89PNG")


@pytest.fixture(scope="module")
def drifted(trained: Trained) -> Trained:
    """One more ordinary day after training, two days of `concept_drift`, then one of
    `covariate_shift`, with features."""
    generator.generate(date(2025, 3, 11), 1, 1500, trained.settings.landing_dir, seed=8)
    generator.generate(date(2025, 3, 12), 2, 1500, trained.settings.landing_dir, scenario="concept_drift", seed=8)
    generator.generate(date(2025, 3, 14), 1, 1500, trained.settings.landing_dir, scenario="covariate_shift", seed=8)
    assert not ingest_pending(trained.defs, trained.instance).failed_days
    days = ["2025-03-11", "2025-03-12", "2025-03-13", "2025-03-14"]
    assert not build_features(trained.defs, trained.instance, days)
    return trained


def drift_record(trained: Trained, day: str, window_days: int) -> tuple[dict, dict]:
    result = dg.materialize(
        [drift_report, drift_report_html],
        partition_key=day,
        resources=build_resources(trained.settings),
        instance=trained.instance,
        run_config={"ops": {"drift_report": {"config": {"window_days": window_days}}}},
    )
    [materialization] = result.asset_materializations_for_node("drift_report")
    return trained.lake.read_record(f"drift_report/{day}"), materialization.metadata


def test_a_concept_drift_window_is_flagged_with_its_reasons_and_report(drifted: Trained) -> None:
    record, metadata = drift_record(drifted, "2025-03-13", window_days=2)
    assert record["verdict"] == "drift"
    assert any(reason.startswith(("fraud's conditional", "PR AUC fell")) for reason in record["reasons"])
    assert record["pr_auc_drop"] > 0.2 and record["labelled_rows"] == 3000
    # The HTML, rendered by its own step after the verdict, is where the verdict says.
    assert Path(record["report"]).read_text()[:1000].lower().count("html") > 0
    assert metadata["verdict"].value == "drift" and "wasserstein" in metadata["inputs"].value
    # A labelled window reports its PR AUC, and no "too few labels" note beside it.
    assert metadata["pr_auc"].value == pytest.approx(record["pr_auc"], abs=1e-4) and "labels" not in metadata
    assert metadata["report"].value == record["report"]
    html = drifted.instance.get_latest_materialization_event(dg.AssetKey("drift_report_html"))
    shown = html.asset_materialization.metadata
    assert shown["window_rows"].value == shown["rows_in_report"].value == 3000  # under HTML_MAX_ROWS


def test_a_covariate_shift_day_reports_the_inputs_that_moved_and_the_scores(drifted: Trained) -> None:
    record, metadata = drift_record(drifted, "2025-03-14", window_days=1)
    # The policy: inputs that moved the champion's scores are drift (and retrain once labels allow).
    assert {"amount_usd", "hour_of_day", "amount_vs_mean_30d"} <= set(record["shifted_inputs"])
    # (0.25 on 1,500 rows after 10 days of history: at the policy's edge between warn and drift.)
    assert record["prediction_psi"] > 0.15 and record["verdict"] in ("warn", "drift")
    assert any(reason.startswith("champion's scores") for reason in record["reasons"])
    assert "| amount_usd " in metadata["inputs"].value


def review(trained: Trained, day: str) -> dict:
    """`champion_review` of `day`: its record."""
    dg.materialize(
        [champion_review],
        partition_key=day,
        resources=build_resources(trained.settings),
        instance=trained.instance,
    )
    return trained.lake.read_record(f"champion_review/{day}")


def mlops(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlops_assets.cli", *args], capture_output=True, text=True, env=os.environ.copy()
    )


def test_a_bad_candidate_fails_the_gates_the_champion_stays_and_rollback_works(trained: Trained, drifted) -> None:
    registry, lake = trained.registry, trained.lake
    first_champion = registry.alias("champion").version
    # Candidates trained on shuffled labels (the holdout keeps the true ones) rank no better than chance.
    original = lake.read("training_set")
    shuffled = original.copy()
    train = ~shuffled["is_holdout"]
    shuffled.loc[train, "is_fraud"] = np.random.default_rng(0).permutation(shuffled.loc[train, "is_fraud"].to_numpy())
    lake.write("training_set", shuffled)
    models = [xgboost_model, baseline_model, bayesian_network, model_evaluation, champion_model]
    bad = retrain(trained.defs, trained.instance, "manual", run_config(trained.settings), selection=models)
    # The blocking gate fails the run, and nothing else does.
    failed_steps = {event.step_key for event in bad.all_events if event.is_step_failure}
    assert failed_steps and all(step.startswith("model_evaluation_") for step in failed_steps)
    checks = {evaluation.check_name: evaluation for evaluation in bad.get_asset_check_evaluations()}
    assert not checks["min_pr_auc"].passed and checks["min_pr_auc"].severity == dg.AssetCheckSeverity.ERROR
    assert "no candidate passes: the champion stays" in checks["min_pr_auc"].description
    assert not bad.asset_materializations_for_node("champion_model")
    assert registry.alias("champion").version == first_champion
    newest = registry.versions()[-3:]
    assert all(version.tags["gates"].startswith("failed: ") for version in newest)
    assert registry.alias("challenger").version in {version.version for version in newest}

    # With the true labels back, a retraining passes (no worse than the champion) and is promoted.
    lake.write("training_set", original)
    good = retrain(trained.defs, trained.instance, "manual", run_config(trained.settings), selection=models)
    assert good.success and good.asset_materializations_for_node("champion_model")
    second_champion = registry.alias("champion").version
    assert int(second_champion) > int(first_champion)
    assert registry.versions()[-1].tags["reason"] == "manual"

    rolled = mlops("rollback")
    assert rolled.returncode == 0, rolled.stderr
    assert (
        rolled.stdout.strip()
        == f"champion: version {first_champion} (was {second_champion}); version {second_champion} stays registered"
    )
    assert registry.alias("champion").version == first_champion
    assert mlops("rollback").returncode == 1  # nothing before the first champion
    assert (
        mlops("rollback", "--to", "999")
        .stderr.strip()
        .endswith("was never champion (champions so far: " + first_champion + ")")
    )
    status = mlops("status")
    assert status.returncode == 0 and status.stdout.startswith(f"champion:   version {first_champion} (")
    assert "last retraining: reason manual" in status.stdout

    # A promotion that loses on the labelled days after it is rolled back by the review, once.
    shuffled = [v for v in registry.versions() if v.tags["reason"] == "manual" and v.tags["gates"].startswith("failed")]
    loser = next(v for v in shuffled if v.tags["kind"] == "xgboost")
    registry.promote(loser.version)  # as a person might, bypassing the gates
    assert loser.tags["reference_window"].endswith("2025-03-14")
    generator.generate(date(2025, 3, 15), 3, 1500, trained.settings.landing_dir, seed=8)
    assert not ingest_pending(trained.defs, trained.instance).failed_days
    assert not build_features(trained.defs, trained.instance, ["2025-03-15", "2025-03-16", "2025-03-17"])
    assert review(trained, "2025-03-16")["status"] == "waiting: 2 of 3 days after the promotion"
    reviewed = review(trained, "2025-03-17")
    assert reviewed["status"] == "rollback" and reviewed["days"] == "2025-03-15..2025-03-17"
    assert reviewed["previous_pr_auc"] > reviewed["pr_auc"] + 0.1 and reviewed["gap_low"] > 0
    assert registry.alias("champion").version == first_champion
    decision = DecisionLog(lake).get(f"review.v{loser.version}")
    assert decision.action == "rollback" and decision.version == first_champion
    assert decision.reason.startswith("the new champion lost on the days after its promotion")
    assert review(trained, "2025-03-17")["status"] == "nothing to review: the first champion"
