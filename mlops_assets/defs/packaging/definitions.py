"""Packaging as Dagster sees it: the champion as a Bento, kept in step with the registry."""

import dagster as dg

from mlops_assets.defs.packaging.assets import bento, onnx_model
from mlops_assets.defs.packaging.jobs import bento_job
from mlops_assets.defs.packaging.sensors import champion_bento_sensor


def definitions() -> dg.Definitions:
    return dg.Definitions(assets=[bento, onnx_model], jobs=[bento_job], sensors=[champion_bento_sensor])
