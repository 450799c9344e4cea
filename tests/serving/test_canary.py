"""A canary through the real server: while the registry's rollout has the challenger in its
canary stage, it answers the transactions of its share of customers (always the same customers),
every answer names the version that gave it, and moving either alias mid-stream fails no request."""

from __future__ import annotations

import threading

import httpx
import numpy as np
import pytest

from mlops_assets.lib.loop.rollout import Rollout, in_canary, save_rollout
from mlops_assets.lib.modelling.registry import CHALLENGER
from tests.serving.conftest import Served, new_transactions, serving, wait_for_model
from tests.serving.test_shadow import restore_challenger

pytestmark = pytest.mark.slow

SHARE = 0.2


def canary_of(served: Served, version: str, share: float) -> None:
    """The registry's rollout: `version` as a canary at `share`, once every worker follows it."""
    served.registry.set_challenger(version)
    save_rollout(served.registry, Rollout(version, "canary", share, served.registry.alias("champion").version))
    wait_for_model(
        served,
        lambda model: (
            (model.get("rollout") or {}).get("answering_share") == share
            and model["rollout"]["version"] == version
            and model["rollout"]["kind"] is not None
        ),
        f"every worker answers with version {version} as a canary at {share}",
    )


def test_a_canary_answers_its_share_of_customers_and_says_so(served: Served) -> None:
    registry = served.registry
    champion, before = registry.alias("champion"), registry.alias(CHALLENGER)
    canary = next(v for v in reversed(registry.versions()) if v.version != champion.version)
    try:
        canary_of(served, canary.version, SHARE)
        rollout = served.client.get("/model").json()["rollout"]
        assert (rollout["stage"], rollout["canary_share"], rollout["champion_version"]) == (
            "canary",
            SHARE,
            champion.version,
        )

        transactions = new_transactions(served, 1000)
        answer = served.client.post("/predict", json={"transactions": transactions})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        customers = np.array([t["customer_id"] for t in transactions])
        expected = in_canary(customers, canary.version, SHARE)
        answered_by = [p["model_version"] for p in body["predictions"]]
        assert answered_by == [canary.version if own else champion.version for own in expected]
        # Both answered in this request: the header names both, the champion first.
        assert expected.any() and not expected.all()
        assert answer.headers["X-Model-Version"] == f"{champion.version},{canary.version}"
        assert body["model_version"] == champion.version
        # Each decision is at the threshold of the version that answered it.
        thresholds = {
            champion.version: float(champion.tags["threshold"]),
            canary.version: float(canary.tags["threshold"]),
        }
        for prediction in body["predictions"]:
            assert prediction["is_fraud"] == (
                prediction["fraud_probability"] >= thresholds[prediction["model_version"]]
            )
        # About the share of customers, and each customer always to the same model.
        assert abs(len(set(customers[expected])) / len(set(customers)) - SHARE) < 0.05
        for index in np.flatnonzero(expected)[:5]:
            alone = served.client.post("/predict", json={"transactions": [transactions[index]]})
            assert alone.json()["model_version"] == canary.version == alone.headers["X-Model-Version"]
        champions_customer = transactions[int(np.flatnonzero(~expected)[0])]
        alone = served.client.post("/predict", json={"transactions": [champions_customer]})
        assert alone.json()["predictions"][0]["model_version"] == champion.version
        # `/explain` gives the P(fraud) of the model that answers the customer, as `/predict` does.
        for index, own in ((int(np.flatnonzero(expected)[0]), canary), (int(np.flatnonzero(~expected)[0]), champion)):
            predicted = body["predictions"][index]
            explained = served.client.post("/explain", json={"transaction": transactions[index]})
            assert explained.status_code == 200, explained.text
            assert explained.headers["X-Model-Version"] == explained.json()["model_version"] == own.version
            assert explained.json()["fraud_probability"] == pytest.approx(predicted["fraud_probability"], abs=1e-9)

        # The shadow stage answers nothing: the champion answers every customer again.
        save_rollout(registry, Rollout(canary.version, "shadow", SHARE, champion.version))
        wait_for_model(
            served,
            lambda model: (model.get("rollout") or {}).get("stage") == "shadow",
            "the rollout back in the shadow",
        )
        body = served.client.post("/predict", json={"transactions": transactions}).json()
        assert {p["model_version"] for p in body["predictions"]} == {champion.version}
    finally:
        save_rollout(registry, None)
        restore_challenger(served, before)


def test_moving_either_alias_during_a_canary_fails_no_request(served: Served) -> None:
    registry = served.registry
    champion, before = registry.alias("champion"), registry.alias(CHALLENGER)
    others = [v.version for v in reversed(registry.versions()) if v.version != champion.version]
    transactions = new_transactions(served, 200)
    statuses: list[int] = []
    stop = threading.Event()

    def stream() -> None:
        with httpx.Client(base_url=served.url, timeout=30) as client:
            for index in range(100_000):  # bounded; stopped long before
                if stop.is_set():
                    return
                answer = client.post("/predict", json={"transactions": [transactions[index % len(transactions)]]})
                statuses.append(answer.status_code)

    streams = [threading.Thread(target=stream) for _ in range(4)]
    try:
        canary_of(served, others[0], 0.5)
        for thread in streams:
            thread.start()
        canary_of(served, others[1], 0.5)  # the challenger alias moves
        registry.promote(others[0])  # the champion alias moves
        wait_for_model(served, lambda model: model["version"] == others[0], f"champion {others[0]}")
        registry.promote(champion.version)
        wait_for_model(served, lambda model: model["version"] == champion.version, f"champion {champion.version}")
    finally:
        stop.set()
        for thread in streams:
            thread.join(timeout=60)
        save_rollout(registry, None)
        restore_challenger(served, before)
        registry.promote(champion.version)
    assert len(statuses) > 50 and set(statuses) == {200}


def test_a_deployment_pinned_to_the_challenger_answers_every_customer_with_it(served: Served) -> None:
    """`MLOPS_SERVING_MODEL=challenger`, as the mesh's second deployment runs: the challenger
    answers every transaction, whatever the rollout says, and the pin follows the alias."""
    registry = served.registry
    champion, before = registry.alias("champion"), registry.alias(CHALLENGER)
    others = [v.version for v in reversed(registry.versions()) if v.version != champion.version]
    environment = {
        "BENTOML_HOME": str(served.settings.home / "bentoml-pinned"),  # BentoML's metrics files: one per server
        "MLOPS_SERVING_MODEL": "challenger",
        "MLOPS_SERVING_WORKERS": "1",
    }
    try:
        registry.set_challenger(others[0])
        save_rollout(registry, Rollout(others[0], "canary", SHARE, champion.version))
        with serving(served.settings.home / "bentoml-pinned.log", environment) as (url, client):
            model = client.get("/model").json()
            assert (model["version"], model["answers_with"], model["rollout"]) == (others[0], "challenger", None)
            answer = client.post("/predict", json={"transactions": new_transactions(served, 300)})
            assert answer.status_code == 200 and answer.headers["X-Model-Version"] == others[0]
            assert {p["model_version"] for p in answer.json()["predictions"]} == {others[0]}
            registry.set_challenger(others[1])
            wait_for_model(url, lambda model: model["version"] == others[1], f"the pin on challenger {others[1]}")
    finally:
        save_rollout(registry, None)
        restore_challenger(served, before)
