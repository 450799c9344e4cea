"""A local Prometheus (Debian's `prometheus`, which `make up` installs) that scrapes the service and
the pipeline's exporter, with the rules of `deploy/prometheus/rules/` loaded. Its configuration and
its data live under `MLOPS_HOME/prometheus/`; the configuration is written at each start, for the
ports given. On Kubernetes the Prometheus Operator takes the same rules (`deploy/kubernetes/monitoring.yaml`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from mlops_assets.ops.servers import start_server
from mlops_assets.settings import REPO_ROOT, Settings

PROMETHEUS = Path("/usr/bin/prometheus")
RULES = REPO_ROOT / "deploy" / "prometheus" / "rules"
# The scrape jobs, as the rules and dashboards name them (`job` label).
SERVICE_JOB = "fraud-detector"
EXPORTER_JOB = "mlops-pipeline"


def rule_files() -> list[Path]:
    return sorted(RULES.glob("*.yml"))


def prometheus_config(
    service: str, exporter: str | None, rules: list[Path], interval: str = "15s", alertmanager: str | None = None
) -> dict:
    """Prometheus's configuration: the service and the exporter (`host:port` each; None: no
    exporter) scraped and the rules evaluated every `interval`; alerts sent to `alertmanager`
    (`host:port`) when given."""
    targets = {SERVICE_JOB: service, EXPORTER_JOB: exporter}
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(path) for path in rules],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [target]}]} for job, target in targets.items() if target
        ],
    }
    if alertmanager:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    return config


def prometheus_command(config: Path, data: Path, port: int) -> list[str]:
    """Prometheus on 127.0.0.1:`port` with `config`, keeping its data in `data`."""
    return [
        str(PROMETHEUS),
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=15d",
    ]


def start_prometheus(
    settings: Settings, port: int, service_port: int, exporter_port: int, output=None
) -> subprocess.Popen:
    """Prometheus for `mlops up`: its configuration written under `MLOPS_HOME/prometheus/`."""
    folder = settings.home / "prometheus"
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "prometheus.yml"
    scraped = prometheus_config(f"127.0.0.1:{service_port}", f"127.0.0.1:{exporter_port}", rule_files())
    config.write_text(yaml.safe_dump(scraped, sort_keys=False))
    return start_server(prometheus_command(config, folder / "data", port), output)
