"""Dagster failures that reach a person: `run_failure_alert` posts one message per failed run,
`check_failure_alert` one per failed asset check evaluation, to the webhook of `AlertWebhook`.

Off by default: both sensors start running only where `MLOPS_ALERT_WEBHOOK_URL` is set when the
definitions load (a Slack webhook's URL is a secret: it is read through `dg.EnvVar`, never written
into the run storage). `MLOPS_ALERT_WEBHOOK_FORMAT` picks the receiver (`json`, `slack`,
`alertmanager`), `MLOPS_DAGSTER_URL` the UI the links point at.
"""

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from mlops_assets.lib.loop.webhook import FORMATS, Alert, post
from mlops_assets.settings import AlertSettings

WEBHOOK_VARIABLE = "MLOPS_ALERT_WEBHOOK_URL"
# Failed evaluations looked at per check and tick: more between two ticks are counted, not sent.
CHECK_HISTORY = 20


class AlertWebhook(dg.ConfigurableResource):
    """Where alerts go, in which receiver's format, and the Dagster UI their links open."""

    url: str
    format: str = "json"
    dagster_url: str = "http://127.0.0.1:3000"

    def send(self, alert: Alert) -> bool:
        if self.format not in FORMATS:
            raise dg.Failure(f"MLOPS_ALERT_WEBHOOK_FORMAT is {self.format!r}; one of {', '.join(FORMATS)}")
        return post(self.url, alert, self.format)

    def run_url(self, run_id: str) -> str:
        return f"{self.dagster_url.rstrip('/')}/runs/{run_id}"


def alert_webhook() -> AlertWebhook:
    """The resource as the environment configures it (the URL read when a sensor runs)."""
    settings = AlertSettings.from_env()
    return AlertWebhook(url=dg.EnvVar(WEBHOOK_VARIABLE), format=settings.format, dagster_url=settings.dagster_url)


def _default_status() -> dg.DefaultSensorStatus:
    running = AlertSettings.from_env().enabled
    return dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED


@dg.run_failure_sensor(
    name="run_failure_alert",
    default_status=_default_status(),
    minimum_interval_seconds=30,
    description="Posts each failed run (job, partition, error, link) to MLOPS_ALERT_WEBHOOK_URL.",
)
def run_failure_alert(context: dg.RunFailureSensorContext, alert_webhook: AlertWebhook) -> None:
    run = context.dagster_run
    partition = run.tags.get("dagster/partition")
    error = context.failure_event.message or "the run failed"
    where = f" for {partition}" if partition else ""
    alert = Alert(
        kind="run_failure",
        title=f"Dagster run of {run.job_name}{where} failed",
        text=error,
        url=alert_webhook.run_url(run.run_id),
        labels={"run_id": run.run_id, "job": run.job_name, **({"partition": partition} if partition else {})},
    )
    if not alert_webhook.send(alert):
        context.log.warning(f"the alert for run {run.run_id} was not delivered (see the log above)")


@dg.sensor(
    name="check_failure_alert",
    default_status=_default_status(),
    minimum_interval_seconds=30,
    description="Posts each failed asset check evaluation (asset, check, partition, link) to MLOPS_ALERT_WEBHOOK_URL.",
)
def check_failure_alert(context: dg.SensorEvaluationContext, alert_webhook: AlertWebhook) -> dg.SkipReason:
    """The cursor is the newest check execution id seen; the first tick only sets it, so turning
    alerting on does not page for every failure of the past."""
    keys = list(context.repository_def.asset_graph.asset_check_keys)
    storage = context.instance.event_log_storage
    failed = [
        record
        for key in keys
        for record in storage.get_asset_check_execution_history(
            key, limit=CHECK_HISTORY, status={AssetCheckExecutionRecordStatus.FAILED}
        )
    ]
    newest = max([record.id for record in failed], default=0)
    if context.cursor is None:
        context.update_cursor(str(newest))
        return dg.SkipReason("alerting starts now: failures from here on are sent")
    seen = int(context.cursor)
    new = sorted((record for record in failed if record.id > seen), key=lambda record: record.id)
    for record in new:
        asset = record.key.asset_key.to_user_string()
        partition = record.partition or _run_partition(context.instance, record.run_id)
        where = f" for {partition}" if partition else ""
        alert_webhook.send(
            Alert(
                kind="check_failure",
                title=f"Asset check {asset}:{record.key.name}{where} failed",
                text=_check_text(record),
                url=alert_webhook.run_url(record.run_id),
                labels={"run_id": record.run_id, "asset": asset, "check": record.key.name}
                | ({"partition": partition} if partition else {}),
            )
        )
    context.update_cursor(str(max(seen, newest)))
    return dg.SkipReason(f"{len(new)} failed check(s) sent")


def _run_partition(instance: dg.DagsterInstance, run_id: str) -> str | None:
    """The partition of the run an evaluation ran in (not every storage keeps it on the record)."""
    run = instance.get_run_by_id(run_id)
    return run.tags.get("dagster/partition") if run is not None else None


def _check_text(record) -> str:
    evaluation = record.event.asset_check_evaluation if record.event else None
    if evaluation is None:
        return "the check failed"
    severity = evaluation.severity.value if evaluation.severity else "ERROR"
    description = evaluation.description or "no description"
    return f"{severity}: {description}"
