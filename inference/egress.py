"""Egress guard: model endpoints (the LLM, any remote embedding server) must stay inside the organisation.

Every configured endpoint must resolve, with *all* its addresses, to a network in ``ALLOWED_MODEL_NETWORKS``
(default: loopback and private ranges). A public address, link-local (cloud metadata services live there)
or a name that does not resolve is refused: the process does not start, and /api/v1/health flags it.

DNS can change after start-up, so the check is repeated on every connection: ``guarded_transport()`` is an
httpx transport whose network backend resolves the host, checks every address, and connects to a checked
address itself (never to the name again, which could resolve differently a moment later). TLS still verifies
the certificate against the host name.

Model URLs may carry credentials (``http://user:secret@host/v1``, ``?api_key=…``): every message here shows
the URL through ``redact_url``, never as configured.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpcore
import httpx
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


def redact_url(url: str) -> str:
    """``url`` fit for a message or a log: no user name or password, no query values, no fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparsable URL>"
    if ":" in host:
        host = f"[{host}]"
    netloc = ("***@" if parts.username is not None or parts.password is not None else "") + host
    if port is not None:
        netloc += f":{port}"
    query = urlencode([(key, "***") for key, _ in parse_qsl(parts.query, keep_blank_values=True)])
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _refusal(shown: str, address: str, networks: Iterable[Network]) -> EgressRefused:
    return EgressRefused(
        f"{shown} resolves to {address}, outside ALLOWED_MODEL_NETWORKS "
        f"({', '.join(str(n) for n in networks)}). Emanet sends documents and questions to this "
        "endpoint, so it must be inside your network; fix the URL or, deliberately, the allow-list."
    )


def resolve_checked(host: str, port: int, *, shown: str) -> list[str]:
    """Resolve ``host`` now and return its addresses, every one inside the allowed networks, or raise
    EgressRefused (naming ``shown``, a redacted description of the endpoint)."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        raise EgressRefused(
            f"{shown}: cannot resolve {host!r} ({exc}); refusing an unknown destination"
        ) from exc
    # Keep the resolver's order (it prefers reachable families), without duplicates or IPv6 zone ids.
    addresses = list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))
    if not addresses:
        raise EgressRefused(f"{shown}: {host!r} resolves to no address; refusing an unknown destination")
    networks = allowed_networks()
    for address in addresses:
        ip = ipaddress.ip_address(address)
        if not any(ip in network for network in networks):
            raise _refusal(shown, address, networks)
    return addresses


def check_url(url: str, *, setting: str = "endpoint") -> list[str]:
    """Return the addresses ``url`` resolves to, all inside the allowed networks, or raise EgressRefused."""
    shown = f"{setting}={redact_url(url)!r}"
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise EgressRefused(f"{shown} is not an http(s) URL with a host") from exc
    if parts.scheme not in {"http", "https"} or not host:
        raise EgressRefused(f"{shown} is not an http(s) URL with a host")
    return sorted(resolve_checked(host, port or (443 if parts.scheme == "https" else 80), shown=shown))


def check_configured() -> None:
    """Raise EgressRefused for the first configured endpoint outside the allowed networks."""
    for endpoint in configured_endpoints():
        check_url(endpoint.url, setting=endpoint.setting)


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's network backend with the egress check on every new connection (see the module docstring).

    Raises EgressRefused, which httpx does not wrap: callers turn it into their own error, never a retry."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = resolve_checked(host, port, shown=f"the model endpoint {host}:{port}")
        errors: list[Exception] = []
        for address in addresses:  # never empty: resolve_checked raises instead
            try:
                # An IP literal: create_connection does not resolve it again, so what is checked is what is used.
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                errors.append(exc)
        raise errors[-1]


class GuardedTransport(httpx.HTTPTransport):
    """httpx's HTTP transport over GuardedBackend. No proxy from the environment (trust_env=False): a proxy
    would make the checked address the proxy's, not the model server's."""

    def __init__(self, *, limits: httpx.Limits | None = None) -> None:
        super().__init__(trust_env=False)
        limits = limits or httpx.Limits()
        # Replaces the pool httpx built: the same pool, with the guarded backend (httpx has no parameter for it).
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(),
        )


def guarded_transport() -> GuardedTransport:
    return GuardedTransport()
