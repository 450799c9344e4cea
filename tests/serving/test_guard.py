"""The request guard through a real server started with an API key, a 1 MiB body limit and one
slot for the mounted routes (`guarded`); `served` is the same service with the defaults."""

from __future__ import annotations

import http.client
import threading
from urllib.parse import urlsplit

import httpx
import pytest

from tests.serving.conftest import API_KEY, GUARDED_BODY_BYTES, Served, new_transactions

pytestmark = pytest.mark.slow


def test_without_a_key_configured_scoring_is_open(served: Served) -> None:
    answer = served.client.post("/predict", json={"transactions": new_transactions(served, 1)})
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("route", ["/predict", "/explain", "/feedback"])
def test_scoring_routes_need_the_key(guarded: Served, route: str) -> None:
    transaction = new_transactions(guarded, 1)[0]
    body = {
        "/predict": {"transactions": [transaction]},
        "/explain": {"transaction": transaction},
        "/feedback": {"labels": [{"transaction_id": "unseen-2", "is_fraud": 1}]},
    }[route]
    for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}):
        refused = guarded.client.post(route, json=body, headers=headers)
        assert refused.status_code == 401, refused.text
        assert refused.json()["detail"][0]["loc"] == ["header", "x-api-key"]
    for headers in ({"X-API-Key": API_KEY}, {"Authorization": f"Bearer {API_KEY}"}):
        assert guarded.client.post(route, json=body, headers=headers).status_code == 200


def test_probes_metrics_docs_and_model_need_no_key(guarded: Served) -> None:
    routes = ["/healthz", "/livez", "/readyz", "/metrics", "/docs", "/docs.json", "/model"]
    assert [guarded.client.get(route).status_code for route in routes] == [200] * len(routes)


def test_a_body_over_the_limit_is_refused_before_parsing(guarded: Served) -> None:
    padding = "x" * (GUARDED_BODY_BYTES + 10)
    answer = guarded.client.post(
        "/predict", content=padding.encode(), headers={"X-API-Key": API_KEY, "Content-Type": "application/json"}
    )
    assert answer.status_code == 413 and answer.json()["detail"][0]["loc"] == ["body"], answer.text


def test_a_chunked_body_over_the_limit_is_refused(guarded: Served) -> None:
    address = urlsplit(guarded.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    try:
        connection.putrequest("POST", "/feedback")
        headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked", "X-API-Key": API_KEY}
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        chunk = b"x" * 65536
        try:
            for _ in range(GUARDED_BODY_BYTES // len(chunk) + 2):
                connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            connection.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the whole body was sent
        answer = connection.getresponse()
        assert answer.status == 413, answer.read()
    finally:
        connection.close()


def test_the_mounted_routes_answer_429_over_their_limit(guarded: Served) -> None:
    """One slot for `/feedback` and `/model`: of many simultaneous 10,000-label requests some are
    refused at once with 429 and Retry-After, the others are accepted; none fails otherwise."""
    labels = [{"transaction_id": f"load-{i}", "is_fraud": i % 2} for i in range(10_000)]
    answers: list[httpx.Response] = []
    start = threading.Barrier(16)

    def post() -> None:
        with httpx.Client(base_url=guarded.url, timeout=60, headers={"X-API-Key": API_KEY}) as client:
            start.wait()
            answers.append(client.post("/feedback", json={"labels": labels}))

    workers = [threading.Thread(target=post) for _ in range(16)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    statuses = sorted(answer.status_code for answer in answers)
    assert len(statuses) == 16 and set(statuses) == {200, 429}, statuses
    busy = next(answer for answer in answers if answer.status_code == 429)
    assert busy.headers["retry-after"] == "1" and busy.json()["detail"][0]["type"] == "busy"
