"""The real stack for integration tests: redis-server, an S3-compatible server (ministack), the
api under uvicorn and real Celery workers — all child processes on 127.0.0.1, stopped at the end."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from speakup.stack import Stack, free_port

TERMINAL = {"succeeded", "downloaded", "purged", "failed", "expired", "cancelled"}


@dataclass
class RunningStack:
    stack: Stack
    api_url: str
    env: dict[str, str]
    s3_endpoint: str
    bucket: str
    workdir: Path

    def storage(self) -> Any:
        from shared.storage.s3 import S3Storage

        return S3Storage(bucket=self.bucket, endpoint_url=self.s3_endpoint, region="us-east-1",
                         access_key="test", secret_key="test")

    def store(self) -> Any:
        from shared.jobs.store import JobStore

        return JobStore.from_url(self.env["SPEAKUP_REDIS_URL"])

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in (self.workdir / "logs").glob("*"))


def start_stack(workdir: Path, s3_endpoint: str, *, workers: tuple[str, ...] = (
        "enhancer", "upsampler", "cleanup"), beat: bool = True,
        extra_env: dict[str, str] | None = None) -> RunningStack:
    bucket = "speakup-" + os.urandom(4).hex()
    port = free_port()
    env = dict(os.environ)
    env.update({
        "SPEAKUP_STORAGE_BACKEND": "s3",
        "SPEAKUP_S3_BUCKET": bucket,
        "SPEAKUP_S3_ENDPOINT_URL": s3_endpoint,
        "SPEAKUP_S3_ACCESS_KEY": "test",
        "SPEAKUP_S3_SECRET_KEY": "test",
        "SPEAKUP_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "SPEAKUP_SIGNING_SECRET": os.urandom(24).hex(),
        "SPEAKUP_CLEANUP_INTERVAL_S": "1",
        "SPEAKUP_DOWNLOAD_GRACE_S": "2",
        "SPEAKUP_CREATE_RATE_PER_MINUTE": "10000",
        "SPEAKUP_LOG_LEVEL": "INFO",
        "SPEAKUP_WEBHOOK_ALLOW_PRIVATE": "true",
        "OMP_NUM_THREADS": "1",
    })
    env.update(extra_env or {})
    stack = Stack(env=env, log_dir=workdir / "logs")
    try:
        stack.start_redis(workdir / "redis")
        from shared.storage.s3 import S3Storage

        S3Storage(bucket=bucket, endpoint_url=s3_endpoint, region="us-east-1", access_key="test",
                  secret_key="test").ensure_bucket()
        for kind in workers:
            stack.start_worker(kind)
        if beat:
            stack.start_beat(workdir)
        api_url = stack.start_api(port)
    except BaseException:
        stack.stop_all()
        raise
    return RunningStack(stack, api_url, env, s3_endpoint, bucket, workdir)


def wait_status(client: httpx.Client, job_id: str, token: str, statuses: set[str],
                timeout_s: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = client.get(f"/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {token}"})
        body = response.json()
        if body.get("status") in statuses:
            return body
        time.sleep(0.2)
    raise TimeoutError(f"job stayed {body.get('status')} ({body.get('error')})")
