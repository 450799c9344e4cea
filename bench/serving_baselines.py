"""The reference services `bench/serving.py` measures ours against: FastAPI apps for uvicorn, one
process each, on the same state (`MLOPS_HOME`), champion model and request bodies as ours. Each
answers the contract's `/predict` body.

Model only, as the issue's reference figures were measured (no online features: the inputs a
transaction does not carry are missing, which XGBoost accepts):
- `tutorial`: the pattern of most serving tutorials. A sync endpoint, a one-row pandas DataFrame
  per request, `predict_proba` (XGBoost's DMatrix path).
- `lean`: an async endpoint, a numpy row, `inplace_predict`.

The same work as ours, without batching across requests and without BentoML:
- `lean_features`: online features from the in-memory `OnlineMirror`, `features.model_input`,
  `inplace_predict`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb
from fastapi import FastAPI
from fastapi.responses import Response
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mlops_assets.feature_store import open_store  # noqa: E402
from mlops_assets.lib.featurize.features import model_input, model_inputs  # noqa: E402
from mlops_assets.lib.modelling.registry import CHAMPION, MODEL_NAME, Registry  # noqa: E402
from mlops_assets.settings import Settings  # noqa: E402
from serving.batching import Scored  # noqa: E402
from serving.online import OnlineMirror  # noqa: E402
from serving.schemas import Transactions  # noqa: E402
from serving.scoring import predictions_json, transactions_frame  # noqa: E402

settings = Settings.from_env()
registry = Registry(settings.mlflow_tracking_uri, MODEL_NAME)
champion = registry.alias(CHAMPION)
booster = registry.load(champion.version).booster
threshold = float(champion.tags.get("threshold", 0.5))
store = open_store(settings)
mirror = OnlineMirror(store)
mirror.refresh()


class Body(BaseModel):
    transactions: Transactions


def answer(frame: pd.DataFrame, probabilities: np.ndarray) -> Response:
    body, _, _ = predictions_json(Scored(champion.version, threshold, probabilities), frame["transaction_id"].tolist())
    return Response(body, media_type="application/json")


def carried_inputs(frame: pd.DataFrame) -> pd.DataFrame:
    """The model inputs a transaction carries itself (amount, hour); the others missing."""
    inputs = pd.DataFrame(np.nan, index=frame.index, columns=list(MODEL_INPUTS))
    inputs["amount_usd"] = frame["amount"].astype("float64")
    inputs["hour_of_day"] = pd.to_datetime(frame["event_timestamp"], utc=True).dt.hour.astype("float64")
    return inputs


tutorial = FastAPI()


@tutorial.post("/predict")
def predict_tutorial(body: Body) -> Response:
    frame = pd.DataFrame([t.model_dump() for t in body.transactions])
    return answer(frame, booster.predict(xgb.DMatrix(carried_inputs(frame))).astype(np.float64))


lean = FastAPI()
MODEL_INPUTS = model_inputs()
AMOUNT, HOUR = MODEL_INPUTS.index("amount_usd"), MODEL_INPUTS.index("hour_of_day")


@lean.post("/predict")
async def predict_lean(body: Body) -> Response:
    rows = np.full((len(body.transactions), len(MODEL_INPUTS)), np.nan)
    rows[:, AMOUNT] = [t.amount for t in body.transactions]
    rows[:, HOUR] = [t.event_timestamp.hour for t in body.transactions]
    probabilities = booster.inplace_predict(rows).astype(np.float64)
    ids = [t.transaction_id for t in body.transactions]
    body, _, _ = predictions_json(Scored(champion.version, threshold, probabilities), ids)
    return Response(body, media_type="application/json")


lean_features = FastAPI()


@lean_features.post("/predict")
async def predict_lean_features(body: Body) -> Response:
    frame = transactions_frame(body.transactions)
    inputs = model_input(frame, mirror.lookup(frame))
    return answer(frame, booster.inplace_predict(inputs.to_numpy(np.float64)).astype(np.float64))


for app in (tutorial, lean, lean_features):
    app.add_api_route("/readyz", lambda: {"ready": True}, methods=["GET"])
