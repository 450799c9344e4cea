"""The Dagster definitions: every stage's own (`defs/<stage>/definitions.py`) merged, with the
resources and executor of the environment (`MLOPS_ENV`: `local` by default, or `production`). `workspace.yaml`
loads this module; `dagster dev` in the repository root serves it; in Kubernetes, the project
image's code server does."""

import dagster as dg

from mlops_assets.defs.alerting import definitions as alerting
from mlops_assets.defs.evaluation import definitions as evaluation
from mlops_assets.defs.features import definitions as features
from mlops_assets.defs.ingestion import definitions as ingestion
from mlops_assets.defs.labels import definitions as labels
from mlops_assets.defs.monitoring import definitions as monitoring
from mlops_assets.defs.packaging import definitions as packaging
from mlops_assets.defs.scoring import definitions as scoring
from mlops_assets.defs.training import definitions as training
from mlops_assets.defs.validation import definitions as validation
from mlops_assets.keys import MLFLOW_OP_TAGS
from mlops_assets.resources import build_resources
from mlops_assets.settings import Settings

# Steps that write to MLflow take turns within a run (dagster-mlflow finds the run's MLflow run
# by a tag, and two steps looking at once would each start one); everything else runs in parallel.
MLFLOW_TURNS = [{"key": key, "value": value, "limit": 1} for key, value in MLFLOW_OP_TAGS.items()]
# Locally the steps of a run run in the run's own process, one after another: a process per step
# (the multiprocess executor) paid about 10 s of start-up and imports (Feast, Evidently, MLflow)
# for steps of one or two seconds, and two cores leave little to run side by side.
EXECUTOR = dg.in_process_executor

# Production: each step is a Kubernetes job of the code location's image, with the environment's
# settings (ConfigMap `mlops-config`) and Secrets (`mlops-object-store`: the S3 keys;
# `mlops-secrets`: the Redis password), as deploy/ creates them, with 1 CPU and 2-4 GiB. The
# exception is `retrain_job`, which keeps its steps in one process (`defs/training/jobs.py`): there the
# training runs in the run's own pod, with the run launcher's resources.
K8S_EXECUTOR_CONFIG = {
    "tag_concurrency_limits": MLFLOW_TURNS,
    "env_vars": ["MLOPS_ENV=production"],
    "env_config_maps": ["mlops-config"],
    "env_secrets": ["mlops-object-store", "mlops-secrets"],
    "step_k8s_config": {
        "container_config": {"resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}}}
    },
}


def executor_for(settings: Settings) -> dg.ExecutorDefinition:
    """How the environment runs steps: in the run's process on this machine, or Kubernetes jobs."""
    if not settings.production:
        return EXECUTOR
    from dagster_k8s import k8s_job_executor

    return k8s_job_executor.configured(K8S_EXECUTOR_CONFIG)


def build_definitions(
    resources: dict[str, object], retrain_cron: str = "0 4 * * 1", executor: dg.ExecutorDefinition = EXECUTOR
) -> dg.Definitions:
    """The whole graph with the given resources (tests pass ones rooted in a temporary folder);
    `retrain_cron` is when the (stopped by default) retraining schedule would run."""
    return dg.Definitions.merge(
        ingestion.definitions(),
        labels.definitions(),
        validation.definitions(),
        features.definitions(),
        training.definitions(retrain_cron),
        evaluation.definitions(),
        monitoring.definitions(),
        packaging.definitions(),
        scoring.definitions(),
        alerting.definitions(),
        dg.Definitions(resources=resources, executor=executor),
    )


_settings = Settings.from_env()
defs = build_definitions(build_resources(_settings), _settings.retrain_cron, executor_for(_settings))
