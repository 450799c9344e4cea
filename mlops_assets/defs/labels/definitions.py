"""Late labels as Dagster sees them: the sensors that re-validate their days or set them aside."""

import dagster as dg

from mlops_assets.defs.labels.sensors import label_sensor, unmatched_labels_sensor


def definitions() -> dg.Definitions:
    return dg.Definitions(sensors=[label_sensor, unmatched_labels_sensor])
