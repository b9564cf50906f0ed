"""/healthz, /readyz, /metrics, the OpenAPI document and the minimal web page."""

from __future__ import annotations

import re
from typing import Any

from api_support import auth, create_json, created_and_uploaded, wav_bytes
from fastapi.testclient import TestClient

from tests.api.contract import JOB_VIEW_FIELDS
from tests.servers import free_port

pytest_plugins = ["api_support"]  # fixtures: client, make_client, redis_client


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"redis": "ok", "storage": "ok"}}


def test_readyz_is_503_when_redis_is_down(make_client: Any) -> None:
    client = make_client(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    assert client.get("/healthz").status_code == 200  # alive, just not ready
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"redis": "unreachable", "storage": "ok"}
    # a job route answers 503 in the error shape, not a stack trace
    down = create_json(client, 10)
    assert down.status_code == 503 and down.json()["error"]["code"] == "unavailable"


def test_metrics_count_by_route_template_and_show_queue_lengths(
    client: TestClient, redis_client: Any
) -> None:
    created = created_and_uploaded(client, wav_bytes(0.1))
    job_id, token = created["id"], created["token"]
    client.post(f"/v1/jobs/{job_id}/submit", headers=auth(token))
    for _ in range(3):
        client.get(f"/v1/jobs/{job_id}", headers=auth(token))
    client.get(f"/v1/jobs/{job_id}", headers=auth("wrong"))
    redis_client.rpush("upsample", "a", "b")

    text = client.get("/metrics").text
    assert (
        'speakup_http_requests_total{method="GET",route="/v1/jobs/{id}",status="200"} 3.0' in text
    )
    assert 'route="/v1/jobs/{id}",status="404"} 1.0' in text
    assert 'route="/storage/upload",status="204"} 1.0' in text
    assert 'speakup_http_request_duration_seconds_bucket{le="0.005",method="GET"' in text
    assert 'speakup_jobs_created_total{mode="presigned"} 1.0' in text
    assert 'speakup_queue_length{queue="enhance"} 1.0' in text
    assert 'speakup_queue_length{queue="upsample"} 2.0' in text
    assert 'speakup_queue_length{queue="cleanup"} 0.0' in text
    assert job_id not in text and token not in text and "Bearer" not in text
    labels = set(re.findall(r'route="([^"]*)"', text))
    assert all("{" in label or label.count("/") <= 3 for label in labels), labels


def test_unmatched_paths_share_one_label(client: TestClient) -> None:
    for i in range(5):
        client.get(f"/no/such/path/{i}")
    text = client.get("/metrics").text
    assert 'route="unmatched",status="404"} 5.0' in text
    assert "/no/such/path" not in text


def test_openapi_documents_both_create_bodies_and_error_shapes(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    create = spec["paths"]["/v1/jobs"]["post"]
    content = create["requestBody"]["content"]
    assert set(content) == {"application/json", "multipart/form-data"}
    schemas = spec["components"]["schemas"]
    assert {"size_bytes", "content_type", "filename", "options"} <= set(
        schemas["CreateJobRequest"]["properties"]
    )
    assert {"file", "options"} == set(schemas["MultipartCreateRequest"]["properties"])
    assert schemas["JobOptions"]["properties"]["sample_rate_hz"]["enum"] == [48000, 44100, 16000]
    assert {"id", "token", "status", "upload"} <= set(schemas["CreatedJob"]["properties"])
    job_view = set(schemas["JobView"]["properties"])
    assert JOB_VIEW_FIELDS <= job_view
    assert "HTTPValidationError" not in schemas  # 422 answers the ErrorBody shape
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            for status, answer in operation["responses"].items():
                if status.startswith(("4", "5")) and path.startswith("/v1"):
                    ref = answer["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorBody"), (path, status)
    assert spec["components"]["securitySchemes"]["jobToken"]["scheme"] == "bearer"
    assert "/storage/upload" not in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_web_page_is_served_without_a_cdn(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assets = re.findall(r'(?:src|href)="([^"#]+)"', page.text)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for asset in assets:
        assert not asset.startswith(("http:", "https:", "//")), asset  # no CDN
        assert client.get(asset).status_code == 200, asset
