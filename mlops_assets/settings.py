"""Where every piece of state lives, resolved from the environment in one place.

`MLOPS_ENV` picks the environment:
- `local` (the default): `MLOPS_HOME` (default `.mlops/` in the repository root) holds everything;
  each path below can be moved on its own by the environment variable named beside it.
- `production`: the landing folder, the lake, the reports, MLflow's artifacts and Feast's registry
  are prefixes of `MLOPS_STORAGE_URI` (`s3://bucket/prefix`; `MLOPS_S3_ENDPOINT_URL` for an
  S3-compatible server), MLflow is the server at `MLFLOW_TRACKING_URI`, and Feast's online store is
  the Redis at `MLOPS_REDIS_URL` (`host:port`). Keys and passwords are never settings (which the
  CLI prints and exports to child processes): `secret` reads them, by name, where they are used.

The serving process's own settings are `ServingSettings` (`Settings.serving`).

This module is the one that reads the environment. Where a library reads it on its own, the code
says so beside the call: Feast's module-level sources in `feature_repo/`, the AWS SDK's keys.
Nothing here imports Dagster, so the CLI and tests can use it cheaply.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mlops_assets.lib.data.storage import S3Access
from mlops_assets.lib.featurize.feature_spec import FeatureSpec
from mlops_assets.lib.spark.conf import DRIVER_IP_VARIABLE, DRIVER_POD_VARIABLE
from mlops_assets.lib.spark.options import SparkSettings

REPO_ROOT = Path(__file__).resolve().parent.parent

# Environment variable -> (path relative to MLOPS_HOME). Documented in docs/running.md.
PATH_VARIABLES: dict[str, str] = {
    "MLOPS_LANDING_DIR": "landing",
    "MLOPS_LAKE_DIR": "lake",
    "DAGSTER_HOME": "dagster",
    "MLOPS_MLARTIFACTS_DIR": "mlartifacts",
    "MLOPS_FEAST_DIR": "feast",
    "BENTOML_HOME": "bentoml",
    "MLOPS_REPORTS_DIR": "reports",
}


# The local Dagster instance: embedded SQLite storage under DAGSTER_HOME; no telemetry (no network);
# runs queued, one at a time among those that write the Feast online store (SQLite) and one at a
# time per day partition (two runs of one day, a sensor's and a person's, wait for each other); a
# run whose worker died (killed, out of memory) is marked failed and run again once, from the step
# that died, and a run that failed in its own code (a rejecting gate) is not. The queue is looked
# at every second (Dagster's default is 5 s): a landed day's run waited up to that long to start.
# Each run starts as a fork of a process that has imported the libraries runs need
# (`mlops_assets/run_launcher.py`), and run monitoring looks at the workers every 5 s, not 120 s.
DAGSTER_INSTANCE_YAML = """\
telemetry:
  enabled: false
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
    tag_concurrency_limits:
      - key: mlops/online_store
        value: write
        limit: 1
      - key: dagster/partition
        value:
          applyLimitPerUniqueValue: true
        limit: 1
run_launcher:
  module: mlops_assets.run_launcher
  class: WarmRunLauncher
run_monitoring:
  enabled: true
  poll_interval_seconds: 5
run_retries:
  enabled: true
  max_retries: 1
  retry_on_asset_or_op_failure: false
"""


# Settings that describe the data rather than the machine (the first day on record, the feature
# windows, the label delay, the time zone), kept in MLOPS_HOME as `NAME=value` lines: `mlops import`
# writes them, and every later command, sensor and server reads them. The environment wins.
PROJECT_FILE = "project.env"

ENVIRONMENTS = ("local", "production")
# Read only through `secret`, never kept in `Settings`.
SECRET_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "MLOPS_REDIS_PASSWORD",
    "MLOPS_API_KEY",
    "MLOPS_ALERT_WEBHOOK_URL",
)
# Read in production, required there; exported to child processes in both environments.
PRODUCTION_VARIABLES = ("MLOPS_STORAGE_URI", "MLOPS_S3_ENDPOINT_URL", "MLOPS_REDIS_URL")


@dataclass(frozen=True)
class ServingSettings:
    """How the BentoML service runs (`serving/service.py`), from `MLOPS_SERVING_*` and `MLOPS_SHADOW_*`."""

    workers: int = 2  # processes; each follows the registry and batches on its own
    poll_seconds: float = 2.0  # how often the registry's aliases are looked at
    max_body_bytes: int = 8 * 1024 * 1024
    mounted_concurrency: int = 16  # requests in flight on the mounted routes (/feedback, /model)
    shadow_share: float = 0.1  # share of /predict requests the challenger scores too
    shadow_flush_seconds: float = 10.0  # how often shadow scores are written
    # Seconds a batch waits for the online store before it is scored with the defaults: a store
    # that refuses connections fails at once, this bounds one that does not answer, and a large
    # batch on a busy store takes a second or two.
    feature_timeout_seconds: float = 5.0
    # What the service answers with: the `champion` alias (and a rollout's canary for its
    # customers), or, for a deployment of its own behind a mesh's split, the `challenger` alias
    # or one version, alone.
    model: str = "champion"

    @classmethod
    def from_variables(cls, env: dict[str, str]) -> ServingSettings:
        """The settings whose variables are set in `env`, the defaults for the others; a value that
        is not a number, or not above zero, is an error that names its variable."""
        variables = {
            "workers": ("MLOPS_SERVING_WORKERS", int),
            "poll_seconds": ("MLOPS_SERVING_POLL", float),
            "max_body_bytes": ("MLOPS_SERVING_MAX_BODY_BYTES", int),
            "mounted_concurrency": ("MLOPS_SERVING_MOUNTED_CONCURRENCY", int),
            "shadow_share": ("MLOPS_SHADOW_SHARE", float),
            "shadow_flush_seconds": ("MLOPS_SHADOW_FLUSH_SECONDS", float),
            "feature_timeout_seconds": ("MLOPS_SERVING_FEATURE_TIMEOUT", float),
        }
        values = {}
        for name, (variable, kind) in variables.items():
            if not env.get(variable):
                continue
            try:
                values[name] = kind(env[variable])
            except ValueError:
                raise ValueError(
                    f"{variable} is {env[variable]!r}; it must be {'an integer' if kind is int else 'a number'}"
                ) from None
            # Written so that NaN fails too; a shadow share of 0 turns shadow scoring off.
            if not (values[name] > 0 or (name == "shadow_share" and values[name] == 0)):
                raise ValueError(f"{variable} is {env[variable]!r}; it must be above 0")
        if values.get("shadow_share", 0) > 1:
            raise ValueError(f"MLOPS_SHADOW_SHARE is {env['MLOPS_SHADOW_SHARE']!r}; it must be between 0 and 1")
        model = env.get("MLOPS_SERVING_MODEL", "").strip()
        if model:
            if model not in ("champion", "challenger") and not (model.isdigit() and int(model) > 0):
                raise ValueError(
                    f"MLOPS_SERVING_MODEL is {model!r}; it must be champion, challenger or a registered version number"
                )
            values["model"] = model
        return cls(**values)


def secret(name: str, environ: dict[str, str] | None = None) -> str | None:
    """The secret `name` (one of `SECRET_VARIABLES`) from the environment; None when unset."""
    if name not in SECRET_VARIABLES:
        raise ValueError(f"{name} is not a secret variable; one of {', '.join(SECRET_VARIABLES)}")
    return (os.environ if environ is None else environ).get(name) or None


@dataclass(frozen=True)
class AlertSettings:
    """Where Dagster's failed runs and checks are posted (`defs/alerting`): on only where the
    secret `MLOPS_ALERT_WEBHOOK_URL` is set; `MLOPS_ALERT_WEBHOOK_FORMAT` (json, slack,
    alertmanager) and `MLOPS_DAGSTER_URL` (the UI the messages link to)."""

    enabled: bool
    format: str = "json"
    dagster_url: str = "http://127.0.0.1:3000"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AlertSettings:
        env = os.environ if environ is None else environ
        return cls(
            enabled=bool(env.get("MLOPS_ALERT_WEBHOOK_URL")),
            format=env.get("MLOPS_ALERT_WEBHOOK_FORMAT") or "json",
            dagster_url=env.get("MLOPS_DAGSTER_URL") or "http://127.0.0.1:3000",
        )


ENGINES = ("pandas", "spark")


@dataclass(frozen=True)
class Settings:
    """Resolved local paths and endpoints; build with `Settings.from_env()`."""

    home: Path
    landing_dir: Path
    lake_dir: Path
    dagster_home: Path
    mlflow_tracking_uri: str
    mlartifacts_dir: Path
    feast_dir: Path
    bentoml_home: Path
    reports_dir: Path
    partitions_start: str
    git_commit: str
    retrain_cron: str
    environment: str = "local"
    storage_uri: str = ""  # production: `s3://bucket/prefix` holding every location below
    s3_endpoint_url: str = ""  # an S3-compatible server's URL; empty for AWS itself
    redis_url: str = ""  # production: Feast's online store, `host:port`
    aws_region: str = ""  # from AWS_REGION or AWS_DEFAULT_REGION; empty: the SDK's own resolution
    features: FeatureSpec = field(default_factory=FeatureSpec)  # windows, label delay, time zone
    serving: ServingSettings = field(default_factory=ServingSettings)
    # What computes the entity features, the point-in-time joins and batch scoring: `pandas` in
    # the step's process, or `spark` (`MLOPS_ENGINE`).
    engine: str = "pandas"
    spark: SparkSettings = field(default_factory=SparkSettings)

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def s3(self) -> S3Access:
        """How this deployment reaches S3 (its endpoint and region; the keys are the AWS SDK's own)."""
        return S3Access(endpoint_url=self.s3_endpoint_url or None, region=self.aws_region or None)

    def _location(self, name: str, local: Path) -> str:
        return f"{self.storage_uri}/{name}" if self.production else str(local)

    @property
    def landing_location(self) -> str:
        """The landing folder: a local path, or `<MLOPS_STORAGE_URI>/landing` in production."""
        return self._location("landing", self.landing_dir)

    @property
    def lake_location(self) -> str:
        return self._location("lake", self.lake_dir)

    @property
    def reports_location(self) -> str:
        return self._location("reports", self.reports_dir)

    @property
    def mlartifacts_location(self) -> str:
        """Where MLflow keeps the artifacts of new experiments (a URI)."""
        return self._location("mlartifacts", Path()) if self.production else self.mlartifacts_dir.as_uri()

    @property
    def feast_registry(self) -> str:
        return self._location("feast/registry.db", self.feast_dir / "registry.db")

    @property
    def bento_exports_location(self) -> str | None:
        """Production only: where the `bento` asset exports each Bento, since a Kubernetes step's
        own `BENTOML_HOME` is lost with its pod. Locally, `BENTOML_HOME` keeps them."""
        return f"{self.storage_uri}/bentos" if self.production else None

    @property
    def rejected_dir(self) -> Path:
        """Landing files that could not be read as a table, each with `<name>.reason.txt`."""
        return self.landing_dir / "rejected"

    @property
    def landing_index_dir(self) -> Path:
        """What the ingestion has learned about each landing file (days, duplicate ids)."""
        return self.landing_dir / ".index"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env.get("MLOPS_HOME") or REPO_ROOT / ".mlops").expanduser().resolve()
        env = given_variables(home, env)
        environment = env.get("MLOPS_ENV") or "local"
        if environment not in ENVIRONMENTS:
            raise ValueError(f"MLOPS_ENV is {environment!r}; it must be one of {', '.join(ENVIRONMENTS)}")
        if environment == "production":
            missing = [
                name for name in ("MLOPS_STORAGE_URI", "MLFLOW_TRACKING_URI", "MLOPS_REDIS_URL") if not env.get(name)
            ]
            if missing:
                raise ValueError(f"MLOPS_ENV=production needs {', '.join(missing)} (see docs/deploying.md)")

        engine = env.get("MLOPS_ENGINE") or "pandas"
        if engine not in ENGINES:
            raise ValueError(f"MLOPS_ENGINE is {engine!r}; it must be one of {', '.join(ENGINES)}")

        def path(variable: str) -> Path:
            value = env.get(variable)
            return Path(value).expanduser().resolve() if value else home / PATH_VARIABLES[variable]

        return cls(
            home=home,
            landing_dir=path("MLOPS_LANDING_DIR"),
            lake_dir=path("MLOPS_LAKE_DIR"),
            dagster_home=path("DAGSTER_HOME"),
            mlflow_tracking_uri=env.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home / 'mlflow.db'}",
            mlartifacts_dir=path("MLOPS_MLARTIFACTS_DIR"),
            feast_dir=path("MLOPS_FEAST_DIR"),
            bentoml_home=path("BENTOML_HOME"),
            reports_dir=path("MLOPS_REPORTS_DIR"),
            # Daily partitions exist from this date on; rows dated earlier are quarantined.
            partitions_start=env.get("MLOPS_PARTITIONS_START", "2020-01-01"),
            # Which code trained a model: set it where there is no git checkout (a container image).
            git_commit=env.get("MLOPS_GIT_COMMIT") or _git_commit(),
            # When `retrain_schedule` retrains (once started in the UI): Mondays 04:00 UTC.
            retrain_cron=env.get("MLOPS_RETRAIN_CRON", "0 4 * * 1"),
            environment=environment,
            storage_uri=env.get("MLOPS_STORAGE_URI", "").rstrip("/"),
            s3_endpoint_url=env.get("MLOPS_S3_ENDPOINT_URL", ""),
            redis_url=env.get("MLOPS_REDIS_URL", ""),
            aws_region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "",
            features=FeatureSpec.from_variables(env),
            serving=ServingSettings.from_variables(env),
            engine=engine,
            spark=SparkSettings.from_variables(env, bundled_jars()),
        )

    def ensure_dirs(self) -> None:
        """Create the folders that must exist before anything runs, and the Dagster instance config."""
        for directory in (self.landing_dir, self.lake_dir, self.dagster_home, self.reports_dir):
            directory.mkdir(parents=True, exist_ok=True)
        instance_config = self.dagster_home / "dagster.yaml"
        if not instance_config.exists():
            instance_config.write_text(DAGSTER_INSTANCE_YAML)

    def export(self) -> dict[str, str]:
        """The environment a child process (dagster, mlflow, bentoml) needs to share this state."""
        return {
            "MLOPS_HOME": str(self.home),
            "MLOPS_LANDING_DIR": str(self.landing_dir),
            "MLOPS_LAKE_DIR": str(self.lake_dir),
            "DAGSTER_HOME": str(self.dagster_home),
            "MLFLOW_TRACKING_URI": self.mlflow_tracking_uri,
            "MLOPS_MLARTIFACTS_DIR": str(self.mlartifacts_dir),
            "MLOPS_FEAST_DIR": str(self.feast_dir),
            "BENTOML_HOME": str(self.bentoml_home),
            "MLOPS_REPORTS_DIR": str(self.reports_dir),
            "MLOPS_PARTITIONS_START": self.partitions_start,
            "MLOPS_GIT_COMMIT": self.git_commit,
            "MLOPS_RETRAIN_CRON": self.retrain_cron,
            "MLOPS_ENV": self.environment,
            "MLOPS_ENGINE": self.engine,
            **self.spark.to_variables(),
            **self.features.to_variables(),
            **{
                name: value
                for name, value in zip(
                    PRODUCTION_VARIABLES, (self.storage_uri, self.s3_endpoint_url, self.redis_url), strict=True
                )
                if value
            },
            **({"AWS_REGION": self.aws_region} if self.aws_region else {}),
        }


def bundled_jars() -> str:
    """The S3A connector's jars that `make spark` puts in the checkout (and the image), comma-separated."""
    return ",".join(str(path) for path in sorted((REPO_ROOT / ".tools" / "spark-jars").glob("*.jar")))


def driver_pod(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """This pod's name and IP, as the downward API sets them (none outside Kubernetes)."""
    env = os.environ if environ is None else environ
    return {name: env[name] for name in (DRIVER_POD_VARIABLE, DRIVER_IP_VARIABLE) if env.get(name)}


def read_project_file(home: Path) -> dict[str, str]:
    """The `NAME=value` lines of `home`'s project file (none where it does not exist)."""
    path = home / PROJECT_FILE
    if not path.exists():
        return {}
    values = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            name, equals, value = line.partition("=")
            if not equals:
                raise ValueError(f"{path}:{number}: expected NAME=value, got {line!r}")
            values[name.strip()] = value.strip()
    return values


def child_environment(variables: dict[str, str]) -> dict[str, str]:
    """A child process's environment: this one's, `variables` over it, and the Makefile's tools
    (uv, which a Bento build runs) first on PATH."""
    path = os.pathsep.join([str(REPO_ROOT / ".tools" / "bin"), os.environ.get("PATH", "")])
    return {**os.environ, **variables, "PATH": path}


def given_variables(home: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables set for `home`, in its project file or in the environment (which wins;
    `environ`, by default this process's)."""
    return {**read_project_file(home), **(os.environ if environ is None else environ)}


def write_project_file(home: Path, values: dict[str, str]) -> Path:
    """Adds or replaces `values` in `home`'s project file; returns its path."""
    path = home / PROJECT_FILE
    merged = {**read_project_file(home), **values}
    home.mkdir(parents=True, exist_ok=True)
    header = "# Settings of the data in this MLOPS_HOME (written by `mlops import`); the environment wins.\n"
    path.write_text(header + "".join(f"{name}={value}\n" for name, value in sorted(merged.items())))
    return path


def _git_commit() -> str:
    """The checkout's commit, with `-dirty` when tracked files changed; `unknown` outside git."""

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False)

    try:
        head = git("rev-parse", "HEAD")
    except FileNotFoundError:  # no git installed
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    dirty = git("diff", "--quiet", "HEAD").returncode != 0
    return head.stdout.strip() + ("-dirty" if dirty else "")
