"""Structured logs: one JSON line per event, with the job id; never a token, URL or audio.

`log_event(logger, "job.created", job_id=..., duration_s=...)`. A redaction filter scrubs
anything that looks like a bearer token, a presigned URL or a signature, whatever the caller did.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

_SECRET_PATTERNS = (
    re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"https?://[^\s\"']*(?:X-Amz-|Signature|sig=|token=|policy)[^\s\"']*"),
    re.compile(r"(?i)(x-amz-signature|signature|sig|token|policy|secret|password)=[^&\s\"']+"),
    re.compile(r"(?i)(signature|string to sign|canonical request)[:\s]+[0-9a-f]{32,}"),
)


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub("[redacted]", text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        payload.update(getattr(record, "fields", {}))
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(payload, default=str))


def configure_logging(level: str = "INFO") -> None:
    """Route every logger (ours, celery's, uvicorn's) through one JSON handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery", "celery.app.trace"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Access logs carry paths with ids only; keep them at WARNING to stay quiet under load.
    logging.getLogger("uvicorn.access").setLevel("WARNING")
    # botocore and urllib3 log request signatures, presigned URLs and headers at DEBUG: never let
    # them below INFO, whatever level the service runs at.
    for name in ("botocore", "boto3", "s3transfer", "urllib3"):
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLevelName(level)))


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    logger.log(level, event, extra={"fields": fields})
