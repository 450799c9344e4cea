"""The three fraud models behind one small interface, each saved in a format that loads without
executing code: XGBoost's own JSON, scikit-learn through skops (which refuses unknown types), and
the Bayesian network as JSON arrays.

Every model is fitted on the inputs its training data could give (`features.available_inputs`),
reads those columns of `features.model_input` frames (shared with serving) and returns P(fraud)
per row. `load_model(folder)` reads any of them back from the folder `save` wrote.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from mlops_assets.lib.modelling.bayes import CompiledNetwork, learn_network
from mlops_assets.lib.modelling.discretize import TARGET, Discretizer

MANIFEST = "manifest.json"
REFERENCE = "reference.parquet"
# Types a scikit-learn baseline pipeline may contain; loading anything else is refused.
SKOPS_TRUSTED_TYPES = [
    "sklearn.pipeline.Pipeline",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.impute._base.MissingIndicator",
    "numpy.dtype",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.linear_model._logistic.LogisticRegression",
]


class FraudModel(Protocol):
    kind: str
    inputs: tuple[str, ...]  # the model input columns it reads, in order

    def predict_proba(self, inputs: pd.DataFrame) -> np.ndarray: ...

    def save(self, folder: Path) -> None: ...


@dataclass
class XGBoostModel:
    """Gradient-boosted trees (xgboost), saved as XGBoost's JSON model; missing inputs go the way
    each split learned."""

    booster: object
    inputs: tuple[str, ...]
    kind: str = "xgboost"

    @classmethod
    def fit(
        cls,
        inputs: pd.DataFrame,
        labels: pd.Series,
        *,
        columns: tuple[str, ...],
        rounds: int,
        max_depth: int,
        learning_rate: float,
        subsample: float,
        seed: int,
        monotone_increasing: tuple[str, ...] = (),
        threads: int = 2,
    ) -> XGBoostModel:
        """`monotone_increasing` holds input names or shell patterns (`txn_count_*`)."""
        import xgboost as xgb

        constraints = tuple(
            1 if any(fnmatch.fnmatchcase(name, pattern) for pattern in monotone_increasing) else 0 for name in columns
        )
        params = {
            "objective": "binary:logistic",
            "eval_metric": "aucpr",
            "max_depth": max_depth,
            "eta": learning_rate,
            "subsample": subsample,
            "seed": seed,
            "nthread": threads,
            "monotone_constraints": "(" + ",".join(map(str, constraints)) + ")",
        }
        matrix = xgb.DMatrix(inputs[list(columns)], label=labels.to_numpy())
        return cls(xgb.train(params, matrix, num_boost_round=rounds), tuple(columns))

    def predict_proba(self, inputs: pd.DataFrame) -> np.ndarray:
        # In place on the numpy array: no DMatrix is built (a third of the cost of small batches).
        values = inputs[list(self.inputs)].to_numpy(np.float64)
        return self.booster.inplace_predict(values).astype(np.float64)

    def save(self, folder: Path) -> None:
        self.booster.save_model(folder / "model.json")

    @classmethod
    def load(cls, folder: Path, inputs: tuple[str, ...]) -> XGBoostModel:
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(folder / "model.json")
        return cls(booster, inputs)


@dataclass
class BaselineModel:
    """A logistic regression (scikit-learn) on standardized inputs, a missing input filled with its
    training median beside an indicator that it was missing; saved with skops."""

    pipeline: object
    inputs: tuple[str, ...]
    kind: str = "baseline"

    @classmethod
    def fit(
        cls, inputs: pd.DataFrame, labels: pd.Series, *, columns: tuple[str, ...], regularization: float, seed: int
    ) -> BaselineModel:
        from sklearn.impute import SimpleImputer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        pipeline = make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            StandardScaler(),
            LogisticRegression(C=regularization, max_iter=2000, random_state=seed),
        )
        pipeline.fit(inputs[list(columns)].to_numpy(), labels.to_numpy())
        return cls(pipeline, tuple(columns))

    def predict_proba(self, inputs: pd.DataFrame) -> np.ndarray:
        return self.pipeline.predict_proba(inputs[list(self.inputs)].to_numpy())[:, 1]

    def save(self, folder: Path) -> None:
        import skops.io

        skops.io.dump(self.pipeline, folder / "model.skops")

    @classmethod
    def load(cls, folder: Path, inputs: tuple[str, ...]) -> BaselineModel:
        import skops.io

        path = folder / "model.skops"
        unknown = set(skops.io.get_untrusted_types(file=path)) - set(SKOPS_TRUSTED_TYPES)
        if unknown:
            raise ValueError(f"{path} holds types that are not trusted: {sorted(unknown)}")
        return cls(skops.io.load(path, trusted=SKOPS_TRUSTED_TYPES), inputs)


@dataclass
class BayesianNetworkModel:
    """A discrete Bayesian network over discretized inputs, scored by the compiled network. Its
    variables, their states and its structure are learned from the training data
    (`discretize.Discretizer`, `bayes.learn_network`)."""

    network: CompiledNetwork
    discretizer: Discretizer
    kind: str = "bayesian_network"
    fraud_state: int = field(init=False)

    def __post_init__(self) -> None:
        self.fraud_state = self.network.state_names[TARGET].index(1)

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.discretizer.inputs

    @classmethod
    def fit(
        cls,
        inputs: pd.DataFrame,
        labels: pd.Series,
        *,
        columns: tuple[str, ...],
        bins: int,
        min_bin_share: float,
        max_variables: int,
        max_indegree: int,
        equivalent_sample_size: float,
        structure_rows: int,
        seed: int,
    ) -> BayesianNetworkModel:
        """Variables from all rows; structure from a seeded sample of at most `structure_rows` rows;
        parameters from all rows."""
        discretizer = Discretizer.fit(
            inputs[list(columns)], labels, bins=bins, min_share=min_bin_share, max_variables=max_variables, seed=seed
        )
        if not discretizer.variables:
            raise ValueError("no input says anything about fraud in the training data: no network to learn")
        data = discretizer.transform(inputs, labels)
        model = learn_network(
            data,
            TARGET,
            max_indegree=max_indegree,
            equivalent_sample_size=equivalent_sample_size,
            state_names=discretizer.state_names(),
            structure_rows=structure_rows,
            seed=seed,
        )
        return cls(CompiledNetwork.from_pgmpy(model, TARGET), discretizer)

    def evidence(self, inputs: pd.DataFrame) -> dict[str, np.ndarray]:
        """State indices per evidence variable, as the compiled network takes them."""
        states = self.discretizer.transform(inputs)
        return self.network.encode({node: states[node].to_numpy() for node in self.network.evidence_nodes})

    def predict_proba(self, inputs: pd.DataFrame) -> np.ndarray:
        return self.network.posterior(self.evidence(inputs))[:, self.fraud_state]

    def explain(self, inputs: pd.DataFrame) -> list[tuple[str, float]]:
        """For one input row: (variable=state, log-odds contribution) pairs, strongest first."""
        states = self.discretizer.transform(inputs.iloc[:1])
        codes = {node: int(code[0]) for node, code in self.evidence(inputs.iloc[:1]).items()}
        named = []
        for name, contribution in self.network.explain(codes):
            label = f"{name}={states[name].iloc[0]}" if name in states and name != TARGET else name
            named.append((label if name != TARGET else "prior fraud rate", contribution))
        return named

    def save(self, folder: Path) -> None:
        (folder / "network.json").write_text(json.dumps(self.network.to_dict()))
        (folder / "discretizer.json").write_text(self.discretizer.to_json())

    @classmethod
    def load(cls, folder: Path, inputs: tuple[str, ...]) -> BayesianNetworkModel:
        network = CompiledNetwork.from_dict(json.loads((folder / "network.json").read_text()))
        return cls(network, Discretizer.from_json((folder / "discretizer.json").read_text()))


MODEL_CLASSES: dict[str, type] = {
    "xgboost": XGBoostModel,
    "baseline": BaselineModel,
    "bayesian_network": BayesianNetworkModel,
}


def save_model(model: FraudModel, folder: Path, reference: pd.DataFrame | None = None) -> str:
    """Writes the model, a manifest naming its kind and, when given, its drift `reference` (rows
    of its training data) into `folder`; returns the SHA-256 of the folder's files, which registry
    tags carry so a loaded model can be checked."""
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder)
    if reference is not None:
        reference.to_parquet(folder / REFERENCE, index=False)
    (folder / MANIFEST).write_text(json.dumps({"kind": model.kind, "inputs": list(model.inputs)}, indent=2))
    return folder_sha256(folder)


def load_model(folder: Path, computed: tuple[str, ...] | None = None) -> FraudModel:
    """The model `save_model` wrote into `folder`; when `computed` (the inputs this deployment's
    `model_input` gives) is passed, a model that reads any other input is refused."""
    manifest = json.loads((Path(folder) / MANIFEST).read_text())
    unknown = [name for name in manifest["inputs"] if computed is not None and name not in computed]
    if unknown:
        raise ValueError(f"{folder} reads inputs this deployment does not compute ({', '.join(unknown)}): retrain it")
    return MODEL_CLASSES[manifest["kind"]].load(Path(folder), tuple(manifest["inputs"]))


def read_reference(folder: Path) -> pd.DataFrame:
    """The drift reference saved with a model: model inputs, `event_timestamp` and `is_fraud`."""
    path = Path(folder) / REFERENCE
    if not path.exists():
        raise FileNotFoundError(f"{folder} keeps no drift reference: retrain the model")
    return pd.read_parquet(path)


def folder_sha256(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
