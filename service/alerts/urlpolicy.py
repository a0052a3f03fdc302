"""Which webhook URLs the service may call (server-side request forgery guard).

By default only public addresses are reachable: everything Python's ``ipaddress`` does not call
global is refused (loopback, private, shared 100.64/10, link-local, unique-local, site-local,
reserved, multicast), and so is every address of this host's own interfaces. IPv6 forms that
carry an IPv4 address (IPv4-mapped, 6to4, Teredo, NAT64 64:ff9b::/96) are judged by the IPv4
address they carry. An operator opens named networks for internal receivers with
``RATECARD_WEBHOOK_ALLOWED_NETWORKS``; cloud metadata addresses and this service's own host:port
stay refused even inside them.

The check runs when a subscription is created and again on every send, on a fresh resolution,
and the request then goes to an address that was checked (``service.alerts.transport``), so a
name that changes its answer (DNS rebinding) cannot slip through.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import psutil

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

ALLOWED_NETWORKS_SETTING = "RATECARD_WEBHOOK_ALLOWED_NETWORKS"
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
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
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


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """``"10.1.0.0/16, fd00::/8"`` -> networks; raises ValueError naming the bad entry."""
    networks = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not a network such as 10.1.0.0/16 or fd00::/8") from None
    return tuple(networks)


def host_interface_addresses() -> frozenset[IPAddress]:
    """Every address of this host's network interfaces (the host's own services listen there)."""
    found: set[IPAddress] = set()
    for entries in psutil.net_if_addrs().values():
        for entry in entries:
            if entry.family in (socket.AF_INET, socket.AF_INET6):
                with contextlib.suppress(ValueError):
                    found.add(ipaddress.ip_address(entry.address.split("%", 1)[0]))
    return frozenset(found)


@dataclass(frozen=True)
class CheckedUrl:
    url: str
    scheme: str
    host: str  # lower-case, without brackets or trailing dot
    port: int
    addresses: tuple[str, ...]  # every resolved address, all allowed

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return shown if self.port == default else f"{shown}:{self.port}"


@dataclass(frozen=True)
class UrlPolicy:
    allowed_networks: tuple[IPNetwork, ...] = ()
    own_ports: frozenset[int] = frozenset()
    own_hosts: frozenset[str] = frozenset()
    own_addresses: frozenset[IPAddress] = frozenset()
    host_addresses: frozenset[IPAddress] = frozenset()

    @classmethod
    def for_service(
        cls,
        *,
        host: str,
        port: int,
        service_url: str,
        allowed_networks: str | Iterable[IPNetwork] = (),
        resolve: Resolver = system_resolver,
        host_addresses: frozenset[IPAddress] | None = None,
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
        if host_addresses is None:
            host_addresses = host_interface_addresses()
            host_addresses |= _resolve_quietly(socket.gethostname(), port, resolve)
        networks = (
            parse_networks(allowed_networks)
            if isinstance(allowed_networks, str)
            else tuple(allowed_networks)
        )
        return cls(
            allowed_networks=networks,
            own_ports=frozenset(ports),
            own_hosts=frozenset(hosts),
            own_addresses=frozenset(addresses),
            host_addresses=frozenset(host_addresses),
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
            try:
                address = ipaddress.ip_address(text.split("%", 1)[0])
            except ValueError:
                raise ForbiddenUrl(f"{host} resolved to {text!r}, not an IP address") from None
            self.check_address(address, port=port, host=host)
        return CheckedUrl(
            url=url.strip(), scheme=scheme, host=host, port=port, addresses=tuple(addresses)
        )

    def check_address(self, address: IPAddress, *, port: int, host: str) -> None:
        """Raise ForbiddenUrl unless the service may connect to address:port."""
        shown = host if host == str(address) else f"{host} ({address})"
        views = [address, *embedded_ipv4(address)]
        for candidate in views:
            if candidate in METADATA_ADDRESSES:
                raise ForbiddenUrl(f"{shown} is a cloud metadata address")
            if port in self.own_ports and (
                candidate in self.own_addresses
                or candidate.is_loopback
                or candidate in self.host_addresses
            ):
                raise ForbiddenUrl("webhook URL points at this service itself")
        if self._allowed(address):
            return
        carried = views[1:]
        if carried:
            # A translation form reaches the IPv4 address it carries: judge that address.
            for inner in carried:
                if not self._allowed(inner) and (reason := self._refusal(inner)):
                    raise ForbiddenUrl(f"{shown} carries {inner}, {reason}{self._hint()}")
            return
        if reason := self._refusal(address):
            raise ForbiddenUrl(f"{shown} is {reason}{self._hint()}")

    def _allowed(self, address: IPAddress) -> bool:
        return any(address in network for network in self.allowed_networks)

    def _refusal(self, address: IPAddress) -> str | None:
        reason = not_public_reason(address)
        if reason is None and address in self.host_addresses:
            return "an address of this host"
        return reason

    @staticmethod
    def _hint() -> str:
        return (
            f"; only public addresses are allowed unless {ALLOWED_NETWORKS_SETTING} "
            "names the network"
        )


def not_public_reason(address: IPAddress) -> str | None:
    """Why an address is not public, or None when it is."""
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified or address in _THIS_NETWORK:
        return "not a routable address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address):
        if address in _SHARED:
            return "a shared (carrier-grade NAT) address"
    else:
        if address.is_site_local:
            return "a site-local address"
        if address in _UNIQUE_LOCAL:
            return "a unique-local address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "not a public address"
    return None


def embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries: IPv4-mapped, 6to4, Teredo, NAT64."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)  # (server, client); both are reached through it
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _clean_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def _resolve_quietly(name: str, port: int, resolve: Resolver) -> frozenset[IPAddress]:
    try:
        return frozenset(ipaddress.ip_address(a.split("%", 1)[0]) for a in resolve(name, port))
    except (UnresolvableHost, ValueError):
        return frozenset()
