"""The definitions that `workspace.yaml` loads: the contract's names, and a fast, light load."""

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg

from mlops_assets.lib.quality.gates import GATES
from mlops_assets.settings import REPO_ROOT, Settings

HEAVY = ["mlflow", "feast", "evidently", "bentoml", "xgboost", "pgmpy", "sklearn", "matplotlib", "skops"]


def test_contract_names(defs: dg.Definitions) -> None:
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {"raw_transactions", "validated_transactions", "quarantined_transactions"} <= keys
    for sensor in (
        "landing_sensor",
        "features_sensor",
        "label_sensor",
        "unmatched_labels_sensor",
        "shadow_sensor",
        "scoring_sensor",
    ):
        assert defs.resolve_sensor_def(sensor).default_status == dg.DefaultSensorStatus.RUNNING
    assert {"customer_features", "merchant_features", "online_features", "training_set"} <= keys
    assert {"xgboost_model", "baseline_model", "bayesian_network", "model_evaluation", "champion_model"} <= keys
    assert {"drift_report", "bento", "shadow_scores"} <= keys
    assert defs.resolve_job_def("retrain_job") is not None
    checks = {key.name for key in graph.asset_check_keys}
    assert checks == {
        "schema_holds",
        "rows_reconcile",
        "quarantine_share_below_threshold",
        "transaction_id_unique_across_partitions",
        *GATES,
    }


def test_workspace_loads_without_heavy_libraries(settings: Settings) -> None:
    probe = f"import sys, mlops_assets.definitions; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_dagster_validates_the_workspace(settings: Settings) -> None:
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dagsters_project_tool_sees_the_code_location_the_workspace_loads(defs: dg.Definitions) -> None:
    """`dg` (configured in pyproject.toml, run by `make lint` and `dg dev`) lists the same
    assets, checks, jobs, sensors and schedules as the definitions `workspace.yaml` loads."""
    dg_cli = Path(sys.executable).with_name("dg")
    result = subprocess.run(
        [str(dg_cli), "list", "defs", "--json"], capture_output=True, text=True, cwd=REPO_ROOT, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    listed = json.loads(result.stdout)
    graph = defs.resolve_asset_graph()
    assert {asset["asset_key"] for asset in listed["assets"]} == {
        key.to_user_string() for key in graph.get_all_asset_keys()
    }
    assert len(listed["asset_checks"]) == len(graph.asset_check_keys)
    repository = defs.get_repository_def()
    jobs = {job.name for job in repository.get_all_jobs() if not job.name.startswith("__")}  # not Dagster's own
    assert {job["name"] for job in listed["jobs"]} == jobs
    assert {sensor["name"] for sensor in listed["sensors"]} == {sensor.name for sensor in repository.sensor_defs}
    assert {schedule["name"] for schedule in listed["schedules"]} == {s.name for s in repository.schedule_defs}
