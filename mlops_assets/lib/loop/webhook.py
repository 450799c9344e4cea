"""Messages to a person: one failed run or failed asset check as the body a webhook receiver
expects, and the post that sends it. Three receivers are known (`FORMATS`):

- `json`: a generic receiver, one flat object (`kind`, `title`, `text`, `url` and the facts);
- `slack`: a Slack-compatible incoming webhook (`{"text": ...}`, with the link in Slack's markup);
- `alertmanager`: Alertmanager's `POST /api/v2/alerts`, one alert, so Dagster failures are routed,
  grouped and silenced with the Prometheus alerts.

A receiver that is down or answers an error is logged, never raised: an alert that cannot be
delivered must not stop the sensor that found it (the next failure is still sent). No Dagster here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import httpx

log = logging.getLogger(__name__)

FORMATS = ("json", "slack", "alertmanager")
POST_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Alert:
    """What went wrong, where to look (`url`) and the facts a receiver may route on (`labels`)."""

    kind: str  # run_failure, check_failure
    title: str
    text: str
    url: str
    labels: dict[str, str] = field(default_factory=dict)


def body(alert: Alert, receiver_format: str) -> object:
    """The JSON body of `alert` for a receiver of `receiver_format`."""
    if receiver_format == "slack":
        return {"text": f"*{alert.title}*\n{alert.text}\n<{alert.url}|Open in Dagster>"}
    if receiver_format == "alertmanager":
        name = "DagsterRunFailed" if alert.kind == "run_failure" else "DagsterAssetCheckFailed"
        return [
            {
                "labels": {"alertname": name, "severity": "page", **alert.labels},
                "annotations": {"summary": alert.title, "description": alert.text},
                "generatorURL": alert.url,
            }
        ]
    if receiver_format == "json":
        return {"kind": alert.kind, "title": alert.title, "text": alert.text, "url": alert.url, **alert.labels}
    raise ValueError(f"unknown webhook format {receiver_format!r}; one of {', '.join(FORMATS)}")


def post(url: str, alert: Alert, receiver_format: str) -> bool:
    """Posts `alert`; whether the receiver took it (a 2xx). Failures are logged, not raised."""
    try:
        answer = httpx.post(url, json=body(alert, receiver_format), timeout=POST_TIMEOUT_SECONDS)
    except httpx.HTTPError as error:
        log.warning("alert webhook unreachable (%s): %s not sent", type(error).__name__, alert.title)
        return False
    if answer.is_success:
        return True
    log.warning("alert webhook answered %s: %s not sent", answer.status_code, alert.title)
    return False
