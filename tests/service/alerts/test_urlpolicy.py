"""The webhook URL policy: public addresses only, unless the operator names a network.

A fake resolver stands in for DNS, except where the real one ("localhost") or the host's real
interface addresses are the point.
"""

from __future__ import annotations

import ipaddress
import re
import socket

import psutil
import pytest

from service.alerts.urlpolicy import ForbiddenUrl, UnresolvableHost, UrlPolicy, system_resolver


def resolver(table: dict[str, list[str]]):
    def resolve(host: str, port: int) -> list[str]:
        if host in table:
            return table[host]
        if host.replace(".", "").isdigit() or ":" in host:
            return [host]
        raise UnresolvableHost(f"cannot resolve host {host!r}")

    return resolve


DNS = resolver(
    {
        "hooks.example.com": ["93.184.216.34"],
        "finance.corp": ["10.1.2.3"],
        "rebind.example.com": ["8.8.8.8", "169.254.169.254"],
        "half-private.example.com": ["8.8.8.8", "192.168.1.20"],
        "ratecard.example.com": ["8.8.4.4"],
        "localhost": ["127.0.0.1", "::1"],
    }
)
PUBLIC = "http://8.8.8.8:9000/hook"


def policy(**overrides) -> UrlPolicy:
    options = {
        "host": "127.0.0.1",
        "port": 8000,
        "service_url": "https://ratecard.example.com",
        "allowed_networks": "",
        "resolve": DNS,
        "host_addresses": frozenset(),
    }
    options.update(overrides)
    return UrlPolicy.for_service(**options)


def url_for(address: str, port: int = 9000) -> str:
    return f"http://[{address}]:{port}/" if ":" in address else f"http://{address}:{port}/"


def test_public_receivers_are_allowed_and_keep_their_name():
    checked = policy().check("https://hooks.example.com/ratecard?team=ml", resolve=DNS)
    assert (checked.host, checked.port, checked.addresses) == (
        "hooks.example.com",
        443,
        ("93.184.216.34",),
    )
    assert checked.host_header == "hooks.example.com"
    assert policy().check(PUBLIC, resolve=DNS).host_header == "8.8.8.8:9000"


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "shared"),
        ("100.127.255.254", "shared"),
        ("fc00::1", "unique-local"),
        ("fd12:3456::1", "unique-local"),
        ("fec0::1", "site-local"),
        ("169.254.0.1", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "not a routable"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("192.0.2.1", "private"),  # documentation range: not global
        ("::ffff:10.0.0.1", "carries 10.0.0.1"),
        ("::ffff:127.0.0.1", "carries 127.0.0.1"),
        ("2002:a00:1::1", "carries 10.0.0.1"),  # 6to4 around a private address
        ("2002:c0a8:101::1", "carries 192.168.1.1"),
        ("64:ff9b::a00:1", "carries 10.0.0.1"),  # NAT64
        # Teredo: server 65.54.227.120, client 10.0.0.1 (stored inverted: 0xf5ff fffe)
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "carries 10.0.0.1"),
    ],
)
def test_default__refuses_every_address_that_is_not_public(address: str, why: str):
    with pytest.raises(ForbiddenUrl, match=why) as refused:
        policy().check(url_for(address), resolve=DNS)
    assert "RATECARD_WEBHOOK_ALLOWED_NETWORKS" in str(refused.value)


def test_translation_forms__judged_by_every_ipv4_address_they_carry():
    teredo_public_client = "2001:0:4136:e378:8000:63bf:f7f7:f7f7"  # client 8.8.8.8
    assert ipaddress.ip_address(teredo_public_client).teredo is not None
    policy().check(url_for(teredo_public_client), resolve=DNS)  # server and client public
    policy().check(url_for("::ffff:8.8.8.8"), resolve=DNS)
    policy().check(url_for("2002:808:808::1"), resolve=DNS)
    with pytest.raises(ForbiddenUrl):
        policy().check(url_for("2001:0:a00:1:8000:63bf:f7f7:f7f7"), resolve=DNS)  # server 10.0.0.1


def test_default__refuses_a_name_that_resolves_to_a_private_address():
    with pytest.raises(ForbiddenUrl, match=r"finance\.corp \(10\.1\.2\.3\) is a private"):
        policy().check("http://finance.corp:8080/hook", resolve=DNS)


def test_default__compose_neighbours_are_refused():
    # In compose, "postgres" and the other replica resolve to the project's private network.
    compose = resolver({"postgres": ["172.18.0.2"], "api": ["172.18.0.4", "172.18.0.5"]})
    for url in ("http://postgres:5432/", "http://api:8000/v1/keys"):
        with pytest.raises(ForbiddenUrl, match="private"):
            policy().check(url, resolve=compose)


def test_default__localhost_through_the_real_resolver_is_refused():
    with pytest.raises(ForbiddenUrl, match="loopback"):
        policy().check("http://localhost:9000/", resolve=system_resolver)


def test_any_refused_address_among_the_resolved_ones_refuses_the_url():
    with pytest.raises(ForbiddenUrl, match="metadata"):
        policy().check("https://rebind.example.com/hook", resolve=DNS)
    with pytest.raises(ForbiddenUrl, match="private"):
        policy().check("https://half-private.example.com/hook", resolve=DNS)


def real_host_addresses() -> list[str]:
    """This machine's own interface addresses, loopback aside (what a webhook must not reach)."""
    found = {
        entry.address.split("%", 1)[0]
        for entries in psutil.net_if_addrs().values()
        for entry in entries
        if entry.family in (socket.AF_INET, socket.AF_INET6)
    }
    with_host_name = found | set(system_resolver(socket.gethostname(), 5432))
    return sorted(a for a in with_host_name if not ipaddress.ip_address(a).is_loopback)


def test_default__refuses_the_host_s_own_interface_addresses():
    # The service's policy finds them itself (no host_addresses given): e.g. PostgreSQL's port.
    own = UrlPolicy.for_service(
        host="0.0.0.0", port=8000, service_url="http://127.0.0.1:8000", allowed_networks=""
    )
    addresses = real_host_addresses()
    assert addresses, "this machine has no address besides loopback"
    for address in addresses:
        with pytest.raises(ForbiddenUrl):
            own.check(url_for(address, 5432), resolve=system_resolver)


def test_host_addresses_are_refused_even_when_public():
    public_host = policy(host_addresses=frozenset({ipaddress.ip_address("8.8.8.8")}))
    with pytest.raises(ForbiddenUrl, match="an address of this host"):
        public_host.check("http://8.8.8.8:5432/", resolve=DNS)


def test_allowed_networks__open_exactly_the_named_networks():
    internal = policy(allowed_networks="10.1.0.0/16, fd00::/8")
    assert internal.check("http://finance.corp:8080/hook", resolve=DNS).addresses == ("10.1.2.3",)
    assert internal.check(url_for("fd00::5"), resolve=DNS).port == 9000
    assert internal.check(url_for("::ffff:10.1.9.9"), resolve=DNS).port == 9000
    for outside in ("10.2.0.1", "192.168.1.1", "127.0.0.1", "fc00::1"):
        with pytest.raises(ForbiddenUrl):
            internal.check(url_for(outside), resolve=DNS)


def test_allowed_networks__a_bad_entry_is_refused_with_its_name():
    with pytest.raises(ValueError, match=re.escape("'10.1.0.0/99'")):
        policy(allowed_networks="10.0.0.0/8,10.1.0.0/99")


def test_allowed_networks__never_open_metadata_or_the_service_itself():
    everything = policy(allowed_networks="0.0.0.0/0,::/0")
    with pytest.raises(ForbiddenUrl, match="metadata"):
        everything.check("http://169.254.169.254/latest/meta-data/", resolve=DNS)
    with pytest.raises(ForbiddenUrl, match="metadata"):
        everything.check(url_for("fd00:ec2::254"), resolve=DNS)
    with pytest.raises(ForbiddenUrl, match="this service itself"):
        everything.check("http://127.0.0.1:8000/v1/keys", resolve=DNS)
    with pytest.raises(ForbiddenUrl, match="this service itself"):
        everything.check("http://[::1]:8000/", resolve=DNS)


def test_the_service_public_name_is_refused_on_its_port():
    with pytest.raises(ForbiddenUrl, match="this service itself"):
        policy().check("https://ratecard.example.com/v1/keys", resolve=DNS)
    with pytest.raises(ForbiddenUrl, match="this service itself"):
        policy().check("https://8.8.4.4/v1/keys", resolve=DNS)
    # Another port on the same host is some other program.
    assert policy().check("http://ratecard.example.com:9000/hook", resolve=DNS).port == 9000


def test_a_service_bound_to_all_interfaces_refuses_its_port_on_its_host_addresses():
    bound = policy(
        host="0.0.0.0",
        allowed_networks="127.0.0.0/8,10.0.0.0/8",
        host_addresses=frozenset({ipaddress.ip_address("10.9.9.9")}),
    )
    with pytest.raises(ForbiddenUrl, match="this service itself"):
        bound.check("http://10.9.9.9:8000/", resolve=DNS)
    assert bound.check("http://10.9.9.9:9000/", resolve=DNS).port == 9000
    assert bound.check("http://127.0.0.1:9000/", resolve=DNS).port == 9000


@pytest.mark.parametrize(
    "url",
    ["ftp://8.8.8.8/", "http://user:pw@8.8.8.8/", "http:///nohost", "http://8.8.8.8:99999/"],
)
def test_malformed_or_credentialed_urls_are_refused(url: str):
    with pytest.raises(ForbiddenUrl):
        policy().check(url, resolve=DNS)


def test_unresolvable_host():
    with pytest.raises(UnresolvableHost):
        policy().check("https://nowhere.example.org/", resolve=DNS)
