"""Scores transactions the way training saw them: the same online features Feast serves for each
customer and merchant, turned into model inputs by `features.model_input`, the function that
builds the training set's inputs from the offline join."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlops_assets.lib.feature_store import online_features
from mlops_assets.lib.features import model_input
from serving.champion import Loaded
from serving.schemas import Factor, Transaction


def transactions_frame(transactions: list[Transaction]) -> pd.DataFrame:
    """The request's transactions as landing-contract columns (timestamps in UTC)."""
    frame = pd.DataFrame([t.model_dump() for t in transactions])
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    return frame


def model_inputs(store, frame: pd.DataFrame) -> pd.DataFrame:
    """The model inputs of each row of `frame`, with the entities' online features."""
    return model_input(frame, online_features(store, frame))


def score(loaded: Loaded, store, frame: pd.DataFrame) -> np.ndarray:
    """P(fraud) of each row of `frame`."""
    return loaded.model.predict_proba(model_inputs(store, frame))


def explain(loaded: Loaded, inputs: pd.DataFrame) -> tuple[float, float, list[Factor]]:
    """For one row of model inputs: the champion's P(fraud), the network's P(fraud) and the
    network's factors, strongest first."""
    network = loaded.network
    probability = float(loaded.model.predict_proba(inputs)[0])
    network_probability = float(network.predict_proba(inputs)[0])
    factors = [
        Factor(evidence=name, log_odds=value, direction="for fraud" if value > 0 else "against fraud")
        for name, value in network.explain(inputs)
    ]
    return probability, network_probability, factors
