"""Scores transactions the way training saw them: the same online features Feast serves for each
customer and merchant (`OnlineMirror`), turned into model inputs by `features.model_input`, the
function that builds the training set's inputs from the offline join."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from mlops_assets.lib.featurize.features import model_input
from mlops_assets.lib.loop.rollout import in_canary
from serving.batching import Answers, CanaryAnswers, Scored
from serving.champion import Loaded
from serving.online import OnlineMirror
from serving.schemas import Factor, Transaction

FIELDS = tuple(Transaction.model_fields)


def transactions_frame(transactions: list[Transaction]) -> pd.DataFrame:
    """The transactions as landing-contract columns (timestamps in UTC; naive ones are UTC).
    Each column is typed before the frame is built: left to infer them from Python objects,
    pandas takes longer than the model to build a frame of 1,000."""
    columns = {name: [getattr(t, name) for t in transactions] for name in FIELDS}
    typed = {
        "event_timestamp": pd.to_datetime(columns.pop("event_timestamp"), utc=True),
        "customer_id": np.array(columns.pop("customer_id"), dtype=np.int64),
        "merchant_id": np.array(columns.pop("merchant_id"), dtype=np.int64),
        "amount": np.array(columns.pop("amount"), dtype=np.float64),
    }
    return pd.DataFrame({**typed, **{name: pd.array(values, dtype=object) for name, values in columns.items()}})[
        list(FIELDS)
    ]


def model_inputs(features: OnlineMirror, frame: pd.DataFrame) -> pd.DataFrame:
    """The model inputs of each row of `frame`, with the entities' online features."""
    return model_input(frame, features.lookup(frame), features.spec)


def canary_answers(canary: tuple[Loaded, float], frame: pd.DataFrame, inputs: pd.DataFrame) -> CanaryAnswers | None:
    """The rows of `frame` whose customer the canary answers (`lib.loop.rollout.in_canary`), with
    its P(fraud) for them; None when no row is the canary's."""
    loaded, share = canary
    rows = in_canary(frame["customer_id"].to_numpy(), loaded.version, share)
    if not rows.any():
        return None
    probabilities = np.full(len(rows), np.nan)
    probabilities[rows] = loaded.model.predict_proba(inputs[rows])
    return CanaryAnswers(loaded.version, loaded.threshold, rows, probabilities)


def predictions_json(scored: Scored, ids: list[str]) -> tuple[bytes, list[str], Answers]:
    """The `/predict` answer (`PredictResponse`) written directly (for 10,000 rows, building a
    pydantic object per prediction costs more than the scoring); the versions that answered, the
    champion first; and each row's answer. `model_version` is the champion's, or the canary's
    when it answered every row; each prediction names its own."""
    answers = scored.answers()
    versions, probabilities, flagged = answers
    predictions = [
        {"transaction_id": t, "fraud_probability": p, "is_fraud": f, "model_version": v}
        for t, p, f, v in zip(ids, probabilities.tolist(), flagged.tolist(), versions, strict=True)
    ]
    answered = sorted(set(versions), key=lambda version: version != scored.version)
    body = {"model_version": answered[0], "predictions": predictions}
    return json.dumps(body, separators=(",", ":")).encode(), answered, answers


def answering(champion: Loaded, canary: tuple[Loaded, float] | None, customer_id: int) -> Loaded:
    """The model that answers this customer: the rollout's canary for its share, else the champion."""
    if canary is not None and in_canary(np.array([customer_id]), canary[0].version, canary[1])[0]:
        return canary[0]
    return champion


def explain(answered: Loaded, explaining: Loaded, inputs: pd.DataFrame) -> tuple[float, float, list[Factor]]:
    """For one row of model inputs: the answering model's P(fraud), and the P(fraud) and factors
    (strongest first) of the network that explains the champion (`explaining.network`)."""
    network = explaining.network
    probability = float(answered.model.predict_proba(inputs)[0])
    network_probability = float(network.predict_proba(inputs)[0])
    factors = [
        Factor(evidence=name, log_odds=value, direction="for fraud" if value > 0 else "against fraud")
        for name, value in network.explain(inputs)
    ]
    return probability, network_probability, factors
