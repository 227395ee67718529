"""Schemathesis against the live OpenAPI schema of a running API server (real HTTP, real
Elasticsearch and Kafka): no server error and no response outside the schema, for every
operation, with valid keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from elasticsearch import Elasticsearch
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from index.stores import Stores
from model.settings import Settings

pytestmark = pytest.mark.integration
EXAMPLES = 25  # per operation: bounded, so the suite stays minutes, not hours


@pytest.fixture(scope="module")
def keys(live_settings: Settings, es: Elasticsearch, stores: Stores) -> dict[str, str]:
    return {
        "reviewer": stores.keys.create("reviewer", "fuzz-reviewer")[0],
        "rights_holder": stores.keys.create("rights_holder", "fuzz-holder", "Fuzz Records")[0],
        "ingest": stores.keys.create("ingest", "fuzz-ingest")[0],
    }


def _key_for(path: str, method: str, keys: dict[str, str]) -> str:
    if path.startswith("/v1/tracks") and method == "POST":
        return keys["ingest"]
    if path.startswith(("/v1/royalties", "/v1/recordings", "/v1/artists")):
        return keys["rights_holder"]
    return keys["reviewer"]


def _checker(operation: Any, key: str) -> Callable[[], None]:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {key}"}
        case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])

    return check  # type: ignore[no-any-return]


def test_no_server_errors_and_no_schema_violations(api_server: str, keys: dict[str, str]) -> None:
    schema = schemathesis.openapi.from_url(f"{api_server}/openapi.json")
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 13
    for operation in operations:
        check = _checker(operation, _key_for(operation.path, operation.method.upper(), keys))
        try:
            check()
        except Exception as exc:  # collect every operation's failure, then report them together
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
