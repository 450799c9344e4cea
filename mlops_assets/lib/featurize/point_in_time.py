"""Point-in-time values of a Feast feature service for entity rows, as DuckDB as-of joins.

Feast's own offline retrieval (`get_historical_features`, DuckDB through ibis) joins each entity
row with every feature row of its key inside the view's TTL, then keeps the latest: its work grows
with the rows a key has in a TTL. A merchant with 30 transactions a day has 900 rows in 30 days,
and a training set of 28 days of 3,000 transactions took 45 s of every retraining here; the same
join as an `ASOF JOIN`, which goes straight to the latest row, takes about a second
(`bench/features.py` measures both).

What is joined is read from the Feast registry, as Feast reads it: the service's feature views,
their sources (the lake's daily tables), join keys, features and TTLs. The values are Feast's,
value for value (`tests/lib/test_feature_store.py` holds the two equal). Serving's online reads are
Feast's own.
"""

from dataclasses import dataclass
from datetime import timedelta

import pandas as pd

from mlops_assets.keys import FEATURE_SERVICE

TIMESTAMP = "event_timestamp"  # the entity rows' time, as Feast names it
_ROW = "__entity_row"  # the entity rows' order, kept through the joins


def historical_features(store, entities: pd.DataFrame, service_name: str = FEATURE_SERVICE) -> pd.DataFrame:
    """`entities` (join keys and a UTC `event_timestamp`) with every feature of the service as of
    each row's time: the latest row of its key at or before it, unless older than its view's TTL
    (then missing). In the order of `entities`, on their index."""
    import ibis  # DuckDB as Feast uses it, with the lake's S3 filesystem registered in production

    connection = ibis.get_backend().con
    name = f"__entities_{id(entities)}"
    connection.register(name, entities.reset_index(drop=True).assign(**{_ROW: range(len(entities))}))
    try:
        query = _query(store, store.get_feature_service(service_name), name)
        joined = connection.sql(query).to_arrow_table().to_pandas()
    finally:
        connection.unregister(name)
    joined.index = entities.index
    return joined


@dataclass(frozen=True)
class ViewJoin:
    """What a point-in-time join reads of one feature view of a service, from the Feast registry."""

    keys: dict[str, str]  # the view's join key -> the entity rows' column
    features: tuple[str, ...]
    path: str  # the view's batch source (the lake's daily files, as a glob)
    timestamp_field: str
    ttl: timedelta | None


def view_joins(store, service) -> list[ViewJoin]:
    """The service's views as Feast reads them: sources, join keys, features and TTLs."""
    joins = []
    for projection in service.feature_view_projections:
        view = store.get_feature_view(projection.name)
        keys = projection.join_key_map or {column.name: column.name for column in view.entity_columns}
        source = view.batch_source
        names = tuple(feature.name for feature in projection.features)
        joins.append(ViewJoin(dict(keys), names, source.path, source.timestamp_field, view.ttl))
    return joins


def _query(store, service, entities: str) -> str:
    """SELECT the entity columns and each view's features, one ASOF LEFT JOIN per view."""
    columns, joins = [], []
    for position, view in enumerate(view_joins(store, service)):
        alias = f"v{position}"
        selected = ", ".join([*(_quoted(key) for key in view.keys), f"{_quoted(view.timestamp_field)} AS __at"])
        joins.append(
            f"ASOF LEFT JOIN (SELECT {selected}, {', '.join(map(_quoted, view.features))} "
            f"FROM read_parquet({_literal(view.path)})) {alias} ON "
            + " AND ".join(f"e.{_quoted(entity_key)} = {alias}.{_quoted(key)}" for key, entity_key in view.keys.items())
            + f" AND e.{TIMESTAMP} >= {alias}.__at"
        )
        fresh = _fresh(alias, view.ttl)
        columns += [f"CASE WHEN {fresh} THEN {alias}.{_quoted(n)} END AS {_quoted(n)}" for n in view.features]
    return f"SELECT e.* EXCLUDE ({_ROW}), {', '.join(columns)} FROM {entities} e {' '.join(joins)} ORDER BY e.{_ROW}"


def _fresh(alias: str, ttl: timedelta | None) -> str:
    """The condition that the view's row is within its TTL of the entity row (Feast: no TTL, any age)."""
    if not ttl:
        return "TRUE"
    return f"{alias}.__at >= e.{TIMESTAMP} - to_microseconds({ttl // timedelta(microseconds=1)})"


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
