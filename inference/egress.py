"""Egress guard: model endpoints (the LLM, any remote embedding server) must stay inside the organisation.

Every configured endpoint must resolve, with *all* its addresses, to a network in ``ALLOWED_MODEL_NETWORKS``
(default: loopback and private ranges). A public address, link-local (cloud metadata services live there)
or a name that does not resolve is refused: the process does not start, and /api/v1/health flags it.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class EgressRefused(Exception):
    """A model endpoint points outside the allowed networks. The message says which and why."""


@dataclass(frozen=True)
class Endpoint:
    setting: str
    url: str


def allowed_networks() -> list[Network]:
    networks: list[Network] = []
    for cidr in settings.ALLOWED_MODEL_NETWORKS:
        try:
            networks.append(ipaddress.ip_network(cidr, strict=False))
        except ValueError as exc:
            raise EgressRefused(f"ALLOWED_MODEL_NETWORKS has an invalid network {cidr!r}: {exc}") from exc
    return networks


def configured_endpoints() -> list[Endpoint]:
    return [
        Endpoint(name, url)
        for name in ("LLM_BASE_URL", "EMBEDDING_BASE_URL")
        if (url := getattr(settings, name, ""))
    ]


def check_url(url: str, *, setting: str = "endpoint") -> list[str]:
    """Return the addresses ``url`` resolves to, all inside the allowed networks, or raise EgressRefused."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise EgressRefused(f"{setting}={url!r} is not an http(s) URL with a host")
    host = parts.hostname
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, ValueError) as exc:
        raise EgressRefused(
            f"{setting}: cannot resolve {host!r} ({exc}); refusing an unknown destination"
        ) from exc
    addresses = sorted({str(info[4][0]).split("%", 1)[0] for info in infos})
    networks = allowed_networks()
    for address in addresses:
        ip = ipaddress.ip_address(address)
        if not any(ip in network for network in networks):
            raise EgressRefused(
                f"{setting}={url!r} resolves to {address}, outside ALLOWED_MODEL_NETWORKS "
                f"({', '.join(str(n) for n in networks)}). Emanet sends documents and questions to this "
                "endpoint, so it must be inside your network; fix the URL or, deliberately, the allow-list."
            )
    return addresses


def check_configured() -> None:
    """Raise EgressRefused for the first configured endpoint outside the allowed networks."""
    for endpoint in configured_endpoints():
        check_url(endpoint.url, setting=endpoint.setting)
