"""`shadow_scores`: a day of live traffic as the champion answered it and as the challenger would
have (the service's shadow scoring), with the labels validation has for it, so the drift report
and the evaluation can compare the two models on real requests before a promotion."""

import dagster as dg
import pandas as pd

from mlops_assets.defs.partitions import DAILY
from mlops_assets.keys import VALIDATED_TRANSACTIONS
from mlops_assets.lib.quality.shadow import compare
from mlops_assets.resources.lake import LakeResource, LandingResource


def _table(pairs: list[dict]) -> str:
    return pd.DataFrame(pairs).set_index(["champion_version", "challenger_version"]).round(4).T.to_markdown()


@dg.asset(
    partitions_def=DAILY,
    deps=[VALIDATED_TRANSACTIONS],
    group_name="monitoring",
    kinds={"bentoml", "parquet"},
    io_manager_key="lake_io_manager",
)
def shadow_scores(context: dg.AssetExecutionContext, landing: LandingResource, lake: LakeResource) -> dg.Output:
    """The day's transactions that the service scored with both the champion and, in the shadow,
    the challenger (`MLOPS_SHADOW_SHARE` of requests), gathered from the fragments its workers
    wrote, with `is_fraud` wherever validation knows the label. Metadata compares each pair."""
    day = context.partition_key
    log = landing.shadow()
    scores = log.read(day)
    table = lake.lake()
    labels = pd.Series(dtype="Int64")
    if table.exists(VALIDATED_TRANSACTIONS, day):
        known = table.read(VALIDATED_TRANSACTIONS, day, columns=["transaction_id", "is_fraud"])
        labels = known.set_index("transaction_id")["is_fraud"].astype("Int64")
    scores["is_fraud"] = scores["transaction_id"].map(labels).astype("Int64")
    pairs = compare(scores)
    metadata = {
        "rows": len(scores),
        "fragments": len(log.fragments(day)),
        "labelled_rows": int(scores["is_fraud"].notna().sum()),
        "versions": dg.MetadataValue.json(
            [{"champion": p["champion_version"], "challenger": p["challenger_version"]} for p in pairs]
        ),
    }
    if pairs:
        metadata["comparison"] = dg.MetadataValue.md(_table(pairs))
    context.log.info(f"{len(scores)} shadow-scored transactions on {day}, {len(pairs)} pair(s) of versions")
    return dg.Output(scores, metadata=metadata)
