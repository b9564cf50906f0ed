"""The test harness's real servers (tests/servers.py) start, answer, and survive a restart with
their data where the fault tests need it (Redis AOF, S3 persistence)."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
import redis
from botocore.config import Config

from tests.servers import (
    S3_ACCESS_KEY,
    S3_REGION,
    S3_SECRET_KEY,
    ServerUnavailable,
    start_redis_server,
    start_s3_server,
)

pytestmark = pytest.mark.integration


def test_redis_fixture_answers(redis_server: str) -> None:
    client = redis.Redis.from_url(redis_server)
    assert client.ping()
    client.set("harness", "ok")
    assert client.get("harness") == b"ok"


def test_redis_restart_keeps_data_with_aof(tmp_path: Path) -> None:
    try:
        url, stop = start_redis_server(tmp_path, appendonly=True)
    except ServerUnavailable as exc:
        pytest.skip(str(exc))
    redis.Redis.from_url(url).rpush("queue", "job-1", "job-2")
    stop()
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    url, stop = start_redis_server(tmp_path, appendonly=True, port=port)
    try:
        assert redis.Redis.from_url(url).lrange("queue", 0, -1) == [b"job-1", b"job-2"]
    finally:
        stop()


def test_s3_restart_keeps_objects_when_persistent(tmp_path: Path) -> None:
    try:
        endpoint_url, stop = start_s3_server(tmp_path, persist=True)
    except ServerUnavailable as exc:
        pytest.skip(str(exc))
    client = boto3.client(
        "s3", endpoint_url=endpoint_url, region_name=S3_REGION,
        aws_access_key_id=S3_ACCESS_KEY, aws_secret_access_key=S3_SECRET_KEY,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                      retries={"mode": "standard", "max_attempts": 10}),
    )  # fmt: skip
    client.create_bucket(Bucket="harness-bucket")
    client.put_object(Bucket="harness-bucket", Key="jobs/a/input", Body=b"audio")
    stop()
    port = int(endpoint_url.rsplit(":", 1)[1])
    endpoint_url, stop = start_s3_server(tmp_path, persist=True, port=port)
    try:
        body = client.get_object(Bucket="harness-bucket", Key="jobs/a/input")["Body"].read()
        assert body == b"audio"
    finally:
        stop()
