"""What a webhook may reach at send time, and what the delivery log and listings reveal.

A small loopback HTTP server stands in for receivers whose Host header or reply body matters.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from sqlmodel import select

from service.alerts.dispatcher import AlertDispatcher
from service.alerts.models import Delivery
from service.alerts.transport import VettedTransport
from service.alerts.urlpolicy import ForbiddenUrl, UnresolvableHost, UrlPolicy, system_resolver
from service.db import session_scope
from tests.service.alerts.conftest import AlertsEnv, drain, job_payload

LEAK = "internal-db-password=hunter2"


@dataclass
class Receiver:
    port: int
    status: int = 200
    body: bytes = b""
    hosts: list[str] = field(default_factory=list)


@pytest.fixture
def raw_receiver() -> Iterator[Receiver]:
    """Records each request's Host header; answers `status` with `body`."""
    state = Receiver(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            state.hosts.append(self.headers.get("host") or "")
            self.send_response(state.status)
            self.send_header("content-length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def names(table: dict[str, list[str]]):
    def resolve(host: str, port: int) -> list[str]:
        if host in table:
            return table[host]
        raise UnresolvableHost(f"cannot resolve host {host!r}")

    return resolve


def loopback_policy() -> UrlPolicy:
    return UrlPolicy.for_service(
        host="127.0.0.1",
        port=8000,
        service_url="http://127.0.0.1:8000",
        allowed_networks="127.0.0.0/8",
        host_addresses=frozenset(),
    )


def test_transport__connects_to_the_vetted_address_keeping_the_host_header(raw_receiver):
    resolve = names({"hooks.test": ["127.0.0.1"]})
    transport = VettedTransport(loopback_policy(), resolve=resolve)
    with httpx.Client(transport=transport) as client:
        r = client.post(f"http://hooks.test:{raw_receiver.port}/finance", content=b"{}")
    assert r.status_code == 200
    assert raw_receiver.hosts == [f"hooks.test:{raw_receiver.port}"]


def test_transport__a_name_resolving_to_a_refused_address_is_never_contacted(raw_receiver):
    resolve = names({"hooks.test": ["10.0.0.7"], "mixed.test": ["127.0.0.1", "192.168.0.9"]})
    transport = VettedTransport(loopback_policy(), resolve=resolve)
    with httpx.Client(transport=transport) as client:
        for name in ("hooks.test", "mixed.test"):
            with pytest.raises(ForbiddenUrl, match="private"):
                client.post(f"http://{name}:{raw_receiver.port}/finance", content=b"{}")
    assert raw_receiver.hosts == []


def test_transport__https_keeps_the_name_for_sni_and_host_while_connecting_to_the_ip():
    seen: list[httpx.Request] = []

    def tls_peer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    public = UrlPolicy.for_service(
        host="127.0.0.1", port=8000, service_url="", host_addresses=frozenset()
    )
    transport = VettedTransport(
        public,
        resolve=names({"hooks.example.com": ["93.184.216.34"]}),
        inner=httpx.MockTransport(tls_peer),
    )
    with httpx.Client(transport=transport) as client:
        client.post("https://hooks.example.com/ratecard", content=b"{}")
    (request,) = seen
    assert request.url.host == "93.184.216.34"
    assert request.headers["host"] == "hooks.example.com"
    assert request.extensions["sni_hostname"] == "hooks.example.com"


def test_send_time__localhost_resolving_elsewhere_now_is_refused(alerts: AlertsEnv, raw_receiver):
    # Accepted at creation: "localhost" resolved (really) to loopback, which the tests allow.
    alerts.subscribe(
        {"type": "webhook", "url": f"http://localhost:{raw_receiver.port}/h"}, {"type": "all_jobs"}
    )
    alerts.finish_job(job_payload())
    rebound = names({"localhost": ["10.0.0.7"]})
    dispatcher = AlertDispatcher(
        alerts.engine, alerts.settings, clock=alerts.clock, resolve=rebound
    )
    try:
        drain(dispatcher)
    finally:
        dispatcher.close()
    (row,) = alerts.deliveries()
    assert row.status == "failed"
    assert "refused at send time" in (row.last_error or "") and "private" in (row.last_error or "")
    assert raw_receiver.hosts == []


def test_send_time__default_settings_refuse_loopback(alerts: AlertsEnv, raw_receiver):
    alerts.subscribe(
        {"type": "webhook", "url": f"http://127.0.0.1:{raw_receiver.port}/h"}, {"type": "all_jobs"}
    )
    alerts.finish_job(job_payload())
    drain(alerts.dispatcher(webhook_allowed_networks=""))
    (row,) = alerts.deliveries()
    assert row.status == "failed" and "loopback" in (row.last_error or "")
    assert raw_receiver.hosts == []


@pytest.mark.parametrize(("status", "retried"), [(500, True), (400, False)])
def test_alert_log__keeps_the_status_and_our_reason_never_the_receivers_body(
    alerts: AlertsEnv, raw_receiver: Receiver, status: int, retried: bool
):
    raw_receiver.status, raw_receiver.body = status, LEAK.encode()
    alerts.subscribe(
        {"type": "webhook", "url": f"http://127.0.0.1:{raw_receiver.port}/h"}, {"type": "all_jobs"}
    )
    alerts.finish_job(job_payload())
    drain(alerts.dispatcher())
    (row,) = alerts.deliveries()
    assert row.status == ("pending" if retried else "failed")
    reason = "Internal Server Error" if status == 500 else "Bad Request"
    assert row.last_error == f"receiver answered {status} {reason}"
    with alerts.client_with("read") as reader:
        log = reader.get("/v1/alerts").text
    assert "hunter2" not in log and f"receiver answered {status}" in log


def test_listings__read_keys_see_webhook_urls_without_path_query_or_token(alerts: AlertsEnv):
    url = f"{alerts.receiver_url}/hooks/ratecard?token=s3cr3t-t0ken"
    sub = alerts.subscribe({"type": "webhook", "url": url}, {"type": "all_jobs"})
    assert sub["destination"]["url"] == url  # the creator is shown what it sent
    alerts.finish_job(job_payload())
    redacted = f"{alerts.receiver_url}/…"
    with alerts.client_with("read") as reader:
        listed = reader.get("/v1/subscriptions").json()["items"]
        one = reader.get(f"/v1/subscriptions/{sub['id']}").json()
        alerts_page = reader.get("/v1/alerts").json()["items"]
        alert = reader.get(f"/v1/alerts/{alerts_page[0]['id']}").json()
    shown = [listed[0], one, alerts_page[0], alert]
    assert [s["destination"]["url"] for s in shown] == [redacted] * 4
    assert all("s3cr3t" not in str(s) for s in shown)
    # Admins manage the receivers: they see the URLs whole.
    assert alerts.admin.get("/v1/subscriptions").json()["items"][0]["destination"]["url"] == url
    assert alerts.admin.get("/v1/alerts").json()["items"][0]["destination"]["url"] == url


def test_system_resolver__localhost_is_loopback():
    assert set(system_resolver("localhost", 80)) <= {"127.0.0.1", "::1"}


def test_alert_log__reply_bodies_kept_by_earlier_versions_are_not_shown(
    alerts: AlertsEnv, raw_receiver: Receiver
):
    raw_receiver.status = 500
    alerts.subscribe(
        {"type": "webhook", "url": f"http://127.0.0.1:{raw_receiver.port}/h"}, {"type": "all_jobs"}
    )
    alerts.finish_job(job_payload())
    drain(alerts.dispatcher())
    with session_scope(alerts.engine) as session:
        (row,) = session.exec(select(Delivery)).all()
        row.last_error = f"receiver answered 500: {LEAK}"  # as stored before this release
    with alerts.client_with("read") as reader:
        (shown,) = reader.get("/v1/alerts").json()["items"]
    assert shown["last_error"] == "receiver answered 500"
