"""The three candidate models, each trained on the training set's non-holdout days, logged to
MLflow (one nested run per model under the Dagster run's run) and registered as a new version of
`fraud-detector`."""

import base64
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
from pydantic import Field

from mlops_assets.defs.training.training_set import input_columns, training_rows
from mlops_assets.keys import MLFLOW_OP_TAGS, REASON_TAG
from mlops_assets.lib.modelling.graphs import mermaid, read_graph, structural_hamming_distance
from mlops_assets.lib.modelling.models import (
    BaselineModel,
    BayesianNetworkModel,
    FraudModel,
    XGBoostModel,
    save_model,
)
from mlops_assets.lib.modelling.registry import CHAMPION, FIRST_RUN_TAG, VersionInfo
from mlops_assets.lib.quality.plots import graph_png
from mlops_assets.resources.model_registry import ModelRegistryResource, mlflow_run_for_step

# dagster-mlflow finds the Dagster run's MLflow run by its `dagster_run_id` tag and starts one
# when two steps look at once: model steps take turns (`MLFLOW_OP_TAGS`, see `definitions.py`).
# Rows each version keeps as the reference its drift reports compare days against: a sample of the
# holdout days, which the model never trained on (in-sample scores would look shifted against any
# new day), which are the most recent (their 7- and 30-day windows are the fullest), and on which
# its PR AUC baseline was measured, so inputs, scores and performance share one reference period.
REFERENCE_ROWS = 20_000
MODEL_ASSET = {
    "group_name": "training",
    "io_manager_key": "record_io_manager",
    "op_tags": MLFLOW_OP_TAGS,
}


# Each config's fields are the keyword arguments of its model's `fit` (lib/models.py).
class XGBoostConfig(dg.Config):
    rounds: int = Field(default=200, description="Boosting rounds (trees).")
    max_depth: int = Field(default=5, description="Depth of each tree.")
    learning_rate: float = Field(default=0.1, description="Shrinkage of each tree's contribution.")
    subsample: float = Field(default=0.9, description="Share of rows each tree sees.")
    monotone_increasing: list[str] = Field(
        default=["txn_count_*"],
        description="Inputs (names or patterns) whose increase may never lower the score "
        "(more velocity is never safer).",
    )
    seed: int = Field(default=0, description="Random seed.")


class BaselineConfig(dg.Config):
    regularization: float = Field(default=1.0, description="Inverse L2 strength (C) of the logistic regression.")
    seed: int = Field(default=0, description="Random seed.")


class BayesianNetworkConfig(dg.Config):
    bins: int = Field(default=5, description="Most states of a numeric input (cut where fraud's rate changes).")
    min_bin_share: float = Field(default=0.01, description="Least share of the rows a state of a numeric input holds.")
    max_variables: int = Field(
        default=10, description="Inputs kept as variables: the most informative about fraud in the training data."
    )
    # Two: fraud and one more. Each parent multiplies the configurations whose fraud conditionals a
    # drift window must estimate from a few dozen frauds: with more, an ordinary window's divergence
    # from sampling noise alone nears the drift threshold (`DriftPolicy.fraud_divergence_for_drift`).
    max_indegree: int = Field(default=2, description="Most parents a variable may have (fraud included).")
    equivalent_sample_size: float = Field(default=10.0, description="Strength of the BDeu prior on the CPDs.")
    structure_rows: int = Field(default=50_000, description="Rows sampled for hill climbing (the slow part).")
    truth_graph: str = Field(
        default="",
        description="A known causal graph as JSON (`mlops generate --truth` prints the simulator's) to report"
        " the learned structure's distance to; empty for none.",
    )
    seed: int = Field(default=0, description="Random seed of the structure sample and the cut points.")


def _window(frame: pd.DataFrame) -> str:
    days = frame["event_timestamp"].dt.strftime("%Y-%m-%d")
    return f"{days.min()}..{days.max()}"


def _train_and_register(
    context: dg.AssetExecutionContext,
    model_registry: ModelRegistryResource,
    mlflow: Any,
    training_set: pd.DataFrame,
    kind: str,
    params: dict,
    fit: Callable[[pd.DataFrame, pd.Series], FraudModel],
) -> tuple[FraudModel, dict, dict]:
    """Fits on the non-holdout rows in a nested MLflow run, logs and registers the model; returns
    the model, the record for downstream assets, and metadata for the UI. `mlflow` is
    dagster-mlflow's resource: the mlflow module's functions, with the run's MLflow run active."""
    train = training_rows(training_set)
    labels = train["is_fraud"]
    if labels.nunique() < 2:
        raise dg.Failure(
            f"{kind}: the training days hold {labels.nunique()} class(es); both fraud and legitimate needed"
        )
    registry = model_registry.registry()
    # A retry of a run (a re-execution after its worker died) keeps the first run's id here.
    first_run = context.run.root_run_id or context.run.run_id
    earlier = registry.registered_by(first_run, kind)
    if earlier is not None:  # the step registered, then died before it finished: no second version
        context.log.info(f"{kind}: version {earlier.version} was registered by an earlier attempt of this run; kept")
        return _registered(registry, earlier)
    reason = context.run.tags.get(REASON_TAG) or ("initial" if registry.alias(CHAMPION) is None else "manual")
    window = _window(train)
    with mlflow_run_for_step(mlflow), mlflow.start_run(run_name=kind, nested=True) as run:
        mlflow.set_tags(
            {"kind": kind, "dagster/run_id": context.run.run_id, "training_window": window, "reason": reason}
        )
        mlflow.log_params(params)
        started = time.perf_counter()
        model = fit(train, labels)
        fit_seconds = time.perf_counter() - started
        mlflow.log_metrics({"fit_seconds": fit_seconds, "train_rows": len(train), "train_fraud_rows": labels.sum()})
        with tempfile.TemporaryDirectory() as folder:
            holdout = training_set[training_set["is_holdout"]]
            reference = holdout.sample(n=min(REFERENCE_ROWS, len(holdout)), random_state=0)
            columns = ["event_timestamp", *model.inputs, "is_fraud"]
            sha256 = save_model(model, Path(folder) / "model", reference[columns].reset_index(drop=True))
            model_uri = registry.log_model(Path(folder) / "model", train, model.inputs)
        tags = {
            "kind": kind,
            "reason": reason,
            "training_window": window,
            "reference_window": _window(holdout),
            "git_commit": model_registry.git_commit,
            "train_rows": str(len(train)),
            "train_fraud_rows": str(int(labels.sum())),
            "model_sha256": sha256,
            "dagster_run_id": context.run.run_id,
            FIRST_RUN_TAG: first_run,
        }
        version = registry.register(model_uri, tags)
    context.log.info(f"{kind}: registered {model_registry.model_name} version {version} ({reason})")
    record = {"kind": kind, "version": version, "run_id": run.info.run_id, "model_uri": model_uri, **tags}
    metadata = {
        "model_version": version,
        "reason": reason,
        "training_window": window,
        "train_rows": len(train),
        "fit_seconds": round(fit_seconds, 2),
        "mlflow_run_id": run.info.run_id,
        "model_sha256": sha256,
    }
    return model, record, metadata


def _registered(registry, version: VersionInfo) -> tuple[FraudModel, dict, dict]:
    """What `_train_and_register` returns, for a version registered before."""
    model_uri = registry.client.get_model_version(registry.model_name, version.version).source
    record = {"version": version.version, "run_id": version.run_id, "model_uri": model_uri}
    metadata = {
        "model_version": version.version,
        "reason": version.tags.get("reason", ""),
        "training_window": version.tags.get("training_window", ""),
        "train_rows": int(version.tags.get("train_rows", 0)),
        "mlflow_run_id": version.run_id,
        "model_sha256": version.tags.get("model_sha256", ""),
        "registered_by_an_earlier_attempt": True,
    }
    return registry.load(version.version), {**record, **version.tags}, metadata


@dg.asset(kinds={"xgboost", "mlflow"}, **MODEL_ASSET)
def xgboost_model(
    context: dg.AssetExecutionContext,
    config: XGBoostConfig,
    model_registry: ModelRegistryResource,
    mlflow: dg.ResourceParam[Any],
    training_set: pd.DataFrame,
) -> dg.Output[dict]:
    """Gradient-boosted trees on the model inputs, registered in MLflow as XGBoost JSON."""

    def fit(train: pd.DataFrame, labels: pd.Series) -> XGBoostModel:
        return XGBoostModel.fit(train, labels, columns=tuple(input_columns(train)), **config.model_dump())

    _, record, metadata = _train_and_register(
        context, model_registry, mlflow, training_set, "xgboost", config.model_dump(), fit
    )
    return dg.Output(record, metadata=metadata)


@dg.asset(kinds={"scikitlearn", "mlflow"}, **MODEL_ASSET)
def baseline_model(
    context: dg.AssetExecutionContext,
    config: BaselineConfig,
    model_registry: ModelRegistryResource,
    mlflow: dg.ResourceParam[Any],
    training_set: pd.DataFrame,
) -> dg.Output[dict]:
    """A standardized logistic regression (scikit-learn), registered in MLflow through skops."""

    def fit(train: pd.DataFrame, labels: pd.Series) -> BaselineModel:
        return BaselineModel.fit(train, labels, columns=tuple(input_columns(train)), **config.model_dump())

    _, record, metadata = _train_and_register(
        context, model_registry, mlflow, training_set, "baseline", config.model_dump(), fit
    )
    return dg.Output(record, metadata=metadata)


@dg.asset(kinds={"pgmpy", "mlflow"}, **MODEL_ASSET)
def bayesian_network(
    context: dg.AssetExecutionContext,
    config: BayesianNetworkConfig,
    model_registry: ModelRegistryResource,
    mlflow: dg.ResourceParam[Any],
    training_set: pd.DataFrame,
) -> dg.Output[dict]:
    """A discrete Bayesian network (pgmpy): structure by hill climbing, BDeu parameters, compiled."""

    def fit(train: pd.DataFrame, labels: pd.Series) -> BayesianNetworkModel:
        return BayesianNetworkModel.fit(
            train, labels, columns=tuple(input_columns(train)), **config.model_dump(exclude={"truth_graph"})
        )

    model, record, metadata = _train_and_register(
        context, model_registry, mlflow, training_set, "bayesian_network", config.model_dump(), fit
    )
    edges = model.network.edges
    metadata["edges"] = len(edges)
    png = base64.b64encode(graph_png(edges, highlight="is_fraud")).decode()
    metadata["learned_graph"] = dg.MetadataValue.md(f"![learned network](data:image/png;base64,{png})")
    metadata["learned_graph_mermaid"] = dg.MetadataValue.md(mermaid(edges, highlight="is_fraud"))
    if config.truth_graph:
        truth_nodes, truth_edges = read_graph(config.truth_graph)
        shared = sorted(set(truth_nodes) & set(model.network.cardinality))
        distance = structural_hamming_distance(edges, truth_edges, shared)
        metadata["structural_hamming_distance"] = distance
        metadata["truth_variables_compared"] = ", ".join(shared)
        record["structural_hamming_distance"] = distance
    return dg.Output(record, metadata=metadata)
