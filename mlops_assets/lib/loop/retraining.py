"""When a drift report retrains the models, and the log of every decision the loop makes.

A drift *event* is a run of consecutive days whose reports say `drift` against the same champion;
its id is `<first day>.v<champion version>`, so every report of one event names the same id and a
retraining requested for it has a stable run key. An event retrains once, and again (after the
cooldown, up to `max_attempts`) only when every retraining so far was rejected by the gates. A
report is decided once: the decision is kept in the lake under a key naming the day and the
champion, and a repeated look (a restarted sensor, a lost cursor) finds it instead of deciding
again.

No Dagster here: the sensors gather the facts and call `decide`; the assets record outcomes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from mlops_assets.keys import (
    REPORT_DECISION_PREFIX,
    RETRAIN_DECISIONS,
    TRAINING_SET,
    drift_event_id,
    report_key,
)
from mlops_assets.lib.data.lake import Lake

# What the loop can decide: act on a report (retrain, skip, none), on a retraining's outcome, or
# on a rollout (its version into the shadow or the canary stage, promoted, or aborted).
ACTIONS = ("retrain", "skip", "none", "promote", "reject", "keep", "rollback", "shadow", "canary", "abort")


class RetrainPolicy(BaseModel):
    """The guards between a drift verdict and a retraining. A pydantic model, so that the Dagster
    resource `drift_retrain_sensor` reads it from takes these fields as they are."""

    model_config = ConfigDict(frozen=True)

    # The new champion needs labelled days before its own reports mean much; the drift window is 2 days.
    cooldown_days: int = Field(default=2, description="Days after a drift retraining without another.")
    # Before then the report waits for labels.
    min_new_labelled: int = Field(
        default=2000,
        description="Labelled transactions of the drift event's days (before the evaluation days) a retraining"
        " needs to learn from.",
    )
    # So that the drifted days it knows of are in its training data.
    holdout_days: int = Field(default=1, description="Most recent days a drift retraining evaluates on.")
    # Shorter than a calendar retraining's window, so that drifted days weigh more: measured on
    # concept drift (docs/drift.md), 7 drifted days in 14 gave PR AUC 0.65, in 28 days 0.62.
    training_days: int = Field(default=14, description="Days of a drift retraining's window.")
    # Say one drifted day of labels was too little to beat the champion: more follow.
    max_attempts: int = Field(
        default=3,
        description="Retrainings one drift event may have; another follows a rejected one after the cooldown.",
    )


@dataclass(frozen=True)
class Decision:
    """One decision of the loop, as the `retrain_decisions` table shows it."""

    key: str
    action: str
    reason: str
    day: str | None = None
    champion_version: str | None = None
    verdict: str | None = None
    event_id: str | None = None
    run_id: str | None = None  # the Dagster run requested, or the one whose outcome this is
    report: str | None = None  # the drift report's HTML
    mlflow_run_id: str | None = None
    version: str | None = None  # the version promoted, rejected or rolled back to
    attempt: int | None = None  # of a `retrain`: which retraining of its event this is, from 1
    decided_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}; one of {', '.join(ACTIONS)}")


class DecisionLog:
    """Decisions as JSON records in the lake (`retrain_decisions/<key>.json`), one per key."""

    def __init__(self, lake: Lake):
        self.lake = lake

    def get(self, key: str) -> Decision | None:
        path = f"{RETRAIN_DECISIONS}/{key}"
        return Decision(**self.lake.read_record(path)) if self.lake.exists_record(path) else None

    def record(self, decision: Decision) -> Decision:
        """Keeps `decision` unless one with its key exists; returns the one kept."""
        return self.get(decision.key) or self._write(decision)

    def _write(self, decision: Decision) -> Decision:
        self.lake.write_record(f"{RETRAIN_DECISIONS}/{decision.key}", asdict(decision))
        return decision

    def all(self) -> list[Decision]:
        """Every decision, oldest first."""
        decisions = [Decision(**record) for record in self.lake.read_records(RETRAIN_DECISIONS)]
        return sorted(decisions, key=lambda d: (d.decided_at, d.day or "", d.key))


def event_start(day: str, champion_version: str, earlier: list[Decision]) -> str:
    """The first day of the drift event that `day` (flagged `drift`) belongs to: walking back over
    consecutive earlier days flagged `drift` against the same champion."""
    flagged = {
        d.day
        for d in earlier
        if d.day
        and d.verdict == "drift"
        and d.champion_version == champion_version
        and d.key.startswith(REPORT_DECISION_PREFIX)
    }
    start = pd.Timestamp(day)
    while (start - pd.Timedelta(days=1)).strftime("%Y-%m-%d") in flagged:
        start -= pd.Timedelta(days=1)
    return start.strftime("%Y-%m-%d")


def decide(
    report: dict,
    earlier: list[Decision],
    labelled_between: Callable[[str, str], int],
    policy: RetrainPolicy,
    rollout: str | None = None,
) -> Decision:
    """The decision on one drift report (`drift_report`'s record: day, verdict, champion_version,
    report). `earlier` are the decisions so far; `labelled_between(first, last)` counts labelled
    transactions on those days (inclusive); `rollout` describes the staged rollout in progress,
    if any (`lib.loop.rollout`): while one is, nothing is retrained."""
    day, champion, verdict = report["day"], report["champion_version"], report["verdict"]
    base = {
        "key": report_key(day, champion),
        "day": day,
        "champion_version": champion,
        "verdict": verdict,
        "report": report.get("report"),
    }
    if verdict != "drift":
        watched = "; ".join(report.get("reasons") or []) or "nothing moved"
        return Decision(action="none", reason=f"verdict {verdict}: {watched}", **base)
    start = event_start(day, champion, earlier)
    event = drift_event_id(start, champion)
    base["event_id"] = event
    if rollout is not None:
        # A retraining now would supersede the candidate on trial before its verdict; the
        # drifted days' reports name the champion, so the next look after the verdict decides.
        return Decision(action="skip", reason=f"a staged rollout is in progress: {rollout}", **base)
    requested = [d for d in earlier if d.action == "retrain"]
    attempts = [d for d in requested if d.event_id == event]
    if attempts:
        held = _held_by_earlier_attempts(event, attempts, earlier, policy)
        if held:
            return Decision(action="skip", reason=held, **base)
    recent = [d for d in requested if d.day and 0 <= _days_between(d.day, day) <= policy.cooldown_days]
    if recent:
        last = recent[-1]
        return Decision(
            action="skip",
            reason=f"cooldown: retrained for {last.event_id} on {last.day}, "
            f"{_days_between(last.day, day)} day(s) ago (cooldown {policy.cooldown_days} days)",
            **base,
        )
    learn_until = (pd.Timestamp(day) - pd.Timedelta(days=policy.holdout_days)).strftime("%Y-%m-%d")
    new_labelled = labelled_between(start, learn_until) if learn_until >= start else 0
    if new_labelled < policy.min_new_labelled:
        return Decision(
            action="skip",
            reason=f"waiting for labels: {new_labelled} labelled transactions of the drift days to learn from, "
            f"{policy.min_new_labelled} needed",
            **base,
        )
    reasons = "; ".join(report.get("reasons") or [])
    reason = f"drift since {start}: {reasons} ({new_labelled} new labelled)"
    if attempts:
        reason += (
            f"; attempt {len(attempts) + 1} of {policy.max_attempts}: every earlier retraining was rejected or aborted"
        )
    return Decision(action="retrain", reason=reason, attempt=len(attempts) + 1, **base)


def _held_by_earlier_attempts(
    event: str, attempts: list[Decision], earlier: list[Decision], policy: RetrainPolicy
) -> str | None:
    """Why `event`, which has retrained, may not retrain again now; None when it may (every
    retraining so far was rejected by the gates or aborted in its rollout, and attempts are left;
    the cooldown is checked after)."""
    outcomes = [d.action for d in earlier if d.event_id == event and d.action in ("promote", "reject", "abort")]
    last = attempts[-1]
    if "promote" in outcomes:
        return f"event {event} already has its retraining (requested on {last.day}, promoted)"
    if len(outcomes) < len(attempts):
        # Running still, or it failed before the gates: a failed run is for a person to look at.
        return f"event {event} already has its retraining (requested on {last.day}, no outcome yet)"
    if len(attempts) >= policy.max_attempts:
        return (
            f"event {event}: all {len(attempts)} retrainings were rejected by the gates or aborted in their "
            f"rollouts (max_attempts {policy.max_attempts}); the champion stays"
        )
    return None


def retrain_run_config(day: str, policy: RetrainPolicy) -> dict:
    """`retrain_job`'s config for a drift retraining decided on `day`: the window ends that day and
    only its last `holdout_days` are held out for evaluation."""
    return {
        "ops": {
            TRAINING_SET: {
                "config": {"days": policy.training_days, "end_day": day, "holdout_days": policy.holdout_days}
            }
        }
    }


def _days_between(first: str, last: str) -> int:
    return (pd.Timestamp(last) - pd.Timestamp(first)).days


def decisions_table(decisions: list[Decision]) -> str:
    """The decisions as a Markdown table, newest first, with links to reports and runs."""
    if not decisions:
        return "no decisions yet"
    lines = [
        "| decided (UTC) | day | action | reason | event | champion | version | links |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for d in reversed(decisions):
        links = []
        if d.report:
            links.append(f"[drift report](file://{d.report})")
        if d.run_id:
            links.append(f"[Dagster run](/runs/{d.run_id})")
        if d.mlflow_run_id:
            links.append(f"MLflow run `{d.mlflow_run_id}`")
        reason = d.reason.replace("|", "/")
        lines.append(
            f"| {d.decided_at} | {d.day or ''} | **{d.action}** | {reason} | {d.event_id or ''} | "
            f"{d.champion_version or ''} | {d.version or ''} | {' '.join(links)} |"
        )
    return "\n".join(lines)
