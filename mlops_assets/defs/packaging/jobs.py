"""`bento_job`: the champion packaged again (its Bento and its portable files), alone (what
`champion_bento_sensor` starts)."""

import dagster as dg

from mlops_assets.keys import BENTO, BENTO_JOB, ONNX_MODEL

bento_job = dg.define_asset_job(
    BENTO_JOB,
    selection=dg.AssetSelection.assets(BENTO, ONNX_MODEL),
    description="Packages the current champion as a Bento and exports it to ONNX, when it changed outside a "
    "retraining.",
)
