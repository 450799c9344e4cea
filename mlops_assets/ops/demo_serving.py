"""The demo's last step: the champion served by the real service (`bentoml serve`, as
`mlops serve` and `make up` run it) and scored over HTTP, with the explanation of the most
suspicious transaction."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from mlops_assets.keys import VALIDATED_TRANSACTIONS
from mlops_assets.lib.modelling.registry import CHAMPION, MODEL_NAME, Registry
from mlops_assets.ops.instance import open_lake
from mlops_assets.settings import Settings

READY_SECONDS = 180
SAMPLE = 200


class ServingError(Exception):
    """The service did not start, or did not answer as the contract says."""


def serve_and_score(settings: Settings, port: int, log) -> None:
    """Starts the service on `port` (the caller checked it is free), scores the newest day's first
    transactions over HTTP, explains the most suspicious one, checks the answering version is the
    registry's champion, and stops."""
    from mlops_assets.ops.servers import serve_command, start_server

    process = start_server(serve_command(port), log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_SECONDS
        while _status(f"{url}/readyz") != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                raise ServingError(f"the service did not become ready: see {log.name}")
            time.sleep(1)
        _score(settings, url)
    finally:
        process.terminate()
        process.wait(timeout=60)


def _score(settings: Settings, url: str) -> None:
    lake = open_lake(settings)
    day = lake.partitions(VALIDATED_TRANSACTIONS)[-1]
    rows = lake.read(VALIDATED_TRANSACTIONS, day).drop(columns=["is_fraud"]).head(SAMPLE)
    rows["event_timestamp"] = rows["event_timestamp"].map(lambda t: t.isoformat())
    transactions = rows.astype(object).where(rows.notna(), None).to_dict("records")
    started = time.perf_counter()
    answer = _post(f"{url}/predict", {"transactions": transactions})
    elapsed = time.perf_counter() - started
    champion = Registry(settings.mlflow_tracking_uri, MODEL_NAME).alias(CHAMPION).version
    if answer["model_version"] != champion:
        raise ServingError(f"the service answered with version {answer['model_version']}, the champion is {champion}")
    flagged = sum(p["is_fraud"] for p in answer["predictions"])
    model = _get(f"{url}/model")
    print(
        f"    POST /predict: {len(transactions)} transactions of {day} scored by version {champion} in "
        f"{elapsed * 1000:.0f} ms; {flagged} flagged (threshold {model['threshold']:.4f})"
    )
    shadow = model.get("shadow")
    print(
        f"    shadow: challenger v{shadow['version']} also scores {shadow['share']:.0%} of requests "
        "(landing/shadow/, asset shadow_scores)"
        if shadow
        else "    shadow: none (the challenger is the champion)"
    )
    top = max(range(len(transactions)), key=lambda i: answer["predictions"][i]["fraud_probability"])
    explained = _post(f"{url}/explain", {"transaction": transactions[top]})
    factors = ", ".join(f"{f['evidence']} ({f['log_odds']:+.2f})" for f in explained["factors"][:3])
    print(
        f"    POST /explain of the most suspicious, {transactions[top]['transaction_id']} "
        f"(P(fraud) {explained['fraud_probability']:.3f}): {factors}"
    )


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None
