"""Outbound address policy: which hosts the server may contact on a user's behalf.

Webhooks (and later warehouse connections) take URLs from admins; without this an admin
could make the worker reach loopback services, the private network or the cloud metadata
endpoint and read the answers back (SSRF). The policy: only globally routable addresses
(Python's `ipaddress` `is_global`), IPv4 embedded in IPv6 judged as the IPv4 it carries,
odd IPv4 spellings read the way libc's inet_aton reads them, no credentials in URLs, https
only — except for hosts the operator names in GATEHOUSE_WEBHOOK_ALLOWED_HOSTS.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import SplitResult, urlsplit

from django.conf import settings

from console.exceptions import DomainError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
# Never reachable, even if a cloud's metadata address were global somewhere.
_METADATA = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("169.254.170.2"),
    ipaddress.ip_address("100.100.100.200"),
    ipaddress.ip_address("fd00:ec2::254"),
}
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


class UnsafeURL(DomainError):
    """The URL points where the server must not send requests."""


def _refuse(message: str, code: str) -> UnsafeURL:
    return UnsafeURL(message, code=code, field="url")


def parse_ip(host: str) -> IPAddress | None:
    """The address a host literal means, or None for a DNS name. Reads `127.1`,
    `2130706433`, `0177.0.0.1` and `0x7f.1` as libc does (they all mean 127.0.0.1)."""
    host = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if host and all(part and (part[0].isdigit()) for part in host.split(".")):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in _NAT64 or address in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if int(address) >> 32 == 0:  # IPv4-compatible ::a.b.c.d (and ::, ::1 themselves)
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_allowed(address: IPAddress) -> bool:
    """True for a globally routable unicast address (and whatever IPv4 it embeds)."""
    if address in _METADATA or address.is_multicast or not address.is_global:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return address_allowed(embedded)
    return True


def allowed_hosts() -> set[str]:
    """The operator's allow-list: lowercase `host` or `host:port` entries."""
    value = getattr(settings, "GATEHOUSE_WEBHOOK_ALLOWED_HOSTS", ())
    if isinstance(value, str):
        value = value.split(",")
    return {entry.strip().lower().rstrip(".") for entry in value if entry.strip()}


def _port(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme.lower() == "https" else 80)


def host_is_allowlisted(parts: SplitResult) -> bool:
    host = (parts.hostname or "").rstrip(".").lower()
    listed = allowed_hosts()
    return (
        host in listed
        or f"{host}:{_port(parts)}" in listed
        or (":" in host and f"[{host}]:{_port(parts)}" in listed)
    )


def check_url(url: str) -> SplitResult:
    """Refuse (UnsafeURL with a stable code) a URL the server must not call; no DNS here
    (names are checked when they are resolved, at send time)."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise _refuse("Webhook URLs cannot contain a user name or password.", "url_credentials")
    listed = host_is_allowlisted(parts)
    if parts.scheme.lower() != "https" and not listed:
        raise _refuse("Webhook URLs must start with https://.", "https_required")
    if listed:
        return parts
    host = (parts.hostname or "").rstrip(".").lower()
    if host in _LOCAL_NAMES or host.endswith(".localhost") or host.endswith(".local"):
        raise _refuse("Webhook URLs cannot point to this server.", "forbidden_address")
    address = parse_ip(host)
    if address is not None and not address_allowed(address):
        raise _refuse(
            "Webhook URLs cannot point to private, loopback, link-local or reserved addresses.",
            "forbidden_address",
        )
    return parts


def resolve(parts: SplitResult) -> list[IPAddress]:
    """Check the URL, resolve its host and return the addresses to connect to; refuse when
    any address is not allowed (a name with one private address is a rebinding tool).
    Allow-listed hosts may resolve anywhere. Raises OSError when DNS fails."""
    check_url(parts.geturl())
    host = (parts.hostname or "").rstrip(".")
    literal = parse_ip(host)
    if literal is not None:
        return [literal]
    infos = socket.getaddrinfo(host, _port(parts), type=socket.SOCK_STREAM)
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise OSError(f"{host} has no address")
    if not host_is_allowlisted(parts):
        for address in addresses:
            if not address_allowed(address):
                raise _refuse(
                    f"{host} resolves to {address}, which webhooks may not reach.",
                    "forbidden_address",
                )
    return addresses


def resolve_host(
    host: str, port: int, *, allowed: Iterable[str], what: str, field: str = "host"
) -> list[IPAddress]:
    """The addresses to connect to for `host`:`port` (a database, not a URL), refused
    (UnsafeURL, code "forbidden_address") when the host is this server, a private,
    loopback, link-local or reserved address, or a name resolving to one, unless `allowed`
    (the operator's `host` or `host:port` entries) names it. `what` names the thing in the
    message ("Warehouses"). Raises OSError when DNS fails."""
    name = host.strip().rstrip(".").lower()
    listed = {entry.strip().lower().rstrip(".") for entry in allowed if entry.strip()}
    is_listed = name in listed or f"{name}:{port}" in listed or f"[{name}]:{port}" in listed
    refuse = f"{what} cannot be reached at private, loopback, link-local or reserved addresses."
    if not is_listed and (
        name in _LOCAL_NAMES or name.endswith(".localhost") or name.endswith(".local")
    ):
        raise UnsafeURL(f"{what} cannot be on this server.", code="forbidden_address", field=field)
    literal = parse_ip(name)
    if literal is not None:
        if not is_listed and not address_allowed(literal):
            raise UnsafeURL(refuse, code="forbidden_address", field=field)
        return [literal]
    infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise OSError(f"{host} has no address")
    if not is_listed:
        for address in addresses:
            if not address_allowed(address):
                raise UnsafeURL(
                    f"{host} resolves to {address}, a private, loopback, link-local or "
                    "reserved address.",
                    code="forbidden_address",
                    field=field,
                )
    return addresses
