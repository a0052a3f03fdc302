"""The webhook URL policy, with a fake resolver standing in for DNS."""

from __future__ import annotations

import pytest

from service.alerts.urlpolicy import ForbiddenUrl, UnresolvableHost, UrlPolicy


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
        "hooks.example.com": ["203.0.113.10"],
        "finance.corp": ["10.1.2.3"],
        "rebind.example.com": ["203.0.113.11", "169.254.169.254"],
        "ratecard.example.com": ["203.0.113.50"],
        "localhost": ["127.0.0.1", "::1"],
    }
)


def policy(**overrides) -> UrlPolicy:
    options = {
        "host": "127.0.0.1",
        "port": 8000,
        "service_url": "https://ratecard.example.com",
        "allow_loopback": False,
        "resolve": DNS,
    }
    options.update(overrides)
    return UrlPolicy.for_service(**options)


def test_public_and_private_network_receivers_are_allowed():
    checked = policy().check("https://hooks.example.com/ratecard?team=ml", resolve=DNS)
    assert (checked.host, checked.port, checked.addresses) == (
        "hooks.example.com",
        443,
        ("203.0.113.10",),
    )
    assert checked.host_header == "hooks.example.com"
    assert (
        policy().check("http://finance.corp:8080/hook", resolve=DNS).host_header
        == "finance.corp:8080"
    )


def test_any_forbidden_address_among_the_resolved_ones_refuses_the_url():
    with pytest.raises(ForbiddenUrl, match="metadata"):
        policy().check("https://rebind.example.com/hook", resolve=DNS)


def test_the_service_public_name_is_refused_on_its_port():
    with pytest.raises(ForbiddenUrl, match="this service itself"):
        policy().check("https://ratecard.example.com/v1/keys", resolve=DNS)
    with pytest.raises(ForbiddenUrl, match="this service itself"):
        policy().check("https://203.0.113.50/v1/keys", resolve=DNS)
    # Another port on the same host is some other program.
    assert policy().check("http://ratecard.example.com:9000/hook", resolve=DNS).port == 9000


def test_a_service_bound_to_all_interfaces_refuses_its_port_on_local_addresses():
    local = resolver({"localhost": ["127.0.0.1"], "0.0.0.0": ["0.0.0.0"]})
    bound = policy(host="0.0.0.0", allow_loopback=True, resolve=local)
    with pytest.raises(ForbiddenUrl, match="this service itself"):
        bound.check("http://127.0.0.1:8000/", resolve=local)
    assert bound.check("http://127.0.0.1:9000/", resolve=local).port == 9000


def test_loopback__only_when_allowed_and_never_the_service_port():
    with pytest.raises(ForbiddenUrl, match="RATECARD_WEBHOOK_ALLOW_LOOPBACK"):
        policy().check("http://localhost:9000/", resolve=DNS)
    allowed = policy(allow_loopback=True)
    assert allowed.check("http://localhost:9000/", resolve=DNS).addresses == ("127.0.0.1", "::1")
    with pytest.raises(ForbiddenUrl, match="this service itself"):
        allowed.check("http://[::1]:8000/", resolve=DNS)


@pytest.mark.parametrize(
    "address",
    [
        "169.254.0.1",
        "fe80::1",
        "100.100.100.200",
        "168.63.129.16",
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "64:ff9b::a9fe:a9fe",
        "2002:a9fe:a9fe::1",
    ],
)
def test_forbidden_addresses(address: str):
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(ForbiddenUrl):
        policy(allow_loopback=True).check(f"http://{host}:9000/", resolve=DNS)


def test_unresolvable_host():
    with pytest.raises(UnresolvableHost):
        policy().check("https://nowhere.example.org/", resolve=DNS)
