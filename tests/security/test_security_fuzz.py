"""Schemathesis against the live OpenAPI spec of the api under uvicorn (real Redis and S3):
every operation fuzzed with valid and invalid inputs, then stateful sequences that create a job
and use its id and token (submit → poll → result → delete). 0 server errors, 0 schema
violations, over at least 1,000 requests."""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.faults.faultkit import record
from tests.stackutil import start_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(400)]

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
STATELESS_EXAMPLES = 70  # per operation and generation mode
STATEFUL_SCENARIOS = 60
MIN_REQUESTS = 1000


@pytest.fixture(scope="module")
def api(tmp_path_factory, s3_server):
    """The api alone (no workers: a queued job stays queued, which the spec covers)."""
    running = start_stack(tmp_path_factory.mktemp("fuzz"), s3_server, workers=(), beat=False,
                          extra_env={"SPEAKUP_MAX_UPLOAD_BYTES": str(256 * 1024)})
    yield running
    running.stack.stop_all()


class Tokens:
    """Tokens of the jobs created so far, so cases naming a real job id carry its token."""

    def __init__(self) -> None:
        self.by_id: dict[str, str] = {}
        self.lock = threading.Lock()
        self.statuses: Counter[int] = Counter()
        self.requests = 0

    def authorize(self, case: Any) -> None:
        job_id = (case.path_parameters or {}).get("id")
        if job_id is None or case.operation.path in ("/v1/jobs",):
            return
        token = self.by_id.get(str(job_id)) or secrets.token_urlsafe(32)
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}

    def observe(self, case: Any, response: Any) -> None:
        with self.lock:
            self.requests += 1
            self.statuses[response.status_code] += 1
        if case.operation.path == "/v1/jobs" and response.status_code == 201:
            body = response.json()
            self.by_id[body["id"]] = body["token"]


def _settings(examples: int) -> hypothesis.settings:
    return hypothesis.settings(
        max_examples=examples, deadline=None, database=None, derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck), stateful_step_count=6)


def test_fuzz_every_operation_and_stateful_sequences(api):
    schema = schemathesis.openapi.from_url(f"{api.api_url}/openapi.json")
    tokens = Tokens()
    failures: list[str] = []
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @_settings(STATELESS_EXAMPLES)
            def run(case: Any) -> None:
                tokens.authorize(case)
                response = case.call(timeout=30)
                tokens.observe(case, response)
                try:
                    case.validate_response(response, checks=CHECKS)
                except Exception as exc:  # noqa: BLE001 - collected, reported below
                    failures.append(f"{case.method} {case.formatted_path}: {exc}"[:2000])

            try:
                run()
            except hypothesis.errors.Unsatisfiable:
                assert mode == schemathesis.GenerationMode.NEGATIVE  # nothing to get wrong
            print(f"fuzz {operation.method.upper()} {operation.path} {mode.value}: "
                  f"{tokens.requests} requests so far, {time.monotonic() - started:.0f} s")
    stateless = tokens.requests

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: Any) -> None:
            tokens.authorize(case)

        def after_call(self, response: Any, case: Any) -> None:
            tokens.observe(case, response)

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            try:
                case.validate_response(response, checks=CHECKS)
            except Exception as exc:  # noqa: BLE001
                failures.append(f"stateful {case.method} {case.formatted_path}: {exc}"[:2000])

    Machine.run(settings=_settings(STATEFUL_SCENARIOS))
    figure = {"requests": tokens.requests, "stateless_requests": stateless,
              "stateful_requests": tokens.requests - stateless,
              "jobs_created": len(tokens.by_id), "failures": len(failures),
              "server_errors": sum(n for s, n in tokens.statuses.items() if s >= 500),
              "statuses": {str(k): v for k, v in sorted(tokens.statuses.items())}}
    record("schemathesis", figure)
    assert not failures, "\n\n".join(failures[:10])
    assert figure["server_errors"] == 0
    assert tokens.requests >= MIN_REQUESTS
