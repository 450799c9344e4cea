"""The BentoML service that serves the champion: `bentoml serve serving.service:FraudDetector`
(or `mlops serve`), on 127.0.0.1:3001.

- `POST /predict` is a BentoML API, so BentoML's traffic limits, metrics and request validation
  (a 400 that names each bad field) cover it;
- the routes that are not model calls (`GET /model`) are a FastAPI app mounted on the service;
- `/healthz`, `/livez`, `/readyz` (ready once a champion is loaded) and `/metrics` are BentoML's.

The champion follows the registry's alias: a background task looks every `MLOPS_SERVING_POLL`
seconds (default 2) and swaps in a new version once it is loaded and warmed.
"""

from __future__ import annotations

import asyncio
import os

import bentoml
from fastapi import FastAPI, HTTPException

from mlops_assets.lib.feature_store import open_store
from mlops_assets.lib.registry import MODEL_NAME, Registry
from mlops_assets.settings import Settings
from serving.champion import Champion, Loaded
from serving.schemas import ModelInfo, Prediction, PredictResponse, Transactions
from serving.scoring import score, transactions_frame

routes = FastAPI(title="fraud-detector: model routes")


def _poll_seconds() -> float:
    return float(os.environ.get("MLOPS_SERVING_POLL", "2"))


@bentoml.service(
    name="fraud_detector",
    traffic={"timeout": 30, "max_concurrency": 64},
    http={"host": "127.0.0.1", "port": 3001},
)
@bentoml.asgi_app(routes, path="/")
class FraudDetector:
    def __init__(self) -> None:
        settings = Settings.from_env()
        self.champion = Champion(Registry(settings.mlflow_tracking_uri, MODEL_NAME))
        self.champion.refresh()
        self.store = open_store(settings.feast_dir)
        self._watcher: asyncio.Task | None = None

    @bentoml.on_startup
    async def watch_registry(self) -> None:
        self._watcher = asyncio.create_task(self._follow_champion())

    async def _follow_champion(self) -> None:
        while True:
            await asyncio.sleep(_poll_seconds())
            await asyncio.to_thread(self.champion.refresh)

    @bentoml.on_shutdown
    async def stop_watching(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()

    def __is_ready__(self) -> bool:
        return self.champion.current is not None

    def _loaded(self) -> Loaded:
        loaded = self.champion.current
        if loaded is None:
            raise bentoml.exceptions.ServiceUnavailable(f"no model to serve: {self.champion.last_error}")
        return loaded

    @bentoml.api(route="/predict")
    async def predict(self, transactions: Transactions) -> PredictResponse:
        """P(fraud) of each transaction (1 to 10,000), in request order, by the champion."""
        loaded = self._loaded()
        frame = transactions_frame(transactions)
        probabilities = await asyncio.to_thread(score, loaded, self.store, frame)
        predictions = [
            Prediction(transaction_id=t, fraud_probability=float(p), is_fraud=bool(p >= loaded.threshold))
            for t, p in zip(frame["transaction_id"], probabilities, strict=True)
        ]
        return PredictResponse(model_version=loaded.version, predictions=predictions)


@routes.get("/model", response_model=ModelInfo)
def model_info() -> ModelInfo:
    """The champion that answers: version, kind, metrics, threshold and training window."""
    service = bentoml.get_current_service()
    loaded = service.champion.current if service is not None else None
    if loaded is None:
        raise HTTPException(status_code=503, detail="no champion loaded yet")
    return ModelInfo(
        name=MODEL_NAME,
        version=loaded.version,
        kind=loaded.kind,
        threshold=loaded.threshold,
        metrics=loaded.metrics(),
        training_window=loaded.tags.get("training_window", ""),
        reason=loaded.tags.get("reason", ""),
    )
