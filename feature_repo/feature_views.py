"""Feature views: what each entity looks like just after its latest transaction.

The TTL bounds how old a row may be for a point-in-time join; online reads do not apply it, so
serving checks freshness itself from the returned event timestamps.
"""

from datetime import timedelta

from entities import customer, merchant
from feast import FeatureView, Field
from feast.types import Float64, Int64, UnixTimestamp
from sources import customer_features_source, merchant_features_source

customer_activity = FeatureView(
    name="customer_activity",
    entities=[customer],
    ttl=timedelta(days=30),
    schema=[
        Field(name="txn_count_1h", dtype=Int64),
        Field(name="txn_count_24h", dtype=Int64),
        Field(name="txn_count_7d", dtype=Int64),
        Field(name="txn_count_30d", dtype=Int64),
        Field(name="amount_usd_sum_24h", dtype=Float64),
        Field(name="amount_usd_mean_7d", dtype=Float64),
        Field(name="amount_usd_mean_30d", dtype=Float64),
        Field(name="distinct_countries_7d", dtype=Int64),
        Field(name="distinct_merchants_7d", dtype=Int64),
        Field(name="card_not_present_share_7d", dtype=Float64),
        Field(name="last_txn_at", dtype=UnixTimestamp),
    ],
    source=customer_features_source,
    online=True,
    description="Counts and amounts over 1 h, 24 h, 7 d and 30 d windows, diversity, card-not-present share.",
)

merchant_activity = FeatureView(
    name="merchant_activity",
    entities=[merchant],
    ttl=timedelta(days=30),
    schema=[
        Field(name="merchant_txn_count_24h", dtype=Int64),
        Field(name="merchant_txn_count_7d", dtype=Int64),
        Field(name="merchant_amount_usd_mean_7d", dtype=Float64),
        Field(name="merchant_labelled_txn_30d", dtype=Int64),
        Field(name="merchant_fraud_rate_30d", dtype=Float64),
    ],
    source=merchant_features_source,
    online=True,
    description="Volume, average amount, and the fraud rate over labels known by then.",
)
