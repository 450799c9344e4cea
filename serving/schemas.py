"""The serving API's request and response bodies (the contract's "Serving API").

A transaction is a raw landing row without `is_fraud`. Field rules follow the landing contract
where a wrong value would make a score meaningless (ids, amount, timestamp); the descriptive
fields (channel, category, country) accept any text, because an unknown category is scored with
defaults, never refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from mlops_assets.lib.data.contract import MAX_AMOUNT

MAX_BATCH = 10_000
# Ids are whole numbers of up to 18 digits, as in landing files: every one fits in int64.
MAX_ID = 10**18 - 1
# Years a transaction may carry. Beyond them pydantic accepts a datetime that pandas cannot hold
# (its nanosecond timestamps end in 2262), and scoring failed with a 500.
FIRST_YEAR, LAST_YEAR = 1970, 2199


def _a_year_we_score(moment: datetime) -> datetime:
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise ValueError(f"the year must be from {FIRST_YEAR} to {LAST_YEAR}")
    return moment


class Transaction(BaseModel):
    """One card transaction to score."""

    model_config = ConfigDict(extra="ignore")

    transaction_id: Annotated[str, Field(min_length=1, max_length=200)]
    event_timestamp: Annotated[datetime, AfterValidator(_a_year_we_score)] = Field(
        description=f"ISO 8601; without an offset it is taken as UTC. Years {FIRST_YEAR} to {LAST_YEAR}."
    )
    customer_id: Annotated[int, Field(ge=0, le=MAX_ID)]
    merchant_id: Annotated[int, Field(ge=0, le=MAX_ID)]
    amount: Annotated[float, Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False, description="USD")]
    merchant_category: Annotated[str, Field(max_length=100)] | None = None
    channel: Annotated[str, Field(max_length=100)] | None = None
    card_present: bool | None = None
    country: Annotated[str, Field(max_length=100)] | None = None


Transactions = Annotated[list[Transaction], Field(min_length=1, max_length=MAX_BATCH)]


class Prediction(BaseModel):
    transaction_id: str
    fraud_probability: float
    is_fraud: bool = Field(description="`fraud_probability` at or above the answering version's threshold.")
    model_version: str = Field(description="The version that answered: the champion, or a canary.")


class PredictResponse(BaseModel):
    model_version: str = Field(
        description="The champion's version; the canary's when a canary answered every transaction."
    )
    predictions: list[Prediction]


class Shadow(BaseModel):
    """The challenger that scores a share of the traffic beside the champion, off the response path."""

    version: str
    kind: str
    threshold: float
    share: float = Field(description="The share of `/predict` requests it also scores (`MLOPS_SHADOW_SHARE`).")


class RolloutInfo(BaseModel):
    """A new version on its way to champion: in the shadow (it scores, the champion answers), or
    a canary (it answers `canary_share` of the customers, each customer always the same model)."""

    version: str
    kind: str | None = Field(default=None, description="None until this worker has loaded the version.")
    stage: Literal["shadow", "canary"]
    canary_share: float = Field(description="The share of customers it answers as a canary.")
    answering_share: float = Field(description="The share it answers now: 0 in the shadow.")
    champion_version: str | None = Field(default=None, description="The champion it is measured against.")
    stage_after_day: str | None = Field(default=None, description="The days after this one count toward the stage.")
    started_at: str
    stage_started_at: str


class ModelInfo(BaseModel):
    """The champion that answers: what it is and how it was measured."""

    name: str
    version: str
    kind: str
    threshold: float
    metrics: dict[str, float]
    training_window: str
    reason: str
    answers_with: str = Field(
        default="champion",
        description="What this deployment follows (`MLOPS_SERVING_MODEL`): the `champion` alias, or, behind a "
        "mesh's split, the `challenger` alias or one pinned version.",
    )
    shadow: Shadow | None = Field(
        default=None, description="The challenger in the shadow; none while there is none, or it is the champion."
    )
    rollout: RolloutInfo | None = Field(default=None, description="The rollout in progress, if any.")
    degraded: dict[str, str] = Field(
        default_factory=dict,
        description="Dependencies this worker cannot read now (`registry`, `online_store`), with the last error; "
        "empty when all are read. While the online store cannot be read, transactions are scored as if their "
        "customer and merchant were unknown.",
    )


class Factor(BaseModel):
    """One piece of the Bayesian network's evidence: how much it moves the log-odds of fraud."""

    evidence: str = Field(description="An input and the state it fell in, e.g. `amount=(250.0, 1000.0]`.")
    log_odds: float = Field(description="Contribution to logit P(fraud); the factors add up to it.")
    direction: Literal["for fraud", "against fraud"]


class Explanation(BaseModel):
    model_version: str = Field(
        description="The version that gave `fraud_probability`: the champion, or a rollout's canary for its customers."
    )
    fraud_probability: float
    is_fraud: bool
    network_version: str = Field(description="The Bayesian network that gave the factors.")
    network_probability: float = Field(description="The network's own P(fraud): logistic(sum of log_odds).")
    factors: list[Factor] = Field(description="Strongest first.")


class Label(BaseModel):
    """The outcome of a transaction seen before: 1 fraud, 0 legitimate."""

    transaction_id: Annotated[str, Field(min_length=1, max_length=200)]
    is_fraud: Literal[0, 1]


Labels = Annotated[list[Label], Field(min_length=1, max_length=MAX_BATCH)]


class FeedbackRequest(BaseModel):
    labels: Labels


class FeedbackResponse(BaseModel):
    accepted: int
    file: str = Field(description="The label file written, under the landing folder's `labels/`.")
