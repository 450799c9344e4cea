"""A home with history and a first champion, as the module fixtures of several tests build it."""

from __future__ import annotations

from datetime import date

import dagster as dg

from mlops_assets.definitions import build_definitions
from mlops_assets.lib.data.lake import Lake
from mlops_assets.ops.features import build_features
from mlops_assets.ops.ingest import ingest_pending
from mlops_assets.ops.retrain import retrain
from mlops_assets.resources import build_resources
from mlops_assets.settings import Settings
from mlops_assets.synth import generator

DAYS = 10


def run_config(settings: Settings) -> dict:
    """`retrain_job`'s op config: ten days of 1,500 rows, the last four held out (small enough for
    a module fixture). The data is the simulator's, so its causal graph, written to the home, is
    the truth the Bayesian network reports its distance to."""
    truth = settings.home / "truth_graph.json"
    truth.write_text(generator.truth_json())
    return {
        "training_set": {"config": {"days": DAYS, "holdout_days": 4}},
        "bayesian_network": {"config": {"structure_rows": 8000, "truth_graph": str(truth)}},
    }


def first_champion(
    settings: Settings, instance: dg.DagsterInstance
) -> tuple[dg.Definitions, dg.ExecuteInProcessResult]:
    """Ten baseline days from 2025-03-01 (seed 8) ingested with their features, then the first
    `retrain_job`; the definitions and the run's result."""
    generator.generate(date(2025, 3, 1), DAYS, 1500, settings.landing_dir, seed=8)
    defs = build_definitions(build_resources(settings))
    assert not ingest_pending(defs, instance).failed_days
    assert not build_features(defs, instance, Lake(str(settings.lake_dir)).partitions("validated_transactions"))
    return defs, retrain(defs, instance, None, run_config(settings))
