"""`mlops status`: the champion, the challenger, the rollout in progress, the last retraining and
the last drift verdict."""

from mlops_assets.keys import DRIFT_REPORT, drift_report_record
from mlops_assets.ops.instance import CommandError, open_lake, open_registry
from mlops_assets.settings import Settings


def status_lines(settings: Settings) -> list[str]:
    from mlops_assets.lib.loop.rollout import current_rollout, describe_rollout
    from mlops_assets.lib.modelling.registry import CHALLENGER, CHAMPION

    registry = open_registry(settings)
    champion = registry.alias(CHAMPION)
    if champion is None:
        raise CommandError(f"no champion model in {settings.mlflow_tracking_uri}: run `mlops demo` or `mlops retrain`")
    challenger = registry.alias(CHALLENGER)
    newest = registry.versions()[-1]
    return [
        f"champion:   {_describe(champion)}",
        f"            trained on {champion.tags.get('training_window')}, git {champion.tags.get('git_commit')}",
        f"challenger: {_describe(challenger) if challenger else 'none'}",
        f"rollout:    {describe_rollout(current_rollout(registry))}",
        f"last retraining: reason {newest.tags.get('reason')}, window {newest.tags.get('training_window')}, "
        f"versions up to {newest.version}",
        _last_drift_line(settings),
    ]


def _describe(version) -> str:
    tags = version.tags
    metrics = ", ".join(
        f"{label} {float(tags[name]):.3f}"
        for name, label in (("pr_auc", "PR AUC"), ("roc_auc", "ROC AUC"), ("recall_at_fpr", "recall@FPR"))
        if name in tags
    )
    threshold = f", threshold {float(tags['threshold']):.4f}" if "threshold" in tags else ""
    return f"version {version.version} ({tags.get('kind', '?')}): {metrics or 'not evaluated'}{threshold}"


def _last_drift_line(settings: Settings) -> str:
    """The newest day's drift verdict with its reasons, from the lake's drift reports."""
    lake = open_lake(settings)
    days = lake.record_names(DRIFT_REPORT)
    if not days:
        return "last drift verdict: no drift report yet"
    report = lake.read_record(drift_report_record(days[-1]))
    reasons = "; ".join(report["reasons"]) or "nothing moved"
    return (
        f"last drift verdict: {report['verdict']} on {report['day']} (window {report['window']}, "
        f"champion v{report['champion_version']}): {reasons}"
    )
