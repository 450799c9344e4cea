"""Feature services: the versioned sets of features a model is trained and served with."""

from feast import FeatureService
from feature_views import customer_activity, merchant_activity

from mlops_assets.keys import FEATURE_SERVICE

fraud_detection = FeatureService(
    name=FEATURE_SERVICE,
    features=[customer_activity, merchant_activity],
    description="Everything the fraud models read from the store, besides the request itself.",
)
