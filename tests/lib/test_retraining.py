"""The retraining decision on hand-made reports, and the decision log."""

import pytest

from mlops_assets.keys import report_key, retrain_run_key
from mlops_assets.lib.data.lake import Lake
from mlops_assets.lib.loop.retraining import Decision, DecisionLog, RetrainPolicy, decide, event_start

POLICY = RetrainPolicy(cooldown_days=3, min_new_labelled=2000, holdout_days=1)


def report(day: str, verdict: str = "drift", champion: str = "3") -> dict:
    return {
        "day": day,
        "verdict": verdict,
        "champion_version": champion,
        "reasons": ["PR AUC fell"],
        "report": "r.html",
    }


def decided(day: str, verdict: str = "drift", action: str = "skip", champion: str = "3", event: str | None = None):
    return Decision(
        key=report_key(day, champion),
        action=action,
        reason="",
        day=day,
        champion_version=champion,
        verdict=verdict,
        event_id=event,
    )


def labels(per_day: int):
    import pandas as pd

    return lambda first, last: per_day * ((pd.Timestamp(last) - pd.Timestamp(first)).days + 1)


def test_an_ordinary_report_decides_nothing() -> None:
    decision = decide(report("2025-02-01", "warn"), [], labels(3000), POLICY)
    assert decision.action == "none" and decision.reason == "verdict warn: PR AUC fell"


def test_the_first_drifted_day_waits_for_labels_to_learn_from_and_the_second_retrains() -> None:
    first = decide(report("2025-02-01"), [], labels(3000), POLICY)
    assert first.action == "skip" and first.reason.startswith("waiting for labels: 0 labelled")
    assert first.event_id == "2025-02-01.v3"
    second = decide(report("2025-02-02"), [first], labels(3000), POLICY)
    assert second.action == "retrain" and second.event_id == "2025-02-01.v3"
    assert "(3000 new labelled)" in second.reason


def test_one_event_retrains_once_and_the_cooldown_holds_a_new_event_back() -> None:
    earlier = [decided("2025-02-01"), decided("2025-02-02", action="retrain", event="2025-02-01.v3")]
    again = decide(report("2025-02-03"), earlier, labels(3000), POLICY)
    assert again.action == "skip" and "already has its retraining" in again.reason
    # A new event (the same champion, after a quiet day) within the cooldown is held back.
    earlier += [decided("2025-02-03"), decided("2025-02-04", verdict="none", action="none")]
    held = decide(report("2025-02-05"), earlier, labels(3000), POLICY)
    assert held.event_id == "2025-02-05.v3" and held.reason.startswith("cooldown: retrained for 2025-02-01.v3")
    # After the cooldown, a new event retrains once it has labels to learn from.
    later = decide(report("2025-02-07"), [*earlier, decided("2025-02-06")], labels(3000), POLICY)
    assert later.action == "retrain" and later.event_id == "2025-02-06.v3"


def outcome(action: str, event: str, run: str) -> Decision:
    return Decision(key=f"run.{run}", action=action, reason="", event_id=event, run_id=run)


def drifted_days(first: int, last: int, event: str) -> list[Decision]:
    return [decided(f"2025-02-{day:02d}", event=event) for day in range(first, last + 1)]


def test_a_rejected_retraining_is_tried_again_after_the_cooldown_up_to_max_attempts() -> None:
    event = "2025-02-01.v3"
    earlier = [decided("2025-02-01", event=event), decided("2025-02-02", action="retrain", event=event)]
    # While the first retraining runs, the event waits for it.
    pending = decide(report("2025-02-03"), earlier, labels(3000), POLICY)
    assert pending.action == "skip" and "no outcome yet" in pending.reason
    earlier += [pending, outcome("reject", event, "r1")]
    # Rejected: the cooldown (3 days after the 2nd) still holds on the 5th, not on the 6th.
    held = decide(report("2025-02-05"), [*earlier, decided("2025-02-04", event=event)], labels(3000), POLICY)
    assert held.action == "skip" and held.reason.startswith("cooldown: retrained for 2025-02-01.v3 on 2025-02-02")
    earlier += drifted_days(4, 5, event)
    second = decide(report("2025-02-06"), earlier, labels(3000), POLICY)
    assert second.action == "retrain" and second.event_id == event and second.attempt == 2
    assert "(15000 new labelled); attempt 2 of 3: every earlier retraining was rejected or aborted" in second.reason
    assert retrain_run_key(event, second.attempt) == "drift:2025-02-01.v3#2" != retrain_run_key(event, 1)
    # A third rejection ends the event's retrainings; the champion stays.
    earlier += [second, outcome("reject", event, "r2"), *drifted_days(7, 9, event)]
    third = decide(report("2025-02-10"), earlier, labels(3000), POLICY)
    assert third.attempt == 3
    earlier += [third, outcome("reject", event, "r3"), *drifted_days(11, 13, event)]
    done = decide(report("2025-02-14"), earlier, labels(3000), POLICY)
    assert (
        done.action == "skip"
        and "all 3 retrainings were rejected by the gates or aborted in their rollouts (max_attempts 3)" in done.reason
    )


def test_no_retraining_while_a_staged_rollout_is_in_progress() -> None:
    earlier = [decided("2025-02-01"), decided("2025-02-02")]
    held = decide(report("2025-02-03"), earlier, labels(3000), POLICY, rollout="version 4 in the canary stage")
    assert held.action == "skip" and held.reason == "a staged rollout is in progress: version 4 in the canary stage"
    assert held.event_id == "2025-02-01.v3"
    # The same report without a rollout in progress retrains.
    assert decide(report("2025-02-03"), earlier, labels(3000), POLICY).action == "retrain"


def test_a_rollout_ends_its_events_retraining_promoted_or_aborted_like_a_rejection() -> None:
    event = "2025-02-01.v3"
    earlier = [decided("2025-02-01", event=event), decided("2025-02-02", action="retrain", event=event)]
    # The retraining started a rollout: its first step is not an outcome yet.
    earlier += [Decision(key="rollout.shadow", action="shadow", reason="", event_id=event, version="4")]
    assert "no outcome yet" in decide(report("2025-02-03"), earlier, labels(3000), POLICY).reason
    promoted = [*earlier, outcome("promote", event, "r1"), *drifted_days(3, 5, event)]
    assert "promoted" in decide(report("2025-02-06"), promoted, labels(3000), POLICY).reason
    aborted = [*earlier, outcome("abort", event, "r1"), *drifted_days(3, 5, event)]
    again = decide(report("2025-02-06"), aborted, labels(3000), POLICY)
    assert again.action == "retrain" and again.attempt == 2


def test_a_promoted_event_does_not_retrain_again_after_a_rollback_to_its_champion() -> None:
    event = "2025-02-01.v3"
    earlier = [decided("2025-02-01", event=event), decided("2025-02-02", action="retrain", event=event)]
    earlier += [outcome("promote", event, "r1")]
    # v3 is champion again (rolled back) and its drift continues: no retraining in circles.
    later = decide(report("2025-02-03"), earlier, labels(3000), POLICY)
    assert later.action == "skip" and later.reason.endswith("(requested on 2025-02-02, promoted)")


def test_an_event_is_consecutive_drift_days_against_one_champion() -> None:
    earlier = [decided("2025-02-01"), decided("2025-02-02", champion="4"), decided("2025-02-03", champion="4")]
    assert event_start("2025-02-04", "4", earlier) == "2025-02-02"
    assert event_start("2025-02-04", "3", earlier) == "2025-02-04"
    assert event_start("2025-02-05", "4", earlier) == "2025-02-05"  # 2025-02-04 has no report


def test_an_unknown_action_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown action 'maybe'"):
        Decision(key="k", action="maybe", reason="")


def test_the_log_keeps_the_first_decision_per_key(tmp_path) -> None:
    log = DecisionLog(Lake(str(tmp_path)))
    first = log.record(decided("2025-02-01", action="skip"))
    kept = log.record(decided("2025-02-01", action="retrain"))
    assert kept == first and [d.action for d in log.all()] == ["skip"]
    assert log.get(report_key("2025-02-02", "3")) is None
