"""Feature services: the versioned sets of features a model is trained and served with."""

from feast import FeatureService
from feature_views import customer_activity, merchant_activity

fraud_detection_v1 = FeatureService(
    name="fraud_detection_v1",
    features=[customer_activity, merchant_activity],
    description="Everything the fraud models read from the store, besides the request itself.",
)
