"""Job ids and job tokens.

A token is 256 random bits, shown to the client once and stored only as `hash_token(token)`.
A job created with an `Idempotency-Key` must hand the same token back on a repeat without the
token ever being stored, so its token is derived instead:

    token = base64url(HMAC-SHA256(signing_secret, "job-token\\0" + job_id + "\\0" + key))

(no padding). Anyone holding the idempotency key can therefore recover the token from the api:
clients must treat the key like a secret (a random UUID), which is why it must be ≥ 16 characters.
Rotating `signing_secret` invalidates nothing stored; it only stops repeats of old keys matching.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

# Printable ASCII without spaces; documented in the OpenAPI schema with this same pattern.
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{16,255}$"
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{16,255}")


def valid_idempotency_key(value: str) -> str | None:
    """The key without surrounding whitespace (not part of an HTTP field value), or None."""
    key = value.strip(" \t\r\n")
    return key if _IDEMPOTENCY_KEY.fullmatch(key) else None


def new_job_id() -> str:
    """128 random bits, URL-safe: ids are not guessable and never hold user input."""
    return secrets.token_urlsafe(16)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def idempotent_token(signing_secret: str, job_id: str, idempotency_key: str) -> str:
    message = f"job-token\0{job_id}\0{idempotency_key}".encode()
    digest = hmac.new(signing_secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
