"""An httpx transport that connects only to addresses the webhook URL policy has vetted.

Each request's host is resolved at send time, every address is vetted, and the connection goes
to a vetted IP while the Host header and TLS SNI (and so certificate checks) keep the name. No
second lookup happens after the check, so a name that changes its answer between the check and
the connect (DNS rebinding) reaches nothing it was not checked for.
"""

from __future__ import annotations

import logging

import httpx

from service.alerts.urlpolicy import Resolver, UrlPolicy, system_resolver

log = logging.getLogger(__name__)


class VettedTransport(httpx.BaseTransport):
    """Raises urlpolicy.ForbiddenUrl or UnresolvableHost instead of connecting."""

    def __init__(
        self,
        policy: UrlPolicy,
        *,
        resolve: Resolver = system_resolver,
        inner: httpx.BaseTransport | None = None,
    ) -> None:
        self.policy = policy
        self.resolve = resolve
        # No keep-alive: a pooled connection is keyed by IP only, and must not carry a request
        # for another name (another SNI) that happens to resolve to the same address.
        self.inner = inner or httpx.HTTPTransport(
            limits=httpx.Limits(max_keepalive_connections=0), trust_env=False
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        checked = self.policy.check(str(request.url), resolve=self.resolve)
        # httpx set Host from the URL when the request was built; it stays the name.
        request.headers["host"] = checked.host_header
        if checked.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": checked.host}
        last_error: httpx.ConnectError | None = None
        for address in checked.addresses:
            request.url = request.url.copy_with(host=address.split("%", 1)[0])
            try:
                return self.inner.handle_request(request)
            except httpx.ConnectError as exc:
                log.debug(
                    "webhook %s: %s unreachable, trying the next address", checked.host, address
                )
                last_error = exc
        assert last_error is not None  # check() returns at least one address
        raise last_error

    def close(self) -> None:
        self.inner.close()
