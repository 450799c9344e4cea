"""Scores transactions the way training saw them: the same online features Feast serves for each
customer and merchant, turned into model inputs by `features.model_input`, the function that
builds the training set's inputs from the offline join."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlops_assets.lib.feature_store import online_features
from mlops_assets.lib.features import model_input
from serving.champion import Loaded
from serving.schemas import Transaction


def transactions_frame(transactions: list[Transaction]) -> pd.DataFrame:
    """The request's transactions as landing-contract columns (timestamps in UTC)."""
    frame = pd.DataFrame([t.model_dump() for t in transactions])
    frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
    return frame


def score(loaded: Loaded, store, frame: pd.DataFrame) -> np.ndarray:
    """P(fraud) of each row of `frame`, with the entities' online features."""
    inputs = model_input(frame, online_features(store, frame))
    return loaded.model.predict_proba(inputs)
