"""The operations that the `mlops` commands and the demo share: the local Dagster instance,
ingestion and retraining through Dagster with what they print, the registry's status lines, and
the server processes. `cli.py` parses arguments and calls these; `demo.py` tells its story with
them. Heavy libraries are imported inside each operation, as in the CLI."""

import signal
import subprocess
import sys
from pathlib import Path

from mlops_assets.settings import REPO_ROOT, Settings


class CommandError(Exception):
    """A one-line reason to stop a command with exit status 1 (missing state, failed work)."""


def open_instance(settings: Settings):
    """The local Dagster instance at DAGSTER_HOME, so runs show in the UI."""
    import dagster as dg

    settings.ensure_dirs()
    return dg.DagsterInstance.get()


def ingest(settings: Settings):
    from mlops_assets.definitions import build_definitions
    from mlops_assets.ingestion.runner import ingest_pending
    from mlops_assets.resources import build_resources

    defs = build_definitions(build_resources(settings))
    with open_instance(settings) as instance:
        report = ingest_pending(defs, instance)
    for rejection in report.rejected:
        print(f"rejected {rejection.name}: {rejection.reason} (kept in {settings.rejected_dir})")
    if not report.files:
        print(f"no pending landing files in {settings.landing_dir}")
    else:
        width = max(len(counts.name) for counts in report.files)
        print(f"{'file':<{width}}  {'read':>9}  {'validated':>9}  {'quarantined':>11}")
        for counts in report.files:
            print(
                f"{counts.name:<{width}}  {counts.rows_read:>9,}  {counts.rows_validated:>9,}  "
                f"{counts.rows_quarantined:>11,}"
            )
    if report.reasons:
        print("quarantined, by broken rule (rows; a row may break several):")
        for rule, count in report.reasons.most_common(5):
            print(f"    {rule}: {count:,}")
        if len(report.reasons) > 5:
            print(f"    ... {len(report.reasons) - 5} more rules: see quarantined_transactions in the lake or the UI")
    for day, reason in report.failed_days.items():
        print(f"run for {day} failed: {reason}", file=sys.stderr)
    return report


def start_server(command: list[str], output=None) -> subprocess.Popen:
    """A server process (`dagster dev`, `bentoml serve`) from the repository root, on this state
    (`main` exported it). A child started from a non-interactive shell inherits SIGINT as
    ignored, and dagster maps SIGTERM onto SIGINT: it is reset, or the server could not be stopped."""
    return subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        stdout=output,
        stderr=subprocess.STDOUT if output else None,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def start_dagster(settings: Settings, port: int, output=None) -> subprocess.Popen:
    """`dagster dev` on 127.0.0.1 with the local instance: the UI, the daemon, its sensors."""
    settings.ensure_dirs()
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(port), "-w", str(REPO_ROOT / "workspace.yaml")]
    return start_server(command, output)


def retrain_champion(settings: Settings, reason: str | None, ops_config: dict | None = None) -> bool:
    """Runs `retrain_job`, prints the evaluation; True when a candidate became champion."""
    from mlops_assets.definitions import build_definitions
    from mlops_assets.lib.lake import Lake
    from mlops_assets.resources import build_resources
    from mlops_assets.runs import first_error
    from mlops_assets.training.jobs import retrain

    with open_instance(settings) as instance:
        result = retrain(build_definitions(build_resources(settings)), instance, reason, ops_config)
    # Gates that no candidate passes fail the run on purpose (blocking checks); anything else is an error.
    if not result.asset_materializations_for_node("model_evaluation"):
        raise CommandError(f"retrain_job failed: {first_error(result)}")
    evaluation = Lake(str(settings.lake_dir)).read_record("model_evaluation")
    print(f"    holdout {evaluation['holdout_window']}: {evaluation['holdout_rows']:,} transactions")
    print(
        f"    {'model':<18} {'version':>7} {'PR AUC':>7} {'ROC AUC':>7} {'recall@FPR':>10} {'cost/1k':>8} "
        f"{'AP new':>7} {'CP@k new':>8}  gates"
    )
    for kind, candidate in evaluation["candidates"].items():
        metrics, failures = candidate["metrics"], candidate["failures"]
        print(
            f"    {kind:<18} {candidate['version']:>7} {metrics['pr_auc']:>7.3f} {metrics['roc_auc']:>7.3f} "
            f"{metrics['recall_at_fpr']:>10.3f} {metrics['expected_cost_per_1000']:>8.1f} "
            f"{metrics['pr_auc_new_cards']:>7.3f} {metrics['card_precision_at_k_new_cards']:>8.3f}  "
            + ("passed" if not failures else "; ".join(failures.values()))
        )
    print("    (new: on the cards not known to be compromised, as the Fraud Detection Handbook scores)")
    champion = evaluation["champion"]
    if evaluation["best_passing"] is None:
        kept = f"version {champion['version']}" if champion else "none yet"
        print(f"    no candidate passed the quality gates: the champion stays ({kept})")
        return False
    if not result.success:
        raise CommandError(f"retrain_job failed: {first_error(result)}")
    best = evaluation["candidates"][evaluation["best_passing"]]
    print(f"    champion: version {best['version']} ({evaluation['best_passing']})")
    return True


def open_registry(settings: Settings):
    """The model registry; a missing local store is missing state, not a new empty store."""
    from mlops_assets.lib.registry import MODEL_NAME, Registry

    uri = settings.mlflow_tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        raise CommandError(f"no champion model in {uri}: run `mlops demo` or `mlops retrain`")
    return Registry(uri, MODEL_NAME)


def _describe(version) -> str:
    tags = version.tags
    metrics = ", ".join(
        f"{label} {float(tags[name]):.3f}"
        for name, label in (("pr_auc", "PR AUC"), ("roc_auc", "ROC AUC"), ("recall_at_fpr", "recall@FPR"))
        if name in tags
    )
    threshold = f", threshold {float(tags['threshold']):.4f}" if "threshold" in tags else ""
    return f"version {version.version} ({tags.get('kind', '?')}): {metrics or 'not evaluated'}{threshold}"


def status_lines(settings: Settings) -> list[str]:
    from mlops_assets.lib.registry import CHALLENGER, CHAMPION

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
        f"last retraining: reason {newest.tags.get('reason')}, window {newest.tags.get('training_window')}, "
        f"versions up to {newest.version}",
        _last_drift_line(settings),
    ]


def _last_drift_line(settings: Settings) -> str:
    """The newest day's drift verdict with its reasons, from the lake's drift reports."""
    from mlops_assets.lib.lake import Lake

    lake = Lake(str(settings.lake_dir))
    days = [path.stem for path in sorted((settings.lake_dir / "drift_report").glob("*.json"))]
    if not days:
        return "last drift verdict: no drift report yet"
    report = lake.read_record(f"drift_report/{days[-1]}")
    reasons = "; ".join(report["reasons"]) or "nothing moved"
    return (
        f"last drift verdict: {report['verdict']} on {report['day']} (window {report['window']}, "
        f"champion v{report['champion_version']}): {reasons}"
    )


def serve_command(port: int) -> list[str]:
    """`bentoml serve` of the service on 127.0.0.1:`port`."""
    bentoml = Path(sys.executable).with_name("bentoml")
    return [str(bentoml), "serve", "serving.service:FraudDetector", "--host", "127.0.0.1", "--port", str(port)]
