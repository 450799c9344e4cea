"""The BentoML service that serves the champion: `bentoml serve serving.service:FraudDetector`
(or `mlops serve`), on 127.0.0.1:3001.

- `POST /predict` and `POST /explain` are BentoML APIs, so BentoML's traffic limits, metrics and
  request validation (a 400 that names each bad field) cover them;
- the routes that are not model calls (`POST /feedback`, `GET /model`) are a FastAPI app mounted
  on the service;
- `/healthz`, `/livez`, `/readyz` (ready once a champion is loaded) and `/metrics` are BentoML's;
- `serving.guard.RequestGuard` is in front of all of them: body-size limit, optional API key,
  the mounted routes' concurrency limit, and the `X-Model-Version` header.

The champion follows the registry's alias: a background task looks every `MLOPS_SERVING_POLL`
seconds (default 2) and swaps in a new version once it is loaded and warmed. It follows the
`challenger` alias too: while it names another version, `MLOPS_SHADOW_SHARE` of `/predict`
requests (default 0.1) are scored by it as well, off the response path (`serving.shadow`).

Degraded, not down: when the registry or the online store cannot be read, the service goes on
answering with the champion it has and, for features it cannot read, what an unknown customer or
merchant gets (`serving.online`). `/readyz` stays "can answer" (a champion is loaded), so an
outage of a dependency does not take every replica out of service at once. The degradation is
reported in `GET /model` (`degraded`: dependency -> last error), in the `X-Degraded` header of the
`/predict` answers it touched, in the gauge `fraud_detector_degraded{dependency}` and in the log;
the next poll that reads the dependency again ends it.

Settings: `mlops_assets.settings.ServingSettings` (`MLOPS_SERVING_*`, `MLOPS_SHADOW_*`), and the
secret `MLOPS_API_KEY` (unset: no key). BentoML takes the worker count and the middleware's limits
where the service class is declared, so they are read when this module is imported.
Over 256 requests in flight BentoML answers 429; so does the batcher past 50,000 waiting rows.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os

import bentoml
import numpy as np
import pandas as pd
from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from mlops_assets.feature_store import open_store
from mlops_assets.lib.data.labels import LabelFolder
from mlops_assets.lib.featurize.features import model_inputs as spec_inputs
from mlops_assets.lib.modelling.registry import MODEL_NAME, Registry
from mlops_assets.lib.quality.score_bins import LABELS as SCORE_BINS
from mlops_assets.lib.quality.score_bins import bin_counts
from mlops_assets.lib.quality.shadow import ShadowLog
from mlops_assets.settings import Settings, secret
from serving.batching import Answers, MicroBatcher, Overloaded, Scored
from serving.champion import Loaded, ServedModels
from serving.guard import RequestGuard, error_body
from serving.online import OnlineMirror
from serving.schemas import (
    Explanation,
    FeedbackRequest,
    FeedbackResponse,
    ModelInfo,
    PredictResponse,
    RolloutInfo,
    Shadow,
    Transaction,
    Transactions,
)
from serving.scoring import (
    answering,
    canary_answers,
    explain,
    model_inputs,
    predictions_json,
    transactions_frame,
)
from serving.shadow import ShadowScorer

# BentoML records an OpenTelemetry span per request even with no exporter configured; that cost
# a fifth of the throughput here. Set OTEL_SDK_DISABLED=false to trace (with BentoML's exporter).
os.environ.setdefault("OTEL_SDK_DISABLED", "true")

log = logging.getLogger(__name__)
# MLflow logs each failed query to its database with a traceback: at every poll while the registry
# is down. `ServedModels` says the same once, and the degraded report keeps saying it.
logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
# Mounted at "/", this app answers `/docs` before BentoML does. FastAPI's own page would load
# Swagger UI from a CDN (blank where there is no internet) and list only these routes: `docs`
# below shows BentoML's `/docs.json` (every route) with the Swagger UI files BentoML serves.
routes = FastAPI(title="fraud-detector: model routes", docs_url=None, redoc_url=None, openapi_url=None)


@routes.get("/docs", include_in_schema=False)
def docs() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/docs.json",
        title="fraud-detector",
        swagger_js_url="/static_content/swagger-ui-bundle.js",
        swagger_css_url="/static_content/swagger-ui.css",
        swagger_favicon_url="/static_content/favicon-light-32x32.png",
    )


@routes.exception_handler(RequestValidationError)
async def bad_request(_: Request, error: RequestValidationError) -> JSONResponse:
    """400, as BentoML answers for its APIs, so every route reports bad input the same way."""
    return JSONResponse(status_code=400, content={"detail": jsonable_encoder(error.errors())})


# Where an HTTP error of the mounted routes lies, by status: 400 is FastAPI's body that is not
# JSON ("There was an error parsing the body").
ERROR_PLACES = {400: "body", 404: "path", 405: "method"}


@routes.exception_handler(StarletteHTTPException)
async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
    """Every error in the one shape of bad input: `detail` lists `{loc, msg, type}`."""
    where = ERROR_PLACES.get(error.status_code, "request")
    detail = [{"loc": [where], "msg": str(error.detail), "type": "json_invalid" if where == "body" else "http_error"}]
    return JSONResponse(status_code=error.status_code, content={"detail": detail}, headers=error.headers)


SCORING_ROUTES = frozenset({"/predict", "/explain", "/feedback"})
MOUNTED_ROUTES = frozenset({"/feedback", "/model"})

PREDICTIONS = bentoml.metrics.Counter(
    name="fraud_detector_predictions",
    documentation="Transactions scored, by the version that scored them and the class it gave.",
    labelnames=["model_version", "is_fraud"],
)
MODEL_VERSION = bentoml.metrics.Gauge(
    name="fraud_detector_model_version",
    documentation="The champion version the service answers with.",
    multiprocess_mode="livemostrecent",
)
SHADOW_SCORED = bentoml.metrics.Counter(
    name="fraud_detector_shadow_scored_rows",
    documentation="Transactions also scored by the challenger (shadow scoring), by its version.",
    labelnames=["challenger_version"],
)
SHADOW_SKIPPED = bentoml.metrics.Counter(
    name="fraud_detector_shadow_skipped_rows",
    documentation="Sampled transactions not shadowed: the shadow queue was full, or scoring or writing failed.",
)
DEGRADED = bentoml.metrics.Gauge(
    name="fraud_detector_degraded",
    documentation="1 while a dependency (registry, online_store) cannot be read and the service answers without it.",
    labelnames=["dependency"],
    multiprocess_mode="livemax",
)
DEPENDENCIES = ("registry", "online_store")
FEEDBACK_LABELS = bentoml.metrics.Counter(
    name="fraud_detector_feedback_labels",
    documentation="Labels accepted by POST /feedback, by class.",
    labelnames=["is_fraud"],
)
SCORES = bentoml.metrics.Counter(
    name="fraud_detector_scores",
    documentation="Transactions answered, by the version that answered and the bin of its P(fraud)"
    " (`bin` is the bin's lower edge, mlops_assets.lib.quality.score_bins): the live score distribution.",
    labelnames=["model_version", "bin"],
)
BATCH_ROWS = bentoml.metrics.Histogram(
    name="fraud_detector_batch_rows",
    documentation="Transactions per micro-batch scored (concurrent requests are scored together).",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 4096, 10_000),
)
READY = bentoml.metrics.Gauge(
    name="fraud_detector_ready",
    documentation="1 once every live worker has a champion loaded and answers /predict (as /readyz).",
    multiprocess_mode="livemin",
)


# Read once per process, when BentoML imports the service: it needs some of them at declaration.
SETTINGS = Settings.from_env()


def _current_version() -> str | None:
    """The loaded champion's version, for the header of responses that did not set one."""
    try:
        loaded = bentoml.get_current_service().models.champion
    except bentoml.exceptions.BentoMLException:  # before the service is built
        return None
    return loaded.version if loaded is not None else None


@bentoml.service(
    name="fraud_detector",
    traffic={"timeout": 30, "max_concurrency": 256},
    logging={"access": {"enabled": False}},
    workers=SETTINGS.serving.workers,
    http={"host": "127.0.0.1", "port": 3001},
)
@bentoml.asgi_app(routes, path="/")
class FraudDetector:
    def __init__(self) -> None:
        settings = SETTINGS
        self._poll_seconds = settings.serving.poll_seconds
        # Only versions whose files are under this deployment's artifact root are ever loaded.
        registry = Registry(settings.mlflow_tracking_uri, MODEL_NAME, trusted_root=settings.mlartifacts_location)
        # A version that reads inputs this deployment's feature spec does not compute is refused
        # at load (the service says why), never a failure of every request.
        self.models = ServedModels(
            registry, computed=spec_inputs(settings.features), answers_with=settings.serving.model
        )
        self.models.refresh()
        self._publish_version()
        store = open_store(settings, secret("MLOPS_REDIS_PASSWORD"))
        self.features = OnlineMirror(store, settings.features, timeout=settings.serving.feature_timeout_seconds)
        self._refresh_features()
        self._publish_degraded()
        self.batcher = MicroBatcher(self._score_rows)
        self.labels = LabelFolder.of_landing(settings.landing_location, settings.s3)
        self.shadow = ShadowScorer(
            ShadowLog.of_landing(settings.landing_location, settings.s3),
            settings.serving.shadow_share,
            flush_seconds=settings.serving.shadow_flush_seconds,
            on_scored=lambda version, rows: SHADOW_SCORED.labels(challenger_version=version).inc(rows),
            on_skipped=SHADOW_SKIPPED.inc,
        )
        self._tasks: list[asyncio.Task] = []
        # Everything loaded so far (libraries, model, features) lives as long as the process:
        # frozen, the collector stops walking it, which otherwise paused requests for 100+ ms.
        gc.collect()
        gc.freeze()

    @bentoml.on_startup
    async def watch_registry(self) -> None:
        self._tasks = [
            asyncio.create_task(self._follow_champion()),
            asyncio.create_task(self.shadow.run(lambda: self.models.challenger)),
        ]

    async def _follow_champion(self) -> None:
        while True:
            await asyncio.sleep(self._poll_seconds)
            if await asyncio.to_thread(self.models.refresh):
                self._publish_version()
            await asyncio.to_thread(self._refresh_features)
            self._publish_degraded()

    def _refresh_features(self) -> None:
        if self.features.refresh():
            log.info("online features reloaded")

    def _publish_version(self) -> None:
        READY.set(1 if self.models.champion is not None else 0)
        if self.models.champion is not None:
            version = self.models.champion.version
            MODEL_VERSION.set(int(version))
            # Every bin of the champion's score distribution is a series from the start, at 0: the
            # PSI rule compares each bin with the reference, and an absent series would drop its bin.
            for label in SCORE_BINS:
                SCORES.labels(model_version=version, bin=label)

    def degraded(self) -> dict[str, str]:
        """The dependencies this worker cannot read now, with the last error of each."""
        found = {"registry": self.models.last_error if self.models.failing else None}
        found["online_store"] = self.features.last_error
        return {dependency: error for dependency, error in found.items() if error is not None}

    def _publish_degraded(self) -> None:
        degraded = self.degraded()
        for dependency in DEPENDENCIES:
            DEGRADED.labels(dependency=dependency).set(1 if dependency in degraded else 0)

    @bentoml.on_shutdown
    async def stop_watching(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.shadow.close(self.models.challenger)

    def __is_ready__(self) -> bool:
        return self.models.champion is not None

    def _loaded(self) -> Loaded:
        loaded = self.models.champion
        if loaded is None:
            raise bentoml.exceptions.ServiceUnavailable(f"no model to serve: {self.models.last_error}")
        return loaded

    def _score_rows(self, transactions: list[Transaction]) -> Scored:
        """One micro-batch, in a worker thread, by the champion loaded when it starts (and by the
        rollout's canary for the rows of its customers)."""
        loaded, canary = self._loaded(), self.models.canary
        BATCH_ROWS.observe(len(transactions))
        frame = transactions_frame(transactions)
        inputs = model_inputs(self.features, frame)
        degraded = tuple(self.degraded())  # as the batch was scored: its features may be the defaults
        # The champion scores every row, canary rows included: the shadow log compares the two there.
        probabilities = loaded.model.predict_proba(inputs)
        answers = canary_answers(canary, frame, inputs) if canary is not None else None
        return Scored(loaded.version, loaded.threshold, probabilities, inputs, degraded=degraded, canary=answers)

    @bentoml.api(route="/predict")
    async def predict(self, transactions: Transactions) -> PredictResponse:
        """P(fraud) of each transaction (1 to 10,000), in request order, by the champion, or by a
        rollout's canary for its customers. Concurrent requests are scored together
        (`serving.batching`)."""
        try:
            scored = await self.batcher.submit(transactions)
        except Overloaded as error:
            status, body = error_body(429, ["body", "transactions"], str(error), "busy")
            return Response(body, status_code=status, media_type="application/json", headers={"Retry-After": "1"})
        if self.models.challenger is not None:
            self.shadow.offer(transactions, scored)
        body, answered, answers = predictions_json(scored, [t.transaction_id for t in transactions])
        _count_answers(answers)
        headers = {"X-Model-Version": ",".join(answered)}
        if scored.degraded:
            headers["X-Degraded"] = ",".join(scored.degraded)
        return Response(body, media_type="application/json", headers=headers)

    @bentoml.api(route="/explain")
    async def explain(self, transaction: Transaction, ctx: bentoml.Context) -> Explanation:
        """Why the transaction scores as it does: the Bayesian network's evidence for and against
        fraud, strongest first, beside the P(fraud) of the model that answers its customer (the
        champion, or a rollout's canary, as `/predict`). The factors' log-odds add up to the
        network's own logit P(fraud)."""
        loaded = self._loaded()
        answered = answering(loaded, self.models.canary, transaction.customer_id)
        ctx.response.headers["X-Model-Version"] = answered.version
        if loaded.network is None:
            raise bentoml.exceptions.ServiceUnavailable("the registry has no Bayesian network to explain with")
        inputs = await asyncio.to_thread(model_inputs, self.features, transactions_frame([transaction]))
        probability, network_probability, factors = explain(answered, loaded, inputs)
        return Explanation(
            model_version=answered.version,
            fraud_probability=probability,
            is_fraud=probability >= answered.threshold,
            network_version=loaded.network_version,
            network_probability=network_probability,
            factors=factors,
        )


def _count_answers(answers: Answers) -> None:
    """The answers of one request in the metrics: decisions and score bins, by answering version."""
    answering = set(answers.versions)
    # Only a rollout's canary makes two versions answer one request: then each row is matched.
    versions = np.asarray(answers.versions) if len(answering) > 1 else None
    for version in answering:
        own = slice(None) if versions is None else versions == version
        flagged = int(answers.flagged[own].sum())
        for is_fraud, count in (("1", flagged), ("0", len(answers.flagged[own]) - flagged)):
            if count:
                PREDICTIONS.labels(model_version=version, is_fraud=is_fraud).inc(count)
        for label, count in bin_counts(answers.probabilities[own]).items():
            SCORES.labels(model_version=version, bin=label).inc(count)


FraudDetector.add_asgi_middleware(
    RequestGuard,
    max_body_bytes=SETTINGS.serving.max_body_bytes,
    api_key=secret("MLOPS_API_KEY"),
    protected_paths=SCORING_ROUTES,
    mounted_paths=MOUNTED_ROUTES,
    mounted_concurrency=SETTINGS.serving.mounted_concurrency,
    current_version=_current_version,
)


@routes.post("/feedback", response_model=FeedbackResponse)
def feedback(request: FeedbackRequest) -> FeedbackResponse:
    """Labels of transactions seen before (1 fraud, 0 legitimate), 1 to 10,000 per request. They
    are written as one file under the landing folder's `labels/`, which `label_sensor` and
    validation read: the transactions' days are validated again with them."""
    service = bentoml.get_current_service()
    frame = pd.DataFrame([label.model_dump() for label in request.labels])
    path = service.labels.write(frame, source="feedback")
    for value, count in frame["is_fraud"].value_counts().items():
        FEEDBACK_LABELS.labels(is_fraud=str(value)).inc(int(count))
    return FeedbackResponse(accepted=len(frame), file=path.rsplit("/", 1)[-1])


@routes.get("/model", response_model=ModelInfo)
def model_info() -> ModelInfo:
    """The champion that answers: version, kind, metrics, threshold and training window."""
    service = bentoml.get_current_service()
    loaded = service.models.champion if service is not None else None
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
        answers_with=service.models.answers_with,
        shadow=_shadow_info(service.models.challenger, service.shadow.share),
        rollout=_rollout_info(service.models),
        degraded=service.degraded(),
    )


def _shadow_info(challenger: Loaded | None, share: float) -> Shadow | None:
    if challenger is None or share == 0.0:
        return None
    return Shadow(version=challenger.version, kind=challenger.kind, threshold=challenger.threshold, share=share)


def _rollout_info(models: ServedModels) -> RolloutInfo | None:
    rollout = models.rollout
    if rollout is None:
        return None
    loaded = models.challenger if models.challenger and models.challenger.version == rollout.version else None
    return RolloutInfo(
        version=rollout.version,
        kind=loaded.kind if loaded else None,
        stage=rollout.stage,
        canary_share=rollout.canary_share,
        answering_share=rollout.answering_share if models.canary else 0.0,
        champion_version=rollout.champion_version,
        stage_after_day=rollout.stage_after_day,
        started_at=rollout.started_at,
        stage_started_at=rollout.stage_started_at,
    )
