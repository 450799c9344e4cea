"""The serving API's request and response bodies (the contract's "Serving API").

A transaction is a raw landing row without `is_fraud`. Field rules follow the landing contract
where a wrong value would make a score meaningless (ids, amount, timestamp); the descriptive
fields (channel, category, country) accept any text, because an unknown category is scored with
defaults, never refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from mlops_assets.lib.contract import MAX_AMOUNT

MAX_BATCH = 10_000


class Transaction(BaseModel):
    """One card transaction to score."""

    model_config = ConfigDict(extra="ignore")

    transaction_id: Annotated[str, Field(min_length=1, max_length=200)]
    event_timestamp: datetime = Field(description="ISO 8601; without an offset it is taken as UTC.")
    customer_id: Annotated[int, Field(gt=0)]
    merchant_id: Annotated[int, Field(gt=0)]
    amount: Annotated[float, Field(gt=0, le=MAX_AMOUNT, allow_inf_nan=False, description="USD")]
    merchant_category: Annotated[str, Field(max_length=100)] | None = None
    channel: Annotated[str, Field(max_length=100)] | None = None
    card_present: bool | None = None
    country: Annotated[str, Field(max_length=100)] | None = None


Transactions = Annotated[list[Transaction], Field(min_length=1, max_length=MAX_BATCH)]


class Prediction(BaseModel):
    transaction_id: str
    fraud_probability: float
    is_fraud: bool


class PredictResponse(BaseModel):
    model_version: str
    predictions: list[Prediction]


class ModelInfo(BaseModel):
    """The champion that answers: what it is and how it was measured."""

    name: str
    version: str
    kind: str
    threshold: float
    metrics: dict[str, float]
    training_window: str
    reason: str
