"""HMAC-SHA256 signed upload policies and download URLs for the local storage backend.

The scheme copies S3's: an upload form carries a policy (key, content type, max bytes, expiry)
and its signature; a download URL carries its expiry and a signature over key, expiry and the
download name. Each message starts with its purpose, so a signature for one kind of request
can never be replayed as another. Comparisons are constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from shared.storage.base import StorageError

MAX_EXPIRY_S = 7 * 24 * 3600  # S3's own ceiling for presigned URLs


class AccessDenied(StorageError):
    """A signed request failed verification; ``code`` is the S3 error code to answer with."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class UploadGrant:
    """What a verified upload policy allows."""

    key: str
    content_type: str
    max_bytes: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_expiry(expires_s: int) -> None:
    if not 1 <= expires_s <= MAX_EXPIRY_S:
        raise ValueError(f"expires_s must be in 1..{MAX_EXPIRY_S}, got {expires_s}")


class Signer:
    def __init__(self, secret: bytes | str, clock: Callable[[], float]) -> None:
        secret_bytes = secret.encode() if isinstance(secret, str) else bytes(secret)
        if len(secret_bytes) < 16:
            raise ValueError("the local storage signing secret must be at least 16 bytes")
        self._secret = secret_bytes
        self._clock = clock

    def _sign(self, purpose: str, *parts: str) -> str:
        message = "\n".join((purpose, *parts)).encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def post_fields(
        self, key: str, content_type: str, max_bytes: int, expires_s: int
    ) -> tuple[dict[str, str], int]:
        """The form fields of a presigned POST, and its expiry (unix seconds)."""
        check_expiry(expires_s)
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        expires = int(self._clock()) + expires_s
        policy = {"key": key, "content_type": content_type, "max_bytes": max_bytes,
                  "expires": expires}  # fmt: skip
        policy_b64 = _b64(json.dumps(policy, separators=(",", ":"), sort_keys=True).encode())
        fields = {"key": key, "Content-Type": content_type, "policy": policy_b64,
                  "signature": self._sign("post", policy_b64)}  # fmt: skip
        return fields, expires

    def verify_post(self, fields: Mapping[str, str]) -> UploadGrant:
        """Check an upload form's policy the way S3 does; raises `AccessDenied`."""
        policy_b64 = fields.get("policy", "")
        signature = fields.get("signature", "")
        if not policy_b64 or not signature:
            raise AccessDenied("AccessDenied", "Bucket POST must contain a policy and signature.")
        if not hmac.compare_digest(self._sign("post", policy_b64), signature):
            raise AccessDenied("SignatureDoesNotMatch", "The signature does not match.")
        try:
            policy = json.loads(_unb64(policy_b64))
            grant = UploadGrant(
                str(policy["key"]), str(policy["content_type"]), int(policy["max_bytes"])
            )
            expires = int(policy["expires"])
        except (ValueError, KeyError, TypeError) as exc:  # signed by us, so never in practice
            raise AccessDenied("AccessDenied", "Invalid policy document.") from exc
        if self._clock() > expires:
            raise AccessDenied("AccessDenied", "Invalid according to Policy: Policy expired.")
        if fields.get("key") != grant.key:
            raise AccessDenied("AccessDenied", "Invalid according to Policy: key.")
        if fields.get("Content-Type") != grant.content_type:
            raise AccessDenied("AccessDenied", "Invalid according to Policy: Content-Type.")
        return grant

    def get_query(self, key: str, expires_s: int, download_name: str) -> dict[str, str]:
        """The query parameters of a signed download URL."""
        check_expiry(expires_s)
        expires = str(int(self._clock()) + expires_s)
        query = {"expires": expires, "sig": self._sign("get", key, expires, download_name)}
        if download_name:
            query["dl"] = download_name
        return query

    def verify_get(self, key: str, expires: str, signature: str, download_name: str) -> None:
        expected = self._sign("get", key, expires, download_name)
        if not hmac.compare_digest(expected, signature):
            raise AccessDenied("SignatureDoesNotMatch", "The signature does not match.")
        if not expires.isdigit() or self._clock() > int(expires):
            raise AccessDenied("AccessDenied", "Request has expired")
