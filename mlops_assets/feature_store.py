"""The Feast store of `feature_repo/`, opened from code with the same `feature_store.yaml` as the
`feast` CLI: its `${VARIABLES}` are filled from `Settings`, not from whatever the process has.

In production the registry is an object on S3 and the online store is Redis; the offline sources
are the lake's feature tables on S3, which DuckDB reads through pyarrow (see `_register_lake`).
"""

import importlib
import os
import string
import sys

import pandas as pd
import yaml

from mlops_assets.keys import FEATURE_SERVICE
from mlops_assets.lib.data.storage import S3_PREFIX, open_location
from mlops_assets.lib.featurize.feast_import import import_feast
from mlops_assets.lib.featurize.feature_spec import FeatureSpec
from mlops_assets.lib.featurize.features import DEFAULT_SPEC, feature_columns
from mlops_assets.settings import REPO_ROOT, Settings

FEATURE_REPO = REPO_ROOT / "feature_repo"
DEFINITION_MODULES = ("entities", "sources", "feature_views", "feature_services")
# The protocol under which DuckDB reads the lake on S3 (through pyarrow, not its httpfs extension).
LAKE_PROTOCOL = "mlops-lake"


# Seconds for the Redis client's connect and for each answer; without them a Redis that does not
# answer holds a read forever (Feast passes these options through to redis-py).
REDIS_TIMEOUTS = ",socket_connect_timeout=2,socket_timeout=10"


def open_store(settings: Settings, redis_password: str | None = None):
    """A `feast.FeatureStore` on the repository's definitions: locally its registry and online store
    in `settings.feast_dir`; in production the registry on S3 and the online store in Redis
    (with `redis_password`, when it asks for one)."""
    feast = import_feast()
    raw = yaml.safe_load((FEATURE_REPO / "feature_store.yaml").read_text())
    values = _fill(raw, {"MLOPS_FEAST_DIR": str(settings.feast_dir)})
    if settings.production:
        password = f",password={redis_password}" if redis_password else ""
        values["registry"]["path"] = settings.feast_registry
        values["online_store"] = {"type": "redis", "connection_string": settings.redis_url + REDIS_TIMEOUTS + password}
        # Feast's S3 registry reads its endpoint from the environment only: this sets it for Feast.
        if settings.s3_endpoint_url:
            os.environ["FEAST_S3_ENDPOINT_URL"] = settings.s3_endpoint_url
        _register_lake(settings)
    else:
        settings.feast_dir.mkdir(parents=True, exist_ok=True)
    config = feast.RepoConfig(**values)
    config.repo_path = FEATURE_REPO
    return feast.FeatureStore(repo_path=str(FEATURE_REPO), config=config)


def offline_source_path(table: str, settings: Settings | None = None) -> str:
    """The glob of a lake feature table's daily files, as the offline source names it. Feast
    declares its sources at module level in `feature_repo/`, so there, with no `settings` given,
    they come from the environment."""
    path = f"{(settings or Settings.from_env()).lake_location}/{table}/*.parquet"
    return f"{LAKE_PROTOCOL}://{path.removeprefix(S3_PREFIX)}" if path.startswith(S3_PREFIX) else path


def _register_lake(settings: Settings) -> None:
    """Lets Feast's DuckDB read `mlops-lake://bucket/...` through pyarrow's S3 filesystem. DuckDB's
    own S3 support is an extension downloaded from the internet at first use, which a cluster
    without internet access (and this project's tests) cannot do."""
    import ibis
    from fsspec.implementations.arrow import ArrowFSWrapper

    class LakeFileSystem(ArrowFSWrapper):
        protocol = LAKE_PROTOCOL

        @classmethod
        def _strip_protocol(cls, path):
            path = path[0] if isinstance(path, list) else path
            return str(path).removeprefix(f"{LAKE_PROTOCOL}://").rstrip("/")

    filesystem, _ = open_location(settings.lake_location, settings.s3)
    connection = ibis.get_backend().con
    if LAKE_PROTOCOL in connection.list_filesystems():
        connection.unregister_filesystem(LAKE_PROTOCOL)
    connection.register_filesystem(LakeFileSystem(filesystem))


def _fill(value, variables: dict[str, str]):
    """Every `${NAME}` in the parsed YAML's strings replaced; a name not in `variables` is an error."""
    if isinstance(value, dict):
        return {key: _fill(item, variables) for key, item in value.items()}
    if isinstance(value, str):
        return string.Template(value).substitute(variables)
    return value


def definitions() -> list:
    """The repository's entities, sources, feature views and services, imported afresh so that
    their paths follow the current environment (as `feast apply` would import them)."""
    feast = import_feast()
    if str(FEATURE_REPO) not in sys.path:
        sys.path.insert(0, str(FEATURE_REPO))
    for name in DEFINITION_MODULES:
        sys.modules.pop(name, None)
    modules = [importlib.import_module(name) for name in DEFINITION_MODULES]
    kinds = (feast.Entity, feast.FileSource, feast.FeatureView, feast.FeatureService)
    found = {id(value): value for module in modules for value in vars(module).values() if isinstance(value, kinds)}
    return list(found.values())


def online_features(
    store, transactions: pd.DataFrame, max_age: pd.Timedelta | None = None, spec: FeatureSpec = DEFAULT_SPEC
) -> pd.DataFrame:
    """The feature service's online values for each transaction's customer and merchant, aligned
    with `transactions`. Feast applies no TTL to online reads: a value older than `max_age` (by
    default the views' TTL, `spec.history`) at the transaction's time is treated as missing here,
    as the offline join would treat it."""
    max_age = pd.Timedelta(spec.history) if max_age is None else max_age
    from feast.online_response import TIMESTAMP_POSTFIX

    entity_rows = {
        "customer_id": transactions["customer_id"].astype("int64").tolist(),
        "merchant_id": transactions["merchant_id"].astype("int64").tolist(),
    }
    service = store.get_feature_service(FEATURE_SERVICE)
    frame = store.get_online_features(features=service, entity_rows=entity_rows).to_df(include_event_timestamps=True)
    now = pd.to_datetime(transactions["event_timestamp"], utc=True).reset_index(drop=True)
    values = frame[list(feature_columns(spec))].astype(object)
    for name in feature_columns(spec):
        written_at = pd.to_datetime(frame[name + TIMESTAMP_POSTFIX], unit="s", utc=True)
        values.loc[(now - written_at) > max_age, name] = None
    return values
