"""The `mlops` console script as a user runs it: one-line errors, and ingestion end to end."""

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from mlops_assets.lib import generator
from mlops_assets.settings import REPO_ROOT, Settings

MLOPS = str(Path(sys.executable).with_name("mlops"))


def mlops(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([MLOPS, *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["generate", "--start", "2025-13-01"], "expected a date as YYYY-MM-DD, got '2025-13-01'"),
        (["generate"], "--start YYYY-MM-DD is required"),
        (["generate", "--start", "2025-01-01", "--days", "0"], "expected a number of at least 1, got 0"),
        (["generate", "--start", "2025-01-01", "--rows-per-day", "many"], "expected a whole number, got 'many'"),
        (["generate", "--start", "2025-01-01", "--scenario", "storm"], "unknown scenario 'storm'; choose from"),
        (["generate", "--start", "2025-01-01", "--unlabelled-share", "2"], "expected a number between 0 and 1"),
        (["explode"], "invalid choice: 'explode'"),
        (["serve", "--port", "x"], "expected a whole number, got 'x'"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(settings: Settings, args: list[str], says: str) -> None:
    result = mlops(*args)
    assert result.returncode == 2
    assert says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["status"], "no champion model"),
        (["serve"], "no champion model"),
        (["rollback"], "no champion model"),
        (["retrain"], "no validated transactions yet"),
        (["demo", "--last-day", "2999-01-01"], "--last-day 2999-01-01 is after today"),
    ],
)
def test_missing_state_exits_1_with_one_line(settings: Settings, args: list[str], says: str) -> None:
    result = mlops(*args)
    assert result.returncode == 1 and says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_ingest_without_a_landing_folder_says_what_to_do(settings: Settings) -> None:
    settings.landing_dir.rmdir()
    result = mlops("ingest")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"mlops ingest: no landing folder at {settings.landing_dir}: "
        "run `mlops generate --start YYYY-MM-DD` or copy files there"
    )


def test_scenarios_and_truth_graph(settings: Settings) -> None:
    listed = mlops("generate", "--list-scenarios").stdout.splitlines()
    assert [line.split(":")[0] for line in listed] == ["baseline", "covariate_shift", "concept_drift", "dirty"]
    assert json.loads(mlops("generate", "--truth").stdout) == generator.truth_graph()


def test_generate_then_ingest_prints_counts_per_file_and_records_runs(settings: Settings) -> None:
    assert mlops("generate", "--start", "2025-03-01", "--days", "2", "--rows-per-day", "400").returncode == 0
    dirty = mlops(
        "generate", "--start", "2025-03-02", "--rows-per-day", "1000", "--scenario", "dirty", "--format", "csv"
    )
    assert "faults injected" in dirty.stdout

    result = mlops("ingest")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    table = {line.split()[0]: line.split()[1:] for line in lines if line.startswith("transactions_")}
    assert table == {
        "transactions_baseline_2025-03-01.parquet": ["400", "400", "0"],
        "transactions_baseline_2025-03-02.parquet": ["400", "400", "0"],
        "transactions_dirty_2025-03-02.csv": ["1,000", "980", "20"],
    }
    assert sum(line.startswith("rejected ") for line in lines) == 2

    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
    assert sorted(run.tags["dagster/partition"] for run in runs) == ["2025-03-01", "2025-03-02"]
    assert {run.tags["mlops/started_by"] for run in runs} == {"mlops ingest"}

    again = mlops("ingest")
    assert again.returncode == 0 and "no pending landing files" in again.stdout


def test_env_lets_the_feast_cli_work_in_the_feature_repo(settings: Settings) -> None:
    exports = mlops("env").stdout
    assert f"export MLOPS_FEAST_DIR={settings.feast_dir}" in exports.splitlines()
    feast = Path(sys.executable).with_name("feast")
    script = f'eval "$({MLOPS} env)" && cd feature_repo && {feast} apply && {feast} feature-services list'
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "fraud_detection_v1" in result.stdout
    assert (settings.feast_dir / "registry.db").is_file()
