"""The validation stage as Dagster sees it: validated and quarantined transactions with their checks."""

import dagster as dg

from mlops_assets.defs.validation.assets import validate_transactions


def definitions() -> dg.Definitions:
    return dg.Definitions(assets=[validate_transactions])
