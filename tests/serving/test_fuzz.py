"""Property-based fuzzing of the HTTP API from its own OpenAPI document (schemathesis, on the real
server): for requests that follow the schema and for requests that break it, no answer is a 5xx,
and every 4xx says where the input was wrong (a `loc` in each of its `detail` errors)."""

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.serving.conftest import Served

pytestmark = pytest.mark.slow
EXAMPLES = 40  # per operation and mode: the run stays bounded (about a minute here)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda mode: mode.value)
def test_no_request_the_schema_allows_or_breaks_gets_a_5xx_and_each_4xx_says_where(
    served: Served, mode: GenerationMode
) -> None:
    document = served.client.get("/docs.json").json()
    # BentoML labels the document OpenAPI 3.0.2, but pydantic writes its schemas in 3.1's JSON
    # Schema (an optional field is `anyOf` with `{"type": "null"}`), which 3.0 readers refuse: read as 3.1.
    assert document["openapi"] == "3.0.2" and "{'type': 'null'}" in str(document)
    schema = schemathesis.openapi.from_dict({**document, "openapi": "3.1.0"})
    operations = [result.ok() for result in schema.get_all_operations()]
    statuses: Counter[tuple[str, int]] = Counter()
    for operation in operations:

        @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def exercise(case: schemathesis.Case) -> None:
            response = case.call(base_url=served.url, timeout=30)
            statuses[case.operation.label, response.status_code] += 1
            assert response.status_code < 500, f"{case.operation.label}: {response.status_code} {response.text[:500]}"
            if response.status_code >= 400:
                errors = response.json()["detail"]
                # Each error says where; a body that is not JSON, or not an object, is wrong as a whole.
                assert errors and all(error["loc"] for error in errors), (
                    f"{case.operation.label}: {response.text[:500]}"
                )

        try:
            exercise()
        except Unsatisfiable:  # a route without parameters or body has nothing to break
            assert mode is GenerationMode.NEGATIVE and not operation.body, operation.label
    # The scoring routes were reached: accepted when the input held, rejected when it did not.
    expected = 200 if mode is GenerationMode.POSITIVE else 400
    assert {"POST /predict", "POST /explain", "POST /feedback"} <= {
        label for (label, status) in statuses if status == expected
    }, statuses
