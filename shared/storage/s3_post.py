"""S3 presigned POST forms signed here, with botocore's algorithm and byte for byte its output.

botocore's `generate_presigned_post` costs ≈ 1.9 ms of CPU a call (endpoint rules, request
serialisation and event hooks for a form that never leaves this process) — most of an upload
create's CPU. The form itself is simple (AWS, "Authenticating requests in browser-based uploads
using POST (SigV4)"): a JSON policy, base64-encoded, signed with HMAC-SHA256 under the key derived
from secret → date → region → "s3" → "aws4_request". The derived key changes once a day, so it is
cached; a call is one JSON dump and one HMAC. `tests/shared/test_storage_s3_post.py` holds it equal
to botocore's fields for the same instant; `benchmarks/presign.py` measures both.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

ALGORITHM = "AWS4-HMAC-SHA256"
_EXPIRATION = "%Y-%m-%dT%H:%M:%SZ"  # botocore.auth.ISO8601
_TIMESTAMP = "%Y%m%dT%H%M%SZ"  # botocore.auth.SIGV4_TIMESTAMP


@dataclass(frozen=True)
class PostCredentials:
    access_key: str
    secret_key: str
    token: str | None = None


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


class PostSigner:
    """Presigned POST fields for one bucket and region; ``now`` is naive UTC, like botocore's."""

    def __init__(self, bucket: str, region: str) -> None:
        self.bucket = bucket
        self.region = region
        self._keys: dict[tuple[str, str], bytes] = {}

    def signing_key(self, secret_key: str, day: str) -> bytes:
        cached = self._keys.get((secret_key, day))
        if cached is None:
            key = _hmac(f"AWS4{secret_key}".encode(), day)
            for part in (self.region, "s3", "aws4_request"):
                key = _hmac(key, part)
            self._keys = {(secret_key, day): key}  # one day, one secret: nothing accumulates
            cached = key
        return cached

    def fields(self, key: str, *, content_type: str, max_bytes: int, expires_s: int,
               credentials: PostCredentials, now: datetime) -> dict[str, str]:
        """The form fields, in botocore's order, for the conditions the api always asks for:
        this content type, 1..``max_bytes`` bytes, this bucket and key, ``expires_s`` from now."""
        timestamp = now.strftime(_TIMESTAMP)
        day = timestamp[:8]
        credential = f"{credentials.access_key}/{day}/{self.region}/s3/aws4_request"
        fields = {"Content-Type": content_type, "key": key, "x-amz-algorithm": ALGORITHM,
                  "x-amz-credential": credential, "x-amz-date": timestamp}  # fmt: skip
        conditions: list[object] = [
            {"Content-Type": content_type}, ["content-length-range", 1, max_bytes],
            {"bucket": self.bucket}, {"key": key}, {"x-amz-algorithm": ALGORITHM},
            {"x-amz-credential": credential}, {"x-amz-date": timestamp},
        ]  # fmt: skip
        if credentials.token is not None:
            fields["x-amz-security-token"] = credentials.token
            conditions.append({"x-amz-security-token": credentials.token})
        expiration = (now + timedelta(seconds=expires_s)).strftime(_EXPIRATION)
        policy = json.dumps({"expiration": expiration, "conditions": conditions})
        fields["policy"] = base64.b64encode(policy.encode()).decode()
        fields["x-amz-signature"] = hmac.new(
            self.signing_key(credentials.secret_key, day), fields["policy"].encode(), hashlib.sha256
        ).hexdigest()
        return fields
