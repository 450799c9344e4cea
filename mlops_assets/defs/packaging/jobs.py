"""`bento_job`: the champion packaged again, alone (what `champion_bento_sensor` starts)."""

import dagster as dg

from mlops_assets.keys import BENTO, BENTO_JOB

bento_job = dg.define_asset_job(
    BENTO_JOB,
    selection=dg.AssetSelection.assets(BENTO),
    description="Packages the current champion as a Bento, when it changed outside a retraining.",
)
