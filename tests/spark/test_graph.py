"""The whole daily graph with `MLOPS_ENGINE=spark`, through `dg.materialize`: a new day landed in
the Spark home goes from its raw file to features, the online store, scores, the investigators'
queue and the drift report, and each asset says which engine computed it."""

from datetime import date

import dagster as dg
import pandas as pd

from mlops_assets.defs.features.assets import entity_features, online_features
from mlops_assets.defs.ingestion.assets import raw_transactions
from mlops_assets.defs.monitoring.assets import drift_report
from mlops_assets.defs.scoring.assets import alert_queue, scored_transactions
from mlops_assets.defs.validation.assets import validate_transactions
from mlops_assets.keys import (
    ALERT_QUEUE,
    CUSTOMER_FEATURES,
    MERCHANT_FEATURES,
    SCORED_TRANSACTIONS,
    VALIDATED_TRANSACTIONS,
    drift_report_record,
)
from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.featurize import features
from mlops_assets.resources import build_resources
from mlops_assets.synth import generator

DAILY = [
    raw_transactions,
    validate_transactions,
    entity_features,
    online_features,
    scored_transactions,
    alert_queue,
    drift_report,
]


def test_a_new_day_goes_through_the_whole_graph_on_spark(spark_home) -> None:
    settings, _ = spark_home
    lake = Lake(str(settings.lake_dir))
    day = "2025-03-11"  # the day after the home's ten
    generator.generate(date(2025, 3, 11), 1, 1500, settings.landing_dir, seed=8)
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize(DAILY, partition_key=day, resources=build_resources(settings), instance=instance)
        assert result.success
        engines = {
            key: instance.get_latest_materialization_event(dg.AssetKey(key)).asset_materialization.metadata["engine"]
            for key in (CUSTOMER_FEATURES, MERCHANT_FEATURES, SCORED_TRANSACTIONS)
        }
    assert {key: value.value for key, value in engines.items()} == dict.fromkeys(engines, "spark")
    validated = lake.read(VALIDATED_TRANSACTIONS, day)
    history = pd.concat([lake.read(VALIDATED_TRANSACTIONS, d) for d in lake.partitions(VALIDATED_TRANSACTIONS)])
    written = lake.read(CUSTOMER_FEATURES, day).sort_values(["customer_id", "event_timestamp"], ignore_index=True)
    expected = features.customer_features(history, validated)
    expected = expected.sort_values(["customer_id", "event_timestamp"], ignore_index=True)
    pd.testing.assert_frame_equal(written, expected, rtol=1e-9)
    # The day's features use the ten days before it: most customers have history.
    assert (written["txn_count_30d"] > 1).mean() > 0.5
    scored = lake.read(SCORED_TRANSACTIONS, day)
    assert sorted(scored["transaction_id"]) == sorted(validated["transaction_id"])
    queue = lake.read(ALERT_QUEUE, day)
    assert 0 < len(queue) <= 100
    assert lake.read_record(drift_report_record(day))["day"] == day
