"""Contract fuzzing: schemathesis generates requests from the app's own OpenAPI schema (in-process
ASGI) for every route; no response may be a 5xx and every response must match the schema."""

import pytest
from hypothesis import HealthCheck, settings

schemathesis = pytest.importorskip("schemathesis")

from app.api import create_app  # noqa: E402
from app.model import FramingModel  # noqa: E402
from app.settings import Settings  # noqa: E402

app = create_app(Settings(max_body_bytes=200_000, max_paragraphs=200), model=FramingModel.load())
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
CASES: dict[str, int] = {}


@schema.parametrize()
@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_5xx_and_responses_match_the_schema(case):
    CASES[case.operation.label] = CASES.get(case.operation.label, 0) + 1
    response = case.call()
    assert response.status_code < 500, response.text
    case.validate_response(response)


def test_at_least_500_generated_cases_over_every_route():
    assert {"POST /v1/classify", "POST /v1/classify/batch", "GET /v1/labels", "GET /healthz"} <= set(CASES)
    assert sum(CASES.values()) >= 500, CASES
