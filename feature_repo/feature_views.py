"""Feature views: what each entity looks like just after its latest transaction.

Their fields follow the deployment's feature spec (`MLOPS_*_WINDOWS`, `lib/feature_spec.py`): the
one list of feature names is `lib/features.py`'s, which computes them. The TTL, how old a row may
be for a point-in-time join, is how far the longest window reaches; online reads do not apply it,
so serving checks freshness itself from the returned event timestamps.
"""

from entities import customer, merchant
from feast import FeatureView, Field
from feast.types import Float64, Int64, UnixTimestamp
from sources import customer_features_source, merchant_features_source

from mlops_assets.lib.featurize.features import (
    COUNT,
    NUMBER,
    TIMESTAMP,
    customer_feature_kinds,
    merchant_feature_kinds,
)
from mlops_assets.settings import Settings

# Read when Feast imports the repository: the views' fields and TTL are declared at module level.
SPEC = Settings.from_env().features
FEAST_TYPES = {COUNT: Int64, NUMBER: Float64, TIMESTAMP: UnixTimestamp}


def _fields(kinds: dict[str, str]) -> list[Field]:
    return [Field(name=name, dtype=FEAST_TYPES[kind]) for name, kind in kinds.items()]


customer_activity = FeatureView(
    name="customer_activity",
    entities=[customer],
    ttl=SPEC.history,
    schema=_fields(customer_feature_kinds(SPEC)),
    source=customer_features_source,
    online=True,
    description="Counts and amounts over the customer windows; merchant and country diversity, "
    "card-not-present share and zero amounts over the habit windows.",
)

merchant_activity = FeatureView(
    name="merchant_activity",
    entities=[merchant],
    ttl=SPEC.history,
    schema=_fields(merchant_feature_kinds(SPEC)),
    source=merchant_features_source,
    online=True,
    description="Volume and average amount; labelled transactions and fraud rate over labels known by then.",
)
