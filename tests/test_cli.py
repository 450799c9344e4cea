"""The `mlops` console script as a user runs it: one-line errors, and ingestion end to end."""

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.loop.retraining import DecisionLog
from mlops_assets.lib.loop.rollout import current_rollout
from mlops_assets.lib.modelling.registry import MODEL_NAME, Registry
from mlops_assets.settings import REPO_ROOT, Settings
from mlops_assets.synth import generator

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
        (["import", "x.csv", "--map", "card=CARD"], "'card', which is not a contract column"),
        (["import", "x.csv", "--timezone", "Mars/Olympus"], "unknown time zone"),
        (["import", "x.csv", "--label-delay", "a week"], "a window is a whole number and a unit"),
        (["retrain", "--days", "0"], "expected a number of at least 1, got 0"),
        (["rollout", "start", "2", "--share", "1.5"], "expected a number between 0 and 1, got 1.5"),
        (["rollout", "launch"], "invalid choice: 'launch'"),
        (["score"], "the following arguments are required: --day"),
        (["score", "--day", "2025-02-30"], "expected a date as YYYY-MM-DD, got '2025-02-30'"),
        (["score", "--day", "2025-01-01", "--version", "v7"], "expected a version number such as 7, got 'v7'"),
        (["score", "--day", "2025-01-01", "--capacity", "0"], "expected a number of at least 1, got 0"),
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
        (["rollout", "status"], "no champion model"),
        (["retrain"], "no validated transactions yet"),
        (["demo", "--last-day", "2999-01-01"], "--last-day 2999-01-01 is after today"),
        (["score", "--day", "2025-01-01"], "--day 2025-01-01 has no validated transactions"),
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


def test_import_lands_a_foreign_table_and_says_what_validation_will_refuse(settings: Settings, tmp_path: Path) -> None:
    """Other column names, ids from 0, a zero amount, naive timestamps in Brussels time, no optional
    column, one row that breaks the contract: every row is landed and accounted for at ingestion."""
    import pandas as pd

    source = tmp_path / "export.csv"
    ordinary = 40  # more rows of the second day, so that one bad row stays under the day's quarantine limit
    pd.DataFrame(
        {
            "TX_ID": range(4 + ordinary),
            "TX_TIME": ["2018-04-01 00:30:00", "2018-04-01 12:00:00", "2018-04-02 09:15:00", "2018-04-02 10:00:00"]
            + [f"2018-04-02 11:{minute:02d}:00" for minute in range(ordinary)],
            "CARD": [0, 0, 1, 2] + [3] * ordinary,
            "TERMINAL": [0, 5, 5, 7] + [8] * ordinary,
            "AMOUNT": [12.5, 0.0, 80.0, -3.0] + [20.0] * ordinary,
            "FRAUD": [0, 0, 1, 0] + [0] * ordinary,
        }
    ).to_csv(source, index=False)
    mapping = "transaction_id=TX_ID,event_timestamp=TX_TIME,customer_id=CARD,merchant_id=TERMINAL,amount=AMOUNT"
    result = mlops("import", str(source), "--map", mapping + ",is_fraud=FRAUD", "--timezone", "Europe/Brussels")
    assert result.returncode == 0, result.stderr
    assert "customer_id <- CARD" in result.stdout and "read 44 rows; landed 44" in result.stdout
    assert "optional columns absent: merchant_category, channel, card_present, country" in result.stdout
    assert "amount: >= 0: 1" in result.stdout  # the refusal, with its reason and count
    # 00:30 in Brussels (UTC+2 in April) is 22:30 UTC the day before: the data starts on 2018-03-31.
    assert "MLOPS_PARTITIONS_START=2018-03-31" in result.stdout
    assert Settings.from_env().partitions_start == "2018-03-31" and Settings.from_env().features.timezone == (
        "Europe/Brussels"
    )
    landed = pd.read_parquet(settings.landing_dir / "export.imported.parquet")
    assert landed["event_timestamp"].tolist()[0].startswith("2018-03-31T22:30:00")
    assert landed["customer_id"].tolist()[:4] == ["0", "0", "1", "2"]
    ingested = mlops("ingest")
    assert ingested.returncode == 0, ingested.stderr
    # read = validated + quarantined: the ids of 0 and the zero amount are valid, the negative one is not.
    assert "export.imported.parquet         44         43            1" in ingested.stdout
    assert "quarantined, by broken rule (rows; a row may break several):\n    amount: >= 0: 1" in ingested.stdout


def test_import_keeps_the_data_s_common_merchant_categories_as_the_category_inputs(
    settings: Settings, tmp_path: Path
) -> None:
    import pandas as pd

    source = tmp_path / "export.parquet"
    # 300 rows: a rare one, one with a comma, one without letters, one that names the same input.
    categories = ["Grocery"] * 180 + [" fuel "] * 87 + ["Rare"] + ["bars, pubs"] * 2 + ["--"] * 20 + ["FUEL!"] * 10
    pd.DataFrame(
        {
            "id": range(300),
            "at": pd.date_range("2018-04-01", periods=300, freq="min"),
            "card": 1,
            "shop": 2,
            "amount": 5.0,
            "kind": categories,
        }
    ).to_parquet(source)
    mapping = "transaction_id=id,event_timestamp=at,customer_id=card,merchant_id=shop,amount=amount"
    result = mlops("import", str(source), "--map", mapping + ",merchant_category=kind")
    assert result.returncode == 0, result.stderr
    # Those left out are unknown: under 0.5% of rows, a comma (the setting's separator), no input name.
    assert "MLOPS_MERCHANT_CATEGORIES=grocery,fuel" in result.stdout
    assert Settings.from_env().features.merchant_categories == ("grocery", "fuel")


def test_retrain_before_any_features_says_what_to_run(settings: Settings) -> None:
    Lake(str(settings.lake_dir)).write("validated_transactions", pd.DataFrame({"transaction_id": [1]}), "2025-01-01")
    result = mlops("retrain")
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == "mlops retrain: no features built yet: run `mlops backfill` (or `mlops up`, whose sensors build them)"
    )


def test_a_rollout_by_hand_from_the_shadow_to_the_canary_to_champion_or_aborted(settings: Settings) -> None:
    registry = Registry(settings.mlflow_tracking_uri, MODEL_NAME)
    registry.client.create_registered_model(MODEL_NAME)
    for _ in range(3):  # versions from a plain folder: moving aliases needs no model
        registry.client.create_model_version(MODEL_NAME, source=settings.home.as_uri())
    registry.promote("1")
    assert mlops("rollout", "status").stdout.strip() == "no rollout in progress"
    nothing = mlops("rollout", "promote")
    assert nothing.returncode == 1 and "no rollout in progress" in nothing.stderr

    started = mlops("rollout", "start", "2", "--share", "0.25")
    assert started.returncode == 0, started.stderr
    assert registry.alias("challenger").version == "2" and current_rollout(registry).stage == "shadow"
    again = mlops("rollout", "start", "3")
    assert again.returncode == 1 and "a rollout is in progress" in again.stderr
    assert mlops("rollout", "canary").returncode == 0
    assert current_rollout(registry).answering_share == 0.25
    assert "version 2 in the canary stage against champion v1" in mlops("rollout", "status").stdout
    promoted = mlops("rollout", "promote")
    assert promoted.returncode == 0 and registry.alias("champion").version == "2"
    assert current_rollout(registry) is None

    assert mlops("rollout", "start", "3", "--stage", "canary").returncode == 0
    aborted = mlops("rollout", "abort")
    assert aborted.returncode == 0 and "champion v2 untouched" in aborted.stdout
    assert registry.alias("champion").version == "2" == registry.alias("challenger").version
    decisions = DecisionLog(Lake(str(settings.lake_dir))).all()
    assert [(d.action, d.version, d.champion_version) for d in decisions] == [
        ("shadow", "2", "1"),
        ("canary", "2", "1"),
        ("promote", "2", "1"),
        ("canary", "3", "2"),
        ("abort", "3", "2"),
    ]
