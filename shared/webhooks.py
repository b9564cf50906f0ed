"""Completion webhooks: who may be called (no loopback or private networks unless allowed), how a
call is signed (HMAC-SHA256 over timestamp and body), and how a receiver verifies it."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import time
from typing import Any
from urllib.parse import urlsplit

SIGNATURE_HEADER = "X-SpeakUp-Signature"
TIMESTAMP_HEADER = "X-SpeakUp-Timestamp"
DELIVERY_HEADER = "X-SpeakUp-Delivery"


class WebhookRefused(ValueError):
    """The URL points somewhere SpeakUp must not call."""


def check_url(url: str, *, allow_private: bool = False) -> None:
    """Raise WebhookRefused unless `url` is http(s) to public addresses only (every A/AAAA)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused("webhook_url must be an http(s) URL with a host name")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise WebhookRefused(f"webhook host {parts.hostname!r} does not resolve") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global or address.is_multicast:
            raise WebhookRefused("webhook_url resolves to a loopback, private or reserved address")


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


def verify(secret: bytes, timestamp: str, body: bytes, signature: str, *,
           tolerance_s: int = 300, now: float | None = None) -> bool:
    """The example verifier receivers copy: checks the signature and that it is recent."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)


def build_request(
    secret: bytes, delivery_id: str, payload: dict[str, Any]
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    ts = int(time.time())
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(secret, ts, body),
        TIMESTAMP_HEADER: str(ts),
        DELIVERY_HEADER: delivery_id,
        "User-Agent": "SpeakUp-Webhook/1",
    }
    return body, headers
