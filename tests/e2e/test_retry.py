"""A drift retraining that the gates reject is tried again after the cooldown, through the real
graph and sensors: the rejection is recorded against its drift event, the reports in the cooldown
skip, and the first report after it requests the event's second attempt, which is promoted."""

from dataclasses import dataclass
from datetime import date

import dagster as dg
import pandas as pd
import pytest

from mlops_assets.definitions import build_definitions
from mlops_assets.keys import outcome_key, retrain_run_key
from mlops_assets.lib.loop.retraining import Decision, DecisionLog, RetrainPolicy
from mlops_assets.lib.modelling.registry import MODEL_NAME, Registry
from mlops_assets.resources import build_resources
from tests.conftest import use_home
from tests.e2e.loop import RUN_KEY_TAG, Loop, days_after

pytestmark = pytest.mark.slow
START = date(2025, 1, 1)
HISTORY_DAYS = 14
SHIFTED_DAYS = 8  # the most landed: the retry comes on the 6th (warn, labels, reject, 2 cooldown days)
TRAINING = {"bayesian_network": {"config": {"structure_rows": 10_000}}}
# The first drift retraining gets a gate no model passes, as if its candidates were all worse.
IMPOSSIBLE_GATE = {"model_evaluation": {"config": {"min_pr_auc": 0.999}}}
# Drift retrainings promote on the gates here, the policy before staged rollouts (still one
# setting away): the retry is what this test is about (`test_loop` follows the rollouts).
PROMOTE_ON_THE_GATES = {"champion_model": {"config": {"staged_rollout_for": []}}}


def impossible_for_the_first_attempt(request: dg.RunRequest) -> dict:
    if not request.run_key.startswith("drift:"):
        return {}  # not a retraining
    first_attempt = "#" not in request.run_key
    return {**PROMOTE_ON_THE_GATES, **(IMPOSSIBLE_GATE if first_attempt else {})}


@dataclass
class Retried:
    loop: Loop
    first_champion: str
    runs: list[tuple[str, dg.DagsterRun]]  # (day, run) of each drift retraining, in order
    decisions: list[Decision]


@pytest.fixture(scope="module")
def retried(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("retry")
    with pytest.MonkeyPatch.context() as patch:
        settings = use_home(patch, home)
        defs = build_definitions(build_resources(settings))
        with dg.DagsterInstance.get() as instance:
            loop = Loop(settings, defs, instance, 2000, seed=11, extra_ops=impossible_for_the_first_attempt)
            assert loop.history(START, HISTORY_DAYS, TRAINING).success
            first = Registry(settings.mlflow_tracking_uri, MODEL_NAME).alias("champion").version
            runs = []
            for day in days_after(date(2025, 1, 15), SHIFTED_DAYS):
                runs += [(day.isoformat(), run) for run in loop.day(day, "covariate_shift")]
                if runs and runs[-1][1].status == dg.DagsterRunStatus.SUCCESS:
                    break
            yield Retried(loop, first, runs, DecisionLog(loop.lake).all())


def test_a_rejected_drift_retraining_is_retried_after_the_cooldown_and_promoted(retried: Retried) -> None:
    assert len(retried.runs) == 2, [(day, run.tags[RUN_KEY_TAG], run.status) for day, run in retried.runs]
    (first_day, first), (second_day, second) = retried.runs
    event = first.tags["mlops/drift_event"]
    assert [first.tags[RUN_KEY_TAG], second.tags[RUN_KEY_TAG]] == [retrain_run_key(event, 1), f"drift:{event}#2"]
    assert second.tags["mlops/drift_event"] == event
    assert first.status == dg.DagsterRunStatus.FAILURE and second.status == dg.DagsterRunStatus.SUCCESS
    log = DecisionLog(retried.loop.lake)
    rejected, promoted = log.get(outcome_key(first.run_id)), log.get(outcome_key(second.run_id))
    assert rejected.action == "reject" and rejected.event_id == event and "min_pr_auc" in rejected.reason
    assert promoted.action == "promote" and promoted.event_id == event
    # The reports between the two wait out the cooldown; the retry says why it comes.
    cooldown = RetrainPolicy().cooldown_days
    assert (pd.Timestamp(second_day) - pd.Timestamp(first_day)).days == cooldown + 1
    reports = {d.day: d for d in retried.decisions if d.key.startswith("report.")}
    between = [reports[day] for day in sorted(reports) if first_day < day < second_day]
    assert all(d.action == "skip" and d.reason.startswith("cooldown: ") for d in between), between
    retry = reports[second_day]
    assert retry.action == "retrain" and retry.attempt == 2 and retry.event_id == event
    assert "attempt 2 of 3: every earlier retraining was rejected" in retry.reason
    champion = Registry(retried.loop.settings.mlflow_tracking_uri, MODEL_NAME).alias("champion")
    assert champion.version == promoted.version != retried.first_champion
    assert champion.tags["reason"] == f"drift:{event}"
