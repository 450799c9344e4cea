"""The evaluation stage as Dagster sees it: the candidates' evaluation with its blocking gates, and
the champion's promotion."""

import dagster as dg

from mlops_assets.defs.evaluation.assets import champion_model, model_evaluation
from mlops_assets.defs.evaluation.checks import gate_checks


def definitions() -> dg.Definitions:
    return dg.Definitions(assets=[model_evaluation, champion_model], asset_checks=gate_checks)
