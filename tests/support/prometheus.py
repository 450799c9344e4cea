"""A real Prometheus (Debian's `prometheus`, which `make test` installs) on a loopback port, with a
temporary configuration that scrapes the given service and exporter and loads the given rules,
stopped by its PID; and the expressions of the project's rules and dashboards."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from mlops_assets.ops.prometheus import prometheus_command, prometheus_config, rule_files
from mlops_assets.settings import REPO_ROOT
from tests.support.processes import free_port

DASHBOARDS = REPO_ROOT / "deploy" / "grafana" / "dashboards"
# What Grafana puts in place of its interval variables, so a panel's query runs as Grafana sends it.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h"}


@dataclass
class Prometheus:
    url: str
    client: httpx.Client

    def query(self, expression: str) -> list[dict]:
        """The instant vector (or scalar, as one sample) of `expression`; fails on a PromQL error."""
        answer = self.client.get("/api/v1/query", params={"query": expression}).json()
        assert answer["status"] == "success", f"{expression}: {answer.get('error')}"
        data = answer["data"]
        return data["result"] if data["resultType"] == "vector" else [{"value": data["result"]}]

    def alerts(self, name: str) -> list[dict]:
        """The alerts of `name` now, pending or firing, with their labels."""
        found = self.client.get("/api/v1/alerts").json()["data"]["alerts"]
        return [alert for alert in found if alert["labels"]["alertname"] == name]

    def rules(self) -> list[dict]:
        """Every rule as Prometheus evaluates it (`health`, `lastError`)."""
        groups = self.client.get("/api/v1/rules").json()["data"]["groups"]
        return [rule for group in groups for rule in group["rules"]]

    def wait_for(self, expression: str, seconds: float, what: str) -> list[dict]:
        """Until `expression` has a sample (or fails after `seconds`)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = self.query(expression)
            if found:
                return found
            time.sleep(0.5)
        raise AssertionError(f"not within {seconds} s: {what} ({expression})")


def fast_rules(folder: Path, hold: str = "1s") -> list[Path]:
    """The project's rule files with every alert's `for` set to `hold`, so a test sees an alert
    fire in seconds; the expressions are the project's own."""
    written = []
    for path in rule_files():
        config = yaml.safe_load(path.read_text())
        for group in config["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    rule["for"] = hold
        copy = folder / path.name
        copy.write_text(yaml.safe_dump(config, sort_keys=False))
        written.append(copy)
    return written


@contextlib.contextmanager
def prometheus_server(
    folder: Path, service: str, exporter: str | None, rules: list[Path] | None = None, interval: str = "1s"
) -> Iterator[Prometheus]:
    """Prometheus on a free loopback port scraping `service` and `exporter` (`host:port`; None: no
    exporter) every `interval`, evaluating `rules` (default: the project's) as often."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "prometheus.yml"
    scraped = prometheus_config(service, exporter, rules if rules is not None else rule_files(), interval)
    config.write_text(yaml.safe_dump(scraped, sort_keys=False))
    port = free_port()
    with open(folder / "prometheus.log", "w") as log:
        process = subprocess.Popen(prometheus_command(config, folder / "data", port), stdout=log, stderr=log)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, f"prometheus exited: {(folder / 'prometheus.log').read_text()[-2000:]}"
                assert time.monotonic() < deadline, "prometheus was not ready within 60 s"
                with contextlib.suppress(httpx.TransportError):
                    if client.get("/-/ready").status_code == 200:
                        break
                time.sleep(0.2)
            yield Prometheus(f"http://127.0.0.1:{port}", client)
    finally:
        process.terminate()
        process.wait(timeout=30)


def project_rules() -> list[dict]:
    """Every rule of the project's rule files, recording rules and alerts, in file order."""
    return [
        rule for path in rule_files() for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]
    ]


def rule_expressions() -> dict[str, str]:
    """Every rule's expression, by its record or alert name."""
    return {rule.get("record") or rule["alert"]: rule["expr"] for rule in project_rules()}


def alert_rules() -> dict[str, dict]:
    """The alerting rules, by name."""
    return {rule["alert"]: rule for rule in project_rules() if "alert" in rule}


def panel_expressions() -> dict[str, str]:
    """Every dashboard panel target's expression, by `<dashboard>/<panel title>/<refId>`, with
    Grafana's interval variables replaced as Grafana would."""
    found = {}
    for path in sorted(DASHBOARDS.glob("*.json")):
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                expression = target["expr"]
                for variable, value in GRAFANA_VARIABLES.items():
                    expression = expression.replace(variable, value)
                found[f"{path.stem}/{panel['title']}/{target['refId']}"] = expression
    return found
