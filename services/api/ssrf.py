"""Webhook URLs must not point the service at itself or its private network (SSRF).

The api checks at create time; the worker that delivers the webhook must check again at send
time (DNS can change between the two).
"""

from __future__ import annotations

import ipaddress
import socket

import anyio

_RESOLVE_TIMEOUT_S = 3.0


class WebhookRefused(ValueError):
    """The URL's host is not a public address (or cannot be resolved)."""


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def resolve_host(host: str, port: int) -> list[str]:
    with anyio.fail_after(_RESOLVE_TIMEOUT_S):
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


async def check_webhook_host(host: str | None, port: int | None, allow_private: bool) -> None:
    """Raise WebhookRefused unless every address `host` resolves to is public."""
    if allow_private:
        return
    if not host:
        raise WebhookRefused("webhook_url has no host")
    try:
        addresses = await resolve_host(host.strip("[]"), port or 443)
    except (OSError, TimeoutError) as exc:
        raise WebhookRefused(f"webhook_url host {host!r} cannot be resolved") from exc
    private = [a for a in addresses if not is_public_address(a)]
    if not addresses or private:
        raise WebhookRefused(
            f"webhook_url host {host!r} resolves to a loopback, private, link-local or otherwise "
            "non-public address; webhooks may only go to public hosts"
        )
