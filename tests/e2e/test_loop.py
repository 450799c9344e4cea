"""The retraining loop through the real graph and the real sensors, day by day: ordinary days
retrain nothing; concept drift retrains on its first or second day and again as labels of the
drifted days accumulate, until the champion is back within 10% of its pre-drift PR AUC while the
old one stays low; each drift retraining is rolled out (a shadow day, then a canary promoted or
aborted on the labelled days' evidence) and nothing retrains while a rollout runs; every
promotion is reviewed; a restarted sensor requests nothing twice."""

from dataclasses import dataclass
from datetime import date
from itertools import pairwise

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from mlops_assets.definitions import build_definitions
from mlops_assets.defs.features.assets import point_in_time_inputs
from mlops_assets.keys import DRIFT_EVENT_TAG, DRIFT_REPORT_TAG, REASON_TAG
from mlops_assets.lib.loop.retraining import DecisionLog
from mlops_assets.lib.modelling.registry import MODEL_NAME, Registry
from mlops_assets.resources import build_resources
from tests.conftest import use_home
from tests.e2e.loop import Loop, days_after

# The story (61 days through the graph) is built once, in the first test's time: minutes, more on
# a slow machine than pytest's default 600 s limit allows (1,254 s measured beside the demo).
pytestmark = [pytest.mark.slow, pytest.mark.end_to_end, pytest.mark.timeout(2400)]
START = date(2025, 1, 1)
HISTORY_DAYS = 35  # the 30-day windows are full before the champion's reference days
ORDINARY_DAYS = 14
# Each rollout takes days (a shadow day, then a canary until its verdict): 20 drifted days hold
# two drift events' rollouts to their promotion and two days after the last one.
CONCEPT_DAYS = 20
TRAINING = {"bayesian_network": {"config": {"structure_rows": 20_000}}}


@dataclass
class Story:
    loop: Loop
    first_champion: str
    ordinary: list[str]
    concept: list[str]
    retrains_by_day: dict[str, list[dg.DagsterRun]]

    @property
    def registry(self) -> Registry:
        return Registry(self.loop.settings.mlflow_tracking_uri, MODEL_NAME)


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("loop")
    with pytest.MonkeyPatch.context() as patch:
        settings = use_home(patch, home)
        defs = build_definitions(build_resources(settings))
        with dg.DagsterInstance.get() as instance:
            loop = Loop(settings, defs, instance, rows_per_day=3000, seed=5)
            assert loop.history(START, HISTORY_DAYS, TRAINING).success
            registry = Registry(settings.mlflow_tracking_uri, MODEL_NAME)
            first = registry.alias("champion").version
            ordinary = days_after(date(2025, 2, 5), ORDINARY_DAYS)
            concept = days_after(ordinary[-1] + pd.Timedelta(days=1), CONCEPT_DAYS)
            retrains = {day.isoformat(): loop.day(day) for day in ordinary}
            retrains |= {day.isoformat(): loop.day(day, "concept_drift") for day in concept}
            yield Story(loop, first, [d.isoformat() for d in ordinary], [d.isoformat() for d in concept], retrains)


def reports(story: Story, days: list[str]) -> list[dict]:
    return [story.loop.lake.read_record(f"drift_report/{day}") for day in days]


def test_ordinary_days_after_training_are_none_and_retrain_nothing(story: Story) -> None:
    ordinary = reports(story, story.ordinary)
    assert [r["verdict"] for r in ordinary] == ["none"] * ORDINARY_DAYS, [(r["day"], r["reasons"]) for r in ordinary]
    assert all(not story.retrains_by_day[day] for day in story.ordinary)
    decisions = {d.day: d for d in DecisionLog(story.loop.lake).all() if d.key.startswith("report.")}
    assert [decisions[day].action for day in story.ordinary] == ["none"] * ORDINARY_DAYS


def drift_retrains(story: Story) -> list[tuple[str, dg.DagsterRun]]:
    return [(day, run) for day in story.concept for run in story.retrains_by_day[day]]


def test_concept_drift_retrains_on_its_first_or_second_day_tagged_with_the_event(story: Story) -> None:
    started = drift_retrains(story)
    day, run = started[0]
    assert day in story.concept[:2]
    event = run.tags[DRIFT_EVENT_TAG]
    assert run.tags[REASON_TAG] == f"drift:{event}" and run.tags[DRIFT_REPORT_TAG] == day
    assert event.endswith(f".v{story.first_champion}") and event.split(".v")[0] in story.concept[:2]
    assert all(run.status == dg.DagsterRunStatus.SUCCESS for _, run in started)
    # Later retrainings are new events (against newer champions) or later attempts of one whose
    # rollout was aborted, each once and past the cooldown of the last.
    keys = [run.tags["dagster/run_key"] for _, run in started]
    assert len(set(keys)) == len(keys)
    gaps = [(pd.Timestamp(b) - pd.Timestamp(a)).days for (a, _), (b, _) in pairwise(started)]
    assert all(gap > 2 for gap in gaps), gaps
    # The champion says why it exists, and the pre-drift level it had to recover to.
    champion = story.registry.alias("champion")
    trained_by = [run for _, run in started if run.run_id == champion.tags["dagster_run_id"]]
    assert len(trained_by) == 1 and champion.tags["reason"] == f"drift:{trained_by[0].tags[DRIFT_EVENT_TAG]}"
    start = event.split(".v")[0]
    before = [r["pr_auc"] for r in reports(story, story.ordinary) if r["day"] < start][-7:]
    assert float(champion.tags["recovery_level"]) == pytest.approx(float(np.median(before)), rel=1e-5)
    assert champion.tags["recovery_since"] == start


def pr_auc(story: Story, version: str, days: list[str]) -> float:
    lake = story.loop.lake
    transactions = pd.concat([lake.read("validated_transactions", day) for day in days], ignore_index=True)
    context = dg.build_asset_context(resources={"feast": story.loop.defs.resources["feast"]})
    inputs = point_in_time_inputs(context, story.loop.defs.resources["feast"], transactions)
    scores = story.registry.load(version).predict_proba(inputs)
    return float(average_precision_score(transactions["is_fraud"].astype(int), scores))


def test_the_champion_recovers_to_within_10_percent_of_the_pre_drift_level_and_the_old_one_falls(
    story: Story,
) -> None:
    champion = story.registry.alias("champion").version
    decisions = DecisionLog(story.loop.lake).all()
    promoted_on = next(d.day for d in decisions if d.action == "promote" and d.version == champion)
    after = [day for day in story.concept if day > promoted_on]
    assert len(after) >= 2, "the last promotion came too late to measure"
    pre_drift = pr_auc(story, story.first_champion, story.ordinary[-7:])
    new, old = pr_auc(story, champion, after), pr_auc(story, story.first_champion, after)
    assert new >= 0.9 * pre_drift and old < 0.8 * pre_drift, (new, old, pre_drift)


def test_every_promotion_with_days_after_it_is_reviewed_once_and_kept(story: Story) -> None:
    decisions = DecisionLog(story.loop.lake).all()
    reviews = {d.champion_version: d for d in decisions if d.key.startswith("review.")}
    promoted = [d.version for d in decisions if d.action == "promote" and d.champion_version]
    # A promotion on day t is reviewed on t + 3 (three labelled days after it), when the loop gets there.
    reviewable = [
        d.version for d in decisions if d.action == "promote" and d.champion_version and d.day <= story.concept[-4]
    ]
    assert reviewable and set(reviewable) <= set(reviews) <= set(promoted), (reviewable, reviews)
    assert all(reviews[v].action == "keep" for v in reviewable), [reviews[v].reason for v in reviewable]


def test_decisions_table_records_the_loop_with_links(story: Story) -> None:
    decisions = DecisionLog(story.loop.lake).all()
    actions = [d.action for d in decisions]
    # Every drift retraining passed the gates here and started a rollout; the promotions are the
    # first champion's and those of the rollouts.
    rollout_promotions = [d for d in decisions if d.key.startswith("rollout.") and d.action == "promote"]
    assert actions.count("retrain") >= 1 and actions.count("shadow") == actions.count("retrain")
    assert rollout_promotions and actions.count("promote") == 1 + len(rollout_promotions)
    retrain = next(d for d in decisions if d.action == "retrain")
    assert retrain.report.endswith(f"drift/{retrain.day}.html") and retrain.event_id
    promote = next(d for d in decisions if d.action == "promote" and d.event_id)
    assert promote.event_id == retrain.event_id
    assert [d for d in decisions if d.action == "promote"][-1].version == story.registry.alias("champion").version
    events = story.loop.instance.fetch_materializations(dg.AssetKey("retrain_decisions"), limit=1).records
    table = events[0].asset_materialization.metadata["decisions"].value
    assert "**retrain**" in table and "[drift report](file://" in table and "[Dagster run](/runs/" in table


def test_each_drift_retraining_is_rolled_out_and_nothing_retrains_while_a_rollout_runs(story: Story) -> None:
    decisions = DecisionLog(story.loop.lake).all()
    retrains = [d for d in decisions if d.action == "retrain"]
    steps = [d for d in decisions if d.key.startswith("rollout.")]
    versions = list(dict.fromkeys(d.version for d in steps))
    assert len(versions) == len(retrains) >= 2
    verdict_days = []
    for version, retrain in zip(versions, retrains, strict=True):
        own = [d for d in steps if d.version == version]
        # A shadow day after the retraining's holdout day, then the canary, then its verdict (the
        # last rollout may still be running when the story ends).
        assert [d.action for d in own][:2] == ["shadow", "canary"], own
        assert all(d.event_id == retrain.event_id for d in own)
        shadow, canary = own[0], own[1]
        assert shadow.day == retrain.day and canary.day == days_later(retrain.day, 1)
        if len(own) == 3:
            verdict = own[2]
            assert verdict.action in ("promote", "abort") and canary.day < verdict.day <= days_later(canary.day, 7)
            verdict_days.append((canary.day, verdict.day, shadow.champion_version))
    # The first event's candidate beats the champion that missed the drift on its first canary day.
    first = [d for d in steps if d.version == versions[0]]
    assert first[2].action == "promote" and first[2].day == days_later(first[1].day, 1), first[2].reason
    assert "costs less beyond doubt" in first[2].reason
    # While a rollout runs, every drifted day's report against its champion waits for the verdict.
    reports = [d for d in decisions if d.key.startswith("report.") and d.verdict == "drift"]
    for canary_day, verdict_day, champion in verdict_days:
        during = [d for d in reports if canary_day < d.day < verdict_day and d.champion_version == champion]
        assert all(d.action == "skip" and d.reason.startswith("a staged rollout is in progress") for d in during)
    # The outcomes and the evidence are in each day's `rollout_report`.
    canary_day = first[1].day
    verdict = story.loop.lake.read_record(f"rollout_report/{first[2].day}")
    assert verdict["decision"] == "promote" and verdict["labelled_frauds"] >= 30 and verdict["cost_gap_high"] < 0
    assert verdict["rollout"] and story.loop.lake.read_record(f"rollout_report/{canary_day}")["decision"] == "canary"


def days_later(day: str, days: int) -> str:
    return (pd.Timestamp(day) + pd.Timedelta(days=days)).strftime("%Y-%m-%d")


def test_a_restarted_sensor_requests_no_duplicate_runs(story: Story) -> None:
    loop = story.loop
    runs_before = len(loop.instance.get_runs())
    decisions_before = len(DecisionLog(loop.lake).all())
    # A lost cursor: every report is looked at again; every decision is found, every run key used.
    assert loop.tick("drift_retrain_sensor", cursor=None) == []
    assert loop.tick("drift_report_sensor", cursor=None) == []
    assert len(loop.instance.get_runs()) == runs_before
    assert len(DecisionLog(loop.lake).all()) == decisions_before
