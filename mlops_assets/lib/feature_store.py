"""The Feast store of `feature_repo/`, opened from code with the same `feature_store.yaml` as the
`feast` CLI: its `${VARIABLES}` are filled from `Settings`, not from whatever the process has."""

import importlib
import string
import sys
import warnings
from pathlib import Path

import pandas as pd
import yaml

from mlops_assets.lib.features import HISTORY, feature_columns
from mlops_assets.settings import REPO_ROOT

FEATURE_REPO = REPO_ROOT / "feature_repo"
DEFINITION_MODULES = ("entities", "sources", "feature_views", "feature_services")
FEATURE_SERVICE = "fraud_detection_v1"


def _import_feast():
    """Feast, imported here, not at module import (it takes seconds), and without its side effect
    on warnings: its modules call `simplefilter("once", DeprecationWarning)` at import, which would
    print every library's deprecations in every terminal."""
    with warnings.catch_warnings():
        import feast
    # ibis (Feast's offline engine) warns of its own deprecated DuckDB call on every query.
    warnings.filterwarnings("ignore", message=".*fetch_arrow_table", category=DeprecationWarning)
    return feast


def open_store(feast_dir: Path):
    """A `feast.FeatureStore` on the repository's definitions, its registry and online store in
    `feast_dir`."""
    feast = _import_feast()
    raw = yaml.safe_load((FEATURE_REPO / "feature_store.yaml").read_text())
    config = feast.RepoConfig(**_fill(raw, {"MLOPS_FEAST_DIR": str(feast_dir)}))
    config.repo_path = FEATURE_REPO
    Path(feast_dir).mkdir(parents=True, exist_ok=True)
    return feast.FeatureStore(repo_path=str(FEATURE_REPO), config=config)


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
    feast = _import_feast()
    if str(FEATURE_REPO) not in sys.path:
        sys.path.insert(0, str(FEATURE_REPO))
    for name in DEFINITION_MODULES:
        sys.modules.pop(name, None)
    modules = [importlib.import_module(name) for name in DEFINITION_MODULES]
    kinds = (feast.Entity, feast.FileSource, feast.FeatureView, feast.FeatureService)
    found = {id(value): value for module in modules for value in vars(module).values() if isinstance(value, kinds)}
    return list(found.values())


def online_features(store, transactions: pd.DataFrame, max_age: pd.Timedelta = HISTORY) -> pd.DataFrame:
    """The feature service's online values for each transaction's customer and merchant, aligned
    with `transactions`. Feast applies no TTL to online reads: a value older than `max_age` at the
    transaction's time is treated as missing here, as the offline join would treat it."""
    from feast.online_response import TIMESTAMP_POSTFIX

    entity_rows = {
        "customer_id": transactions["customer_id"].astype("int64").tolist(),
        "merchant_id": transactions["merchant_id"].astype("int64").tolist(),
    }
    service = store.get_feature_service(FEATURE_SERVICE)
    frame = store.get_online_features(features=service, entity_rows=entity_rows).to_df(include_event_timestamps=True)
    now = pd.to_datetime(transactions["event_timestamp"], utc=True).reset_index(drop=True)
    values = frame[list(feature_columns())].astype(object)
    for name in feature_columns():
        written_at = pd.to_datetime(frame[name + TIMESTAMP_POSTFIX], unit="s", utc=True)
        values.loc[(now - written_at) > max_age, name] = None
    return values
