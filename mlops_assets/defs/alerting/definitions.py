"""Alerting: Dagster's failed runs and failed asset checks posted to a webhook (off by default)."""

import dagster as dg

from mlops_assets.defs.alerting.sensors import alert_webhook, check_failure_alert, run_failure_alert


def definitions() -> dg.Definitions:
    return dg.Definitions(
        sensors=[run_failure_alert, check_failure_alert], resources={"alert_webhook": alert_webhook()}
    )
