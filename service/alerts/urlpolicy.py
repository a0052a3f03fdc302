"""Which webhook URLs the service may call (server-side request forgery guard).

Refused: schemes other than http(s), credentials in the URL, cloud metadata names and addresses,
link-local, unspecified, multicast and reserved addresses, loopback (unless the operator allows
it), and the service's own host:port (always, so an alert can never call the API that sent it).
Private networks (10/8, 172.16/12, 192.168/16) stay allowed: finance tooling usually lives there.

The same check runs when a subscription is created and again before every send, on a fresh
resolution, and the request then goes to the address that was checked (no second lookup a DNS
rebinding could answer differently).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

MAX_URL_LENGTH = 2000
METADATA_HOSTNAMES = (
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata.azure.com",
    "metadata.packet.net",
)
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, Oracle
        "169.254.170.2",  # AWS ECS task metadata
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure wire server
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "192.0.0.192",  # Oracle Cloud (classic)
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")


class ForbiddenUrl(ValueError):
    """The URL may not be called; str(exc) says why, in words fit for an API client."""


class UnresolvableHost(ValueError):
    """The host name does not resolve (may be transient at send time)."""


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvableHost(f"cannot resolve host {host!r}: {exc}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class CheckedUrl:
    url: str
    scheme: str
    host: str  # lower-case, without brackets or trailing dot
    port: int
    addresses: tuple[str, ...]  # every resolved address, all allowed; send to the first

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return shown if self.port == default else f"{shown}:{self.port}"


@dataclass(frozen=True)
class UrlPolicy:
    allow_loopback: bool = False
    own_ports: frozenset[int] = frozenset()
    own_hosts: frozenset[str] = frozenset()
    own_addresses: frozenset[IPAddress] = frozenset()
    binds_all_interfaces: bool = False
    local_addresses: frozenset[IPAddress] = field(default_factory=frozenset)

    @classmethod
    def for_service(
        cls,
        *,
        host: str,
        port: int,
        service_url: str,
        allow_loopback: bool,
        resolve: Resolver = system_resolver,
    ) -> UrlPolicy:
        ports = {port}
        hosts = {_clean_host(host)} if host else set()
        parts = urlsplit(service_url)
        if parts.hostname:
            hosts.add(_clean_host(parts.hostname))
            with contextlib.suppress(ValueError):  # a malformed service_url port: names still match
                ports.add(parts.port or (443 if parts.scheme == "https" else 80))
        addresses: set[IPAddress] = set()
        for name in hosts:
            addresses.update(_resolve_quietly(name, port, resolve))
        binds_all = _clean_host(host) in ("0.0.0.0", "::", "")  # noqa: S104 - comparing, not binding
        local: set[IPAddress] = set()
        if binds_all:
            local.update(_resolve_quietly(socket.gethostname(), port, resolve))
        return cls(
            allow_loopback=allow_loopback,
            own_ports=frozenset(ports),
            own_hosts=frozenset(hosts),
            own_addresses=frozenset(addresses),
            binds_all_interfaces=binds_all,
            local_addresses=frozenset(local),
        )

    def check(self, url: str, *, resolve: Resolver = system_resolver) -> CheckedUrl:
        """Parse, resolve and vet a webhook URL; raises ForbiddenUrl or UnresolvableHost."""
        if len(url) > MAX_URL_LENGTH:
            raise ForbiddenUrl(f"webhook URLs are limited to {MAX_URL_LENGTH} characters")
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise ForbiddenUrl(
                f"webhook URLs must use http or https, not {scheme or 'no scheme'!r}"
            )
        if not parts.hostname:
            raise ForbiddenUrl("webhook URL has no host")
        if parts.username is not None or parts.password is not None:
            raise ForbiddenUrl(
                "webhook URLs must not carry credentials; the signing secret authenticates us"
            )
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise ForbiddenUrl("webhook URL has an invalid port") from None
        host = _clean_host(parts.hostname)
        if any(host == name or host.endswith("." + name) for name in METADATA_HOSTNAMES):
            raise ForbiddenUrl(f"{host} is a cloud metadata service")
        if port in self.own_ports and host in self.own_hosts:
            raise ForbiddenUrl("webhook URL points at this service itself")
        addresses = resolve(host, port)
        if not addresses:
            raise UnresolvableHost(f"cannot resolve host {host!r}")
        for text in addresses:
            self._check_address(ipaddress.ip_address(text.split("%", 1)[0]), port, host)
        return CheckedUrl(
            url=url.strip(), scheme=scheme, host=host, port=port, addresses=tuple(addresses)
        )

    def _check_address(self, address: IPAddress, port: int, host: str) -> None:
        shown = host if host == str(address) else f"{host} ({address})"
        for candidate in _views(address):
            if candidate in METADATA_ADDRESSES:
                raise ForbiddenUrl(f"{shown} is a cloud metadata address")
            if candidate.is_link_local:
                raise ForbiddenUrl(f"{shown} is a link-local address")
            if candidate.is_unspecified or candidate in _THIS_NETWORK:
                raise ForbiddenUrl(f"{shown} is not a routable address")
            if candidate.is_multicast or (candidate.is_reserved and not candidate.is_loopback):
                raise ForbiddenUrl(f"{shown} is a multicast or reserved address")
            if port in self.own_ports and (
                candidate in self.own_addresses
                or candidate.is_loopback
                or (self.binds_all_interfaces and candidate in self.local_addresses)
            ):
                raise ForbiddenUrl("webhook URL points at this service itself")
            if candidate.is_loopback and not self.allow_loopback:
                raise ForbiddenUrl(
                    f"{shown} is a loopback address; a receiver on the service's own host is "
                    "usually a mistake (set RATECARD_WEBHOOK_ALLOW_LOOPBACK=true to allow it)"
                )


def _clean_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def _views(address: IPAddress) -> Iterable[IPAddress]:
    """The address and any IPv4 address embedded in it (mapped, 6to4, NAT64), checked alike."""
    yield address
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            yield address.ipv4_mapped
        if address.sixtofour is not None:
            yield address.sixtofour
        if address in _NAT64:
            yield ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)


def _resolve_quietly(name: str, port: int, resolve: Resolver) -> set[IPAddress]:
    try:
        return {ipaddress.ip_address(a.split("%", 1)[0]) for a in resolve(name, port)}
    except (UnresolvableHost, ValueError):
        return set()
