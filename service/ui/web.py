"""What every dashboard page shares: templates, security headers, the session dependency,
and a route class that answers errors as pages (a sign-in redirect, a 403 page), not JSON."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, select_autoescape

from pricing import errors as pe
from service.auth.last_used import LastUsed
from service.deps import SessionDep
from service.errors import Forbidden, NotAuthenticated, ServiceError
from service.settings import Settings
from service.ui import session as ui_session
from service.ui.sources import current_time

log = logging.getLogger(__name__)

# No script may run and nothing may load from anywhere but the service itself.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

templates = Environment(
    loader=PackageLoader("service.ui", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(
    request: Request,
    template: str,
    *,
    status_code: int = 200,
    session: ui_session.UiSession | None = None,
    **context: Any,
) -> HTMLResponse:
    html = templates.get_template(template).render(
        request=request, session=session, path=request.url.path, **context
    )
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def secure_cookies(request: Request) -> bool:
    # Secure cookies are never sent over plain http: on a loopback or air-gapped http host the
    # session would not work at all, so the flag follows the scheme the browser used.
    return request.url.scheme == "https"


def _error_page(request: Request, exc: Exception) -> Response:
    if isinstance(exc, NotAuthenticated):
        if request.method == "GET":
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            response: Response = RedirectResponse(
                f"/ui/sign-in?next={quote(target, safe='')}", status_code=303
            )
            response.delete_cookie(ui_session.COOKIE, path="/ui")
            return response
        return render(
            request, "error.html", status_code=401, title="Not signed in", detail=str(exc)
        )
    if isinstance(exc, RequestValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg')}"
            for e in exc.errors()
        )
        return render(
            request, "error.html", status_code=422, title="Invalid input", detail=problems
        )
    if isinstance(exc, pe.PricingError):
        status = 404 if isinstance(exc, pe.UnknownPriceVersionError) else 422
        title = "Not found" if status == 404 else "Invalid input"
        return render(request, "error.html", status_code=status, title=title, detail=str(exc))
    assert isinstance(exc, ServiceError)
    return render(request, "error.html", status_code=exc.status, title=exc.title, detail=exc.detail)


class UiRoute(APIRoute):
    """Errors of a dashboard page are pages: the same checks as the API, shown to a person."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except (ServiceError, pe.PricingError, RequestValidationError) as exc:
                return _error_page(request, exc)

        return handle


async def ui_now() -> datetime:
    """The clock sessions expire by: a dependency, so a test can move it
    (``app.dependency_overrides[ui_now] = ...``) as service.clock does for dates."""
    return current_time()


NowDep = Annotated[datetime, Depends(ui_now)]


def timeouts(request: Request) -> ui_session.Timeouts:
    settings: Settings = request.app.state.settings
    return ui_session.Timeouts.of(settings)


def current_session(request: Request, session: SessionDep, now: NowDep) -> ui_session.UiSession:
    ui = ui_session.resume(
        session,
        token=request.cookies.get(ui_session.COOKIE),
        now=now,
        timeouts=timeouts(request),
    )
    last_used: LastUsed = request.app.state.last_used
    if last_used.due(ui.principal.key_id):
        last_used.record(request.app.state.engine, ui.principal.key_id)
    return ui


def _reader(ui: Annotated[ui_session.UiSession, Depends(current_session)]) -> ui_session.UiSession:
    if not ui.principal.has("read"):
        raise Forbidden("this API key lacks the 'read' scope")
    return ui


ReadSession = Annotated[ui_session.UiSession, Depends(_reader)]
AnySession = Annotated[ui_session.UiSession, Depends(current_session)]


def same_origin(request: Request) -> None:
    """Refuse a state-changing request another site's page made (with SameSite cookies and a
    CSRF token, a third guard that costs nothing)."""
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise Forbidden("cross-origin form submissions are refused")


def check_csrf(ui: ui_session.UiSession, token: str | None) -> None:
    if not ui_session.csrf_matches(ui.csrf, token):
        raise Forbidden("the form's CSRF token is missing or wrong; reload the page and retry")
