"""The whole asset graph in the production environment (`MLOPS_ENV=production`), against real
servers on loopback that the test starts and stops: S3 (`moto_server`) holds the landing folder,
the lake, the reports, MLflow's artifacts and Feast's registry; PostgreSQL holds Dagster's runs and
event logs (with `deploy/dagster.yaml`'s storage settings) and MLflow's backend store; Redis is
Feast's online store. Every object the graph wrote is read back from S3."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import logging
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import httpx
import pandas as pd
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
import yaml

from mlops_assets.definitions import build_definitions
from mlops_assets.feature_store import online_features, open_store
from mlops_assets.lib.data.labels import LabelFolder
from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.data.storage import Folder
from mlops_assets.lib.featurize.features import model_input
from mlops_assets.lib.modelling.registry import CHAMPION, MODEL_NAME, Registry, VersionInfo
from mlops_assets.lib.quality.shadow import SHADOW_COLUMNS, ShadowLog
from mlops_assets.ops.features import build_features
from mlops_assets.ops.ingest import ingest_pending
from mlops_assets.ops.retrain import retrain
from mlops_assets.resources import build_resources
from mlops_assets.settings import REPO_ROOT, Settings, SparkSettings
from mlops_assets.synth import generator
from serving.champion import load
from serving.online import unknown_features
from serving.schemas import Transaction
from serving.scoring import FIELDS, transactions_frame
from tests.conftest import use_home
from tests.deploy.secrets import files_under, leaks, readable
from tests.serving.conftest import serving, wait_for_model
from tests.serving.test_bento import BENTOML, bentoml_json
from tests.support.history import DAYS, run_config
from tests.support.processes import wait_until
from tests.support.prometheus import fast_rules, prometheus_server
from tests.support.servers import moto_server, postgres_server, redis_server
from tests.support.spark import SPARK_VARIABLES, assert_same
from tests.support.tcp_relay import tcp_relay
from tests.test_cli import MLOPS

pytestmark = pytest.mark.slow

BUCKET = "mlops-production"
SPARK_LOCAL = {name: value for name, value in SPARK_VARIABLES.items() if name.startswith("MLOPS_SPARK_")}
FIRST_DAY = date(2025, 3, 1)
LAST_DAY = "2025-03-10"
WORKERS = 2  # of the service in the outage test
REDIS_PASSWORD = "test-redis-4b1e"  # not a credential: what the test's own Redis asks for
# The secrets a deployment hands the code (values set by the `production` fixture and moto_server).
SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "MLOPS_REDIS_PASSWORD", "DAGSTER_PG_PASSWORD")
# Every asset the graph materializes in a run (`retrain_decisions` is reported by the others).
MATERIALIZED = (
    "raw_transactions",
    "validated_transactions",
    "customer_features",
    "merchant_features",
    "online_features",
    "training_set",
    "xgboost_model",
    "baseline_model",
    "bayesian_network",
    "model_evaluation",
    "champion_model",
    "bento",
    "drift_report",
    "champion_review",
    "shadow_scores",
)


def instance_yaml() -> str:
    """`deploy/dagster.yaml` as a process outside Kubernetes uses it: its storage, not its launcher."""
    config = yaml.safe_load((REPO_ROOT / "deploy" / "dagster.yaml").read_text())
    del config["run_launcher"], config["run_monitoring"]  # no cluster here: runs execute in process
    assert config["storage"]["postgres"]["postgres_db"]["db_name"] == {"env": "DAGSTER_PG_DB"}
    return yaml.safe_dump(config)


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory):
    """The servers, and a production `Settings` pointing at them (the environment set as a
    deployment would set it; the test's S3 keys are moto's fake account, and its Redis asks for a
    password, as a production one would)."""
    logs = tmp_path_factory.mktemp("servers")
    with (
        moto_server(logs / "moto.log") as s3,
        postgres_server(logs / "postgres.log") as postgres,
        redis_server(logs / "redis.log", REDIS_PASSWORD) as redis,
        pytest.MonkeyPatch.context() as patch,
    ):
        s3.bucket(BUCKET)
        postgres.create_database("dagster")
        postgres.create_database("mlflow")
        use_home(patch, tmp_path_factory.mktemp("home"))
        environment = {
            "MLOPS_ENV": "production",
            "MLOPS_STORAGE_URI": f"s3://{BUCKET}",
            "MLOPS_S3_ENDPOINT_URL": s3.endpoint,
            "MLOPS_REDIS_URL": redis,
            "MLOPS_REDIS_PASSWORD": REDIS_PASSWORD,
            "MLFLOW_TRACKING_URI": postgres.url("mlflow"),
            "MLFLOW_S3_ENDPOINT_URL": s3.endpoint,
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(postgres.port),
            "DAGSTER_PG_USER": postgres.user,
            "DAGSTER_PG_PASSWORD": "test-pg-unused-3c8d",  # the test's server trusts loopback
            "DAGSTER_PG_DB": "dagster",
        }
        for name, value in environment.items():
            patch.setenv(name, value)
        settings = Settings.from_env()
        (settings.dagster_home / "dagster.yaml").write_text(instance_yaml())
        yield settings, postgres


def land_on_s3(settings: Settings, local: Path) -> list[str]:
    """Ten generated days, uploaded to the landing prefix as a producer would."""
    generator.generate(FIRST_DAY, DAYS, 1500, local, seed=8)
    landing = Folder.at(settings.landing_location, settings.s3)
    names = sorted(path.name for path in local.iterdir() if path.is_file())
    for name in names:
        landing.write(name, (local / name).read_bytes())
    return names


def shadow_fragment(settings: Settings, lake: Lake) -> None:
    """What a serving worker would write for a few of the last day's transactions."""
    rows = lake.read("validated_transactions", LAST_DAY).head(50)
    version = Registry(settings.mlflow_tracking_uri, MODEL_NAME).alias(CHAMPION).version
    scores = rows[["transaction_id", "event_timestamp", "customer_id", "merchant_id", "amount"]].assign(
        scored_at=pd.Timestamp.now(tz="UTC"),
        champion_version=version,
        champion_probability=0.2,
        champion_is_fraud=False,
        challenger_version=version,
        challenger_probability=0.3,
        challenger_is_fraud=False,
    )
    ShadowLog.of_landing(settings.landing_location, settings.s3).write(scores[list(SHADOW_COLUMNS)])


def bucket_objects(settings: Settings) -> Iterator[tuple[str, bytes]]:
    """(key, bytes) of every object in the bucket."""
    filesystem = settings.s3.filesystem()
    for info in filesystem.get_file_info(pafs.FileSelector(BUCKET, recursive=True)):
        if info.type == pafs.FileType.File:
            with filesystem.open_input_file(info.path) as handle:
                yield info.path.removeprefix(f"{BUCKET}/"), handle.read()


def read_back(key: str, data: bytes) -> object:
    """An object read as what its name says it is; fails on anything unreadable."""
    assert data, f"{key} is empty"
    if key.endswith(".parquet"):
        return pq.read_table(io.BytesIO(data))
    if key.endswith(".json"):
        return json.loads(data)
    if key.endswith(".png"):
        assert data.startswith(b"\x89PNG"), key
    if key.endswith(".html"):
        assert b"<html" in data[:2000].lower(), key
    return data


@dataclass(frozen=True)
class Graph:
    landed: list[str]  # the names of the landed files
    python_log: Path  # every Python log record of INFO and above while the graph ran


@pytest.fixture(scope="module")
def graph(production, tmp_path_factory: pytest.TempPathFactory) -> Graph:
    """Every asset materialized once in production, as the daemon's sensors would run them: the
    landed files ingested, features built, a retraining, a drift report and shadow scores."""
    settings, _ = production
    landed = land_on_s3(settings, tmp_path_factory.mktemp("generated"))
    defs = build_definitions(build_resources(settings))
    lake = Lake(settings.lake_location, settings.s3)
    python_log = tmp_path_factory.mktemp("logs") / "python.log"
    with dg.DagsterInstance.get() as instance, logged(python_log):
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        report = ingest_pending(defs, instance)
        assert not report.failed_days and len(report.files) == len(landed)
        assert not build_features(defs, instance, lake.partitions("validated_transactions"))
        assert retrain(defs, instance, None, run_config(settings)).success
        monitoring = defs.resolve_job_def("monitoring_job")
        assert monitoring.execute_in_process(instance=instance, partition_key=LAST_DAY).success
        shadow_fragment(settings, lake)
        shadow = defs.resolve_job_def("shadow_job")
        assert shadow.execute_in_process(instance=instance, partition_key=LAST_DAY).success
        for key in MATERIALIZED:
            assert instance.get_latest_materialization_event(dg.AssetKey(key)) is not None, key
    return Graph(landed, python_log)


@contextlib.contextmanager
def logged(path: Path) -> Iterator[None]:
    """Writes what every Python logger (MLflow, Feast, boto, ours) records at INFO and above, the
    level a deployment runs at, to `path`. Dagster's own run logs are in its event log."""
    handler = logging.FileHandler(path)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()


def test_the_whole_graph_runs_on_s3_postgres_and_redis(production, graph, tmp_path: Path) -> None:
    settings, postgres = production
    landed = graph.landed
    lake = Lake(settings.lake_location, settings.s3)

    # Dagster's runs and events, and MLflow's registry, are in PostgreSQL; the models' files on S3.
    assert int(postgres.query("dagster", "SELECT count(*) FROM runs WHERE status = 'SUCCESS'")[0]) >= DAYS + 3
    versions = postgres.query(
        "mlflow", f"SELECT version, storage_location FROM model_versions WHERE name = '{MODEL_NAME}'"
    )
    assert len(versions) >= 3 and all(f"s3://{BUCKET}/mlartifacts/" in row for row in versions)

    # Every object is readable; each part of the state is where production puts it.
    contents = {key: read_back(key, data) for key, data in bucket_objects(settings)}
    assert {name for name in contents if name.count("/") == 1 and name.startswith("landing/")} == {
        f"landing/{name}" for name in landed
    }
    for table in ("raw_transactions", "validated_transactions", "customer_features", "merchant_features"):
        assert f"lake/{table}/{LAST_DAY}.parquet" in contents, table
    assert contents[f"lake/shadow_scores/{LAST_DAY}.parquet"].num_rows == 50
    assert "lake/training_set.parquet" in contents and f"lake/drift_report/{LAST_DAY}.json" in contents
    assert contents["lake/champion_model.json"]["version"]
    assert f"reports/drift/{LAST_DAY}.html" in contents
    assert any(name.startswith("reports/evaluation/") for name in contents)
    assert any(name.startswith("landing/.index/") and name.endswith(".rows.parquet") for name in contents)
    assert any(name.startswith("mlartifacts/") and name.endswith("MLmodel") for name in contents)
    assert "feast/registry.db" in contents

    # The Bento left the step's pod: exported to S3, and `bentoml import` of it serves the champion.
    bento = contents["lake/bento.json"]
    assert bento["exported"] == f"s3://{BUCKET}/bentos/{bento['bento'].replace(':', '-')}.bento"
    exported = tmp_path / "exported.bento"
    exported.write_bytes(contents[bento["exported"].removeprefix(f"s3://{BUCKET}/")])
    fresh_store = tmp_path / "bentoml"
    subprocess.run(
        [BENTOML, "import", str(exported)],
        env={**os.environ, "BENTOML_HOME": str(fresh_store)},
        check=True,
        capture_output=True,
        timeout=120,
    )
    imported = bentoml_json(fresh_store, "get", bento["bento"])
    assert [model["tag"] for model in imported["models"]] == [bento["model"]]
    assert bento["model"] == f"{MODEL_NAME}:v{bento['champion_version']}"

    # Feast's online store is Redis: its values are the lake's latest features of each customer.
    store = open_store(settings, REDIS_PASSWORD)
    transactions = lake.read("validated_transactions", LAST_DAY).tail(20).reset_index(drop=True)
    online = online_features(store, transactions)
    latest = lake.read("customer_features", LAST_DAY).sort_values("event_timestamp")
    latest = latest.drop_duplicates("customer_id", keep="last").set_index("customer_id")
    expected = transactions["customer_id"].map(latest["txn_count_30d"])
    known = expected.notna()
    assert known.any()
    assert (online.loc[known, "txn_count_30d"].astype("int64") == expected[known].astype("int64")).all()


def test_the_spark_engine_reads_and_writes_the_lake_on_s3_through_its_s3_connector(production, graph) -> None:
    """The last day's features and scores again with `MLOPS_ENGINE=spark`: Spark reads the
    validated days and the feature tables through S3A (`s3a://`) and writes the day's tables to
    S3, and they are the pandas path's, value for value."""
    settings, _ = production
    lake = Lake(settings.lake_location, settings.s3)
    instance = dg.DagsterInstance.get()
    pandas_defs = build_definitions(build_resources(settings))
    assert (
        pandas_defs.resolve_job_def("scoring_job").execute_in_process(instance=instance, partition_key=LAST_DAY).success
    )
    tables = ("customer_features", "merchant_features", "scored_transactions")
    by_pandas = {table: lake.read(table, LAST_DAY) for table in tables}
    spark_settings = dataclasses.replace(settings, engine="spark", spark=SparkSettings.from_variables(SPARK_LOCAL))
    spark_defs = build_definitions(build_resources(spark_settings))
    for job in ("features_job", "scoring_job"):
        result = spark_defs.resolve_job_def(job).execute_in_process(instance=instance, partition_key=LAST_DAY)
        assert result.success, job
    scored = instance.get_latest_materialization_event(dg.AssetKey("scored_transactions")).asset_materialization
    assert scored.metadata["engine"].value == "spark"
    assert scored.metadata["path"].value == f"{BUCKET}/lake/scored_transactions/{LAST_DAY}.parquet"
    keys = {
        "customer_features": ["customer_id", "event_timestamp"],
        "merchant_features": ["merchant_id", "event_timestamp"],
    }
    keys["scored_transactions"] = ["transaction_id"]
    for table in tables:
        by_spark = lake.read(table, LAST_DAY)
        assert_same(
            by_spark.drop(columns=["scored_at"], errors="ignore"),
            by_pandas[table].drop(columns=["scored_at"], errors="ignore"),
            keys[table],
        )
    # Spark's staging folders are gone: only the day's files remain beside the tables.
    assert not [
        info.path for info in lake.filesystem.get_file_info(pafs.FileSelector(lake.root)) if ".spark-" in info.path
    ]


def test_mlops_status_reads_the_production_registry_and_lake(production, graph) -> None:
    settings, _ = production
    status = subprocess.run([MLOPS, "status"], capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert status.returncode == 0, status.stderr[-3000:]
    champion = Lake(settings.lake_location, settings.s3).read_record("champion_model")["version"]
    assert f"champion:   version {champion} " in status.stdout, status.stdout
    assert "last drift verdict: " in status.stdout and f" on {LAST_DAY} (window " in status.stdout, status.stdout


def test_the_service_serves_the_champion_from_s3_with_features_from_redis(production, graph, tmp_path: Path) -> None:
    """`mlops serve` in production: the champion's files come from S3 through the registry in
    PostgreSQL, each transaction's features from Redis, and labels go to the landing prefix."""
    settings, _ = production
    lake = Lake(settings.lake_location, settings.s3)
    rows = lake.read("validated_transactions", LAST_DAY).tail(30).reset_index(drop=True)
    transactions = rows[list(FIELDS)].assign(event_timestamp=rows["event_timestamp"].map(lambda t: t.isoformat()))
    registry = Registry(settings.mlflow_tracking_uri, MODEL_NAME)
    champion = load(registry, registry.alias(CHAMPION), explained=False)
    frame = transactions_frame([Transaction(**row) for row in transactions.to_dict(orient="records")])
    online = online_features(open_store(settings, REDIS_PASSWORD), frame)
    assert online["txn_count_30d"].notna().any()  # known customers: their features count
    expected = champion.model.predict_proba(model_input(frame, online))

    environment = {"BENTOML_HOME": str(tmp_path / "bentoml")}
    with serving(tmp_path / "bentoml.log", environment) as (_, client):
        answer = client.post("/predict", json={"transactions": transactions.to_dict(orient="records")})
        assert answer.status_code == 200, answer.text
        assert answer.headers["X-Model-Version"] == champion.version
        served = [prediction["fraud_probability"] for prediction in answer.json()["predictions"]]
        assert served == pytest.approx(expected.tolist(), abs=1e-6)

        labels = [{"transaction_id": t, "is_fraud": 1} for t in rows["transaction_id"].head(5)]
        feedback = client.post("/feedback", json={"labels": labels})
        assert feedback.status_code == 200, feedback.text
    written = LabelFolder.of_landing(settings.landing_location, settings.s3)
    assert feedback.json()["file"] in {info.base_name for info in written.files()}
    assert written.folder.location == f"s3://{BUCKET}/landing/labels"
    assert not leaks(secrets(), [("the service's log", (tmp_path / "bentoml.log").read_bytes())])


def test_the_service_keeps_answering_while_the_registry_and_redis_are_down(production, graph, tmp_path: Path) -> None:
    """The service reaches MLflow's database and Redis through relays that the test cuts: every
    `/predict` is still a 200, by the loaded champion with the defaults of unknown customers and
    merchants, `/readyz` stays ready, and `/model`, `X-Degraded` and the gauge say what is down.
    A champion promoted during the outage is served once the relays are restored. Under load all
    along, a real Prometheus with the project's rules fires `FraudDetectorDegraded` for each
    dependency during the outage, and resolves it after."""
    settings, postgres = production
    registry = Registry(settings.mlflow_tracking_uri, MODEL_NAME)
    champion = registry.alias(CHAMPION)
    scorers = [v for v in registry.versions() if v.tags.get("kind") in ("xgboost", "baseline")]
    newcomer = next(v for v in reversed(scorers) if v.version != champion.version)
    rows = (
        Lake(settings.lake_location, settings.s3)
        .read("validated_transactions", LAST_DAY)
        .tail(30)
        .reset_index(drop=True)
    )
    transactions = rows[list(FIELDS)].assign(event_timestamp=rows["event_timestamp"].map(lambda t: t.isoformat()))
    body = {"transactions": transactions.to_dict(orient="records")}
    frame = transactions_frame([Transaction(**row) for row in body["transactions"]])
    known = online_features(open_store(settings, REDIS_PASSWORD), frame)

    def expected(version: VersionInfo, features: pd.DataFrame) -> list[float]:
        model = load(registry, version, explained=False).model
        return model.predict_proba(model_input(frame, features)).tolist()

    redis_port = int(settings.redis_url.rsplit(":", 1)[1])
    with contextlib.ExitStack() as undo, tcp_relay(postgres.port) as database, tcp_relay(redis_port) as redis:
        # The module's other tests read the champion: it is put back however this one ends.
        undo.callback(registry.client.set_registered_model_alias, MODEL_NAME, CHAMPION, champion.version)
        environment = {
            "BENTOML_HOME": str(tmp_path / "bentoml"),
            "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri.replace(f":{postgres.port}/", f":{database.port}/"),
            "MLOPS_REDIS_URL": redis.address,
            "MLOPS_SERVING_POLL": "0.5",
            "MLOPS_SERVING_WORKERS": str(WORKERS),
        }
        log_path = tmp_path / "bentoml.log"
        with (
            serving(log_path, environment) as (url, client),
            prometheus_server(
                tmp_path / "prometheus", url.removeprefix("http://"), None, fast_rules(tmp_path)
            ) as prometheus,
            predict_load(url, body),
        ):
            # `/readyz` answers once one worker is up: the outage is to find them all serving.
            every_worker_says(log_path, "Service fraud_detector initialized", 120)
            prometheus.wait_for('up{job="fraud-detector"} == 1', 60, "Prometheus scrapes the service")
            assert prometheus.alerts("FraudDetectorDegraded") == []
            answer = client.post("/predict", json=body)
            assert answer.status_code == 200 and "X-Degraded" not in answer.headers, answer.text
            assert probabilities(answer) == pytest.approx(expected(champion, known), abs=1e-6)

            database.cut()
            redis.cut()
            registry.client.set_registered_model_alias(MODEL_NAME, CHAMPION, newcomer.version)
            down = {"registry", "online_store"}
            # Each worker finds each outage on its own, at its next poll or read (a read that hangs
            # takes MLOPS_SERVING_FEATURE_TIMEOUT): its log says when, whichever worker answers.
            for first_words in ("champion not refreshed", "online store unreadable"):
                every_worker_says(log_path, first_words, 60)
            wait_for_model(url, lambda info: set(info["degraded"]) == down, "every worker reports both down", 60)
            defaults = expected(champion, unknown_features(len(frame)))
            for _ in range(20):  # both workers, all answering without their dependencies
                answer = client.post("/predict", json=body)
                assert answer.status_code == 200, answer.text
                assert answer.headers["X-Model-Version"] == champion.version
                assert answer.headers["X-Degraded"] == "registry,online_store"
                assert probabilities(answer) == pytest.approx(defaults, abs=1e-6)
            assert client.get("/readyz").status_code == 200
            gauges = degraded_gauges(client.get("/metrics").text)
            assert gauges == {"registry": 1.0, "online_store": 1.0}, gauges
            outage_reports = [client.get("/model").text for _ in range(4)]
            wait_until(lambda: firing(prometheus) == down, 60, "FraudDetectorDegraded fires for both", log_path)

            database.restore()
            redis.restore()
            wait_for_model(
                url,
                lambda info: info["degraded"] == {} and info["version"] == newcomer.version,
                "every worker serves the new champion with Redis's features",
                60,
            )
            answer = client.post("/predict", json=body)
            assert answer.status_code == 200 and "X-Degraded" not in answer.headers, answer.text
            assert probabilities(answer) == pytest.approx(expected(newcomer, known), abs=1e-6)
            # `/model` answered from one worker; a gauge is the highest of the live workers', and
            # the other may still be a poll behind (seen on a loaded machine).
            recovered = {"registry": 0.0, "online_store": 0.0}
            gauges_back = lambda: degraded_gauges(client.get("/metrics").text) == recovered  # noqa: E731
            wait_until(gauges_back, 60, "every worker's degraded gauges back to 0", log_path)
            wait_until(lambda: not prometheus.alerts("FraudDetectorDegraded"), 60, "the alert resolves", log_path)
    places = [("the service's log", log_path.read_bytes())]
    assert not leaks(secrets(), [*places, *(("GET /model", report.encode()) for report in outage_reports)])


@contextlib.contextmanager
def predict_load(url: str, body: dict, most: int = 20_000) -> Iterator[None]:
    """/predict requests one after another in a thread while the block runs (at most `most`)."""
    stop = threading.Event()

    def send() -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            for _ in range(most):
                if stop.is_set():
                    return
                with contextlib.suppress(httpx.TransportError):
                    client.post("/predict", json=body)

    sender = threading.Thread(target=send, daemon=True, name="load")
    sender.start()
    try:
        yield
    finally:
        stop.set()
        sender.join(timeout=60)


def firing(prometheus) -> set[str]:
    """The dependencies `FraudDetectorDegraded` fires for now (pending ones not counted)."""
    alerts = prometheus.alerts("FraudDetectorDegraded")
    return {alert["labels"]["dependency"] for alert in alerts if alert["state"] == "firing"}


def every_worker_says(log_path: Path, first_words: str, seconds: float) -> None:
    """Waits until each of the service's workers has logged a line beginning with `first_words`."""
    pattern = re.compile(rf"\[entry_service:fraud_detector:(\d+)\] {re.escape(first_words)}")

    def every_one() -> bool:
        return len(set(pattern.findall(log_path.read_text()))) == WORKERS

    wait_until(every_one, seconds, f"every worker to log {first_words!r}", log_path)


def probabilities(answer) -> list[float]:
    return [prediction["fraud_probability"] for prediction in answer.json()["predictions"]]


def degraded_gauges(metrics: str) -> dict[str, float]:
    found = re.findall(r'^fraud_detector_degraded\{dependency="(\w+)"\} (\S+)$', metrics, re.M)
    return {dependency: float(value) for dependency, value in found}


def test_no_secret_is_in_logs_metadata_the_registry_storage_or_the_ui(production, graph) -> None:
    """Secrets reach the code only as environment variables (`dg.EnvVar` for resources): none of
    their values is in Dagster's database (runs with their config and tags, event logs, asset
    metadata), MLflow's (params, tags, the registry), what the UI is served about the code location
    and the instance, any object on S3 or file under MLOPS_HOME, or the Python logs."""
    settings, postgres = production
    dagster_database = postgres.dump("dagster")
    code_location = code_location_snapshot(build_definitions(build_resources(settings)))
    with dg.DagsterInstance.get() as instance:
        instance_config = instance.info_str()
    mlflow_database = postgres.dump("mlflow")
    places = [
        ("Dagster's database", dagster_database.encode()),
        ("MLflow's database", mlflow_database.encode()),
        ("the code location, as the UI is served it", code_location.encode()),
        ("the instance's configuration, as the UI shows it", instance_config.encode()),
        ("the Python logs", graph.python_log.read_bytes()),
        *(piece for key, data in bucket_objects(settings) for piece in readable(f"s3://{BUCKET}/{key}", data)),
        *files_under(settings.home),
    ]
    assert not leaks(secrets(), places)
    # The places hold what a leak would sit beside: the resources' secret settings (by the
    # variable's name), the instance's storage (shown by its class alone), the runs' events and
    # the registry's champion.
    assert "AWS_SECRET_ACCESS_KEY" in code_location and "MLOPS_REDIS_PASSWORD" in code_location
    assert "run_storage: PostgresRunStorage" in instance_config
    assert "ASSET_MATERIALIZATION" in dagster_database and CHAMPION in mlflow_database


def secrets() -> dict[str, str]:
    return {name: os.environ[name] for name in SECRET_VARIABLES}


def code_location_snapshot(defs: dg.Definitions) -> str:
    """What the UI's webserver is sent about a code location (its assets, jobs, sensors, and each
    resource's configuration), serialized as Dagster's code server sends it. Dagster has no public
    API for it; this is the one its code server uses."""
    from dagster._core.remote_representation.external_data import RepositorySnap
    from dagster._serdes import serialize_value

    return serialize_value(RepositorySnap.from_def(defs.get_repository_def()))
