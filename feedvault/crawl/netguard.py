"""SSRF guard: which URLs a crawl may fetch.

Only http/https. Hosts that resolve to loopback, private, link-local, cloud-metadata, multicast, reserved or
unspecified addresses are refused unless the feed explicitly allows private networks. Every resolved address
must pass (a name with one public and one private address is refused).

The crawler (``spiders.middlewares.NetworkGuardMiddleware``) resolves each host once per run, in a thread,
judges that answer by each feed's policy, and pins it in Scrapy's DNS cache, so the connection goes to the
address that was judged (no DNS rebinding between check and connect). Scrapy's resolver is IPv4-only; a host
with no IPv4 address is not pinned. Deployments that fetch untrusted feeds should still egress through a
proxy that enforces this policy too.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

ALLOWED_SCHEMES = frozenset({"http", "https"})
# Cloud metadata endpoints (AWS/GCP/Azure/OpenStack v4, AWS IPv6, Alibaba).
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200"))
# Tests set this so that nothing can ever leave the machine, whatever a registry says.
LOOPBACK_ONLY_ENV = "FEEDVAULT_LOOPBACK_ONLY"


class RefusedURL(Exception):
    """A URL the guard will not fetch; ``reason`` is a short machine-friendly code."""

    def __init__(self, url: str, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {url}" + (f" ({detail})" if detail else ""))
        self.url = url
        self.reason = reason
        self.detail = detail


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


def address_problem(address: IPAddress) -> str | None:
    """Why an address is not a public unicast one, or None if it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return "cloud-metadata"
    for attribute, reason in (
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_unspecified", "unspecified"),
        ("is_private", "private"),
        ("is_reserved", "reserved"),
    ):
        if getattr(address, attribute):
            return reason
    if isinstance(address, ipaddress.IPv4Address) and address in ipaddress.ip_network("100.64.0.0/10"):
        return "shared-address-space"
    return None


@dataclass(frozen=True)
class NetworkPolicy:
    """``allow_private`` lets a feed reach non-public addresses (demo and test publishers on loopback).

    ``allowed_networks``, when given, narrows that to these networks (e.g. ``127.0.0.1/32``).
    """

    allow_private: bool = False
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    resolver: Resolver = _system_resolver

    @classmethod
    def from_setting(cls, value: bool | list[str] | tuple[str, ...], resolver: Resolver | None = None) -> NetworkPolicy:
        networks: tuple = ()
        if isinstance(value, list | tuple):
            networks = tuple(ipaddress.ip_network(n, strict=False) for n in value)
        return cls(allow_private=bool(value), allowed_networks=networks, resolver=resolver or _system_resolver)

    def check(self, url: str) -> list[str]:
        """Return the addresses the URL resolves to, or raise :class:`RefusedURL`."""
        host, port, literal = self.locate(url)
        return self.judge(url, literal if literal is not None else self.resolve(url, host, port))

    def locate(self, url: str) -> tuple[str, int, list[IPAddress] | None]:
        """``(host, port, [address])`` for an IP literal, ``(host, port, None)`` for a name to resolve."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            raise RefusedURL(url, "unsupported-scheme", scheme or "no scheme")
        host = parts.hostname
        if not host:
            raise RefusedURL(url, "no-host")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise RefusedURL(url, "bad-port") from None
        try:
            return host, port, [ipaddress.ip_address(host)]
        except ValueError:
            return host, port, None

    def resolve(self, url: str, host: str, port: int) -> list[IPAddress]:
        """The name's addresses (blocking: the crawler calls it in a thread, once per host and run)."""
        try:
            addresses = [ipaddress.ip_address(a.split("%")[0]) for a in self.resolver(host, port)]
        except (OSError, UnicodeError) as exc:
            raise RefusedURL(url, "unresolvable", str(exc)) from None
        if not addresses:
            raise RefusedURL(url, "unresolvable", "no addresses")
        return addresses

    def judge(self, url: str, addresses: list[IPAddress]) -> list[str]:
        """``addresses`` as strings if every one may be fetched under this policy, else :class:`RefusedURL`."""
        loopback_only = os.environ.get(LOOPBACK_ONLY_ENV) == "1"
        for address in addresses:
            if loopback_only and not address.is_loopback:
                raise RefusedURL(url, "not-loopback", f"{address} ({LOOPBACK_ONLY_ENV}=1)")
            problem = address_problem(address)
            if problem is None:
                continue
            if not self.allow_private or problem == "cloud-metadata":
                raise RefusedURL(url, "private-address", f"{address} is {problem}")
            if self.allowed_networks and not any(address in net for net in self.allowed_networks):
                raise RefusedURL(url, "private-address", f"{address} is {problem} and not in the allowed networks")
        return [str(a) for a in addresses]
