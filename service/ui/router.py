"""The dashboard at /ui: server-rendered pages over the service functions the REST API calls.

Filters are GET forms, so every view is a URL that can be shared; charts are inline SVG
(service.ui.charts); no page runs a script.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import RedirectResponse

from service.deps import SessionDep
from service.errors import Forbidden, NotAuthenticated
from service.ui import session as ui_session
from service.ui.pages import jobs, migration, pools, reports
from service.ui.static import static_file
from service.ui.web import (
    AnySession,
    NowDep,
    UiRoute,
    check_csrf,
    render,
    same_origin,
    secure_cookies,
    timeouts,
)

router = APIRouter(prefix="/ui", include_in_schema=False, route_class=UiRoute)
router.add_api_route("/static/{name}", static_file, methods=["GET"])


def _safe_next(target: str | None) -> str:
    # Only a path of this dashboard: never another host ("//evil", "https://...").
    if target and target.startswith("/ui/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/spend"


@router.get("")
@router.get("/")
def home() -> Response:
    return RedirectResponse("/ui/spend", status_code=303)


# --- sign-in ---------------------------------------------------------------------------------


def _sign_in_page(
    request: Request, next_url: str | None, *, status_code: int = 200, error: str | None = None
) -> Response:
    token = secrets.token_urlsafe(16)
    response = render(
        request,
        "sign_in.html",
        status_code=status_code,
        form_token=token,
        next_url=_safe_next(next_url),
        error=error,
    )
    response.set_cookie(
        ui_session.SIGN_IN_COOKIE,
        token,
        max_age=600,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )
    return response


@router.get("/sign-in")
def sign_in_form(
    request: Request, next_url: Annotated[str | None, Query(alias="next", max_length=500)] = None
) -> Response:
    return _sign_in_page(request, next_url)


@router.post("/sign-in", dependencies=[Depends(same_origin)])
def sign_in(
    request: Request,
    session: SessionDep,
    now: NowDep,
    key: Annotated[str, Form(max_length=200)],
    form_token: Annotated[str, Form(max_length=100)],
    next_url: Annotated[str, Form(alias="next", max_length=500)] = "/ui/spend",
) -> Response:
    expected = request.cookies.get(ui_session.SIGN_IN_COOKIE) or ""
    if not ui_session.csrf_matches(expected, form_token):
        raise Forbidden("the sign-in form expired or came from another site; reload and retry")
    try:
        token, ui = ui_session.sign_in(
            session, secret=key.strip(), now=now, timeouts=timeouts(request)
        )
    except NotAuthenticated:
        return _sign_in_page(
            request, next_url, status_code=401, error="That API key is not valid or was revoked."
        )
    ui_session.discard(session, request.cookies.get(ui_session.COOKIE))
    response = RedirectResponse(_safe_next(next_url), status_code=303)
    response.set_cookie(
        ui_session.COOKIE,
        token,
        # The browser drops it at the absolute end; the server refuses it from then on anyway.
        max_age=int((ui.expires - now).total_seconds()),
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )
    response.delete_cookie(ui_session.SIGN_IN_COOKIE, path="/ui")
    return response


@router.post("/sign-out", dependencies=[Depends(same_origin)])
def sign_out(
    ui: AnySession, session: SessionDep, csrf: Annotated[str | None, Form(max_length=100)] = None
) -> Response:
    check_csrf(ui, csrf)
    ui_session.sign_out(session, ui)
    response = RedirectResponse("/ui/sign-in", status_code=303)
    response.delete_cookie(ui_session.COOKIE, path="/ui")
    return response


for _pages in (reports.router, migration.router, pools.router, jobs.router):
    router.include_router(_pages)
