"""The feature stage as Dagster sees it: entity features, the online store, their job and sensor."""

import dagster as dg

from mlops_assets.defs.features.assets import entity_features, online_features
from mlops_assets.defs.features.jobs import features_job
from mlops_assets.defs.features.sensors import features_sensor


def definitions() -> dg.Definitions:
    return dg.Definitions(assets=[entity_features, online_features], jobs=[features_job], sensors=[features_sensor])
