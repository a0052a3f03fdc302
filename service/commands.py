"""`ratecard serve` and friends: process entry points, built on the app factory."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

log = logging.getLogger(__name__)


def bootstrap_admin_key(app: Any, settings: Any) -> str | None:
    """On the very first start create the admin key (random, or RATECARD_ADMIN_API_KEY); return it if new."""
    from service.auth.service import create_key, has_any_key
    from service.db import session_scope

    with session_scope(app.state.engine) as session:
        if has_any_key(session):
            return None
        given = settings.admin_api_key.get_secret_value() if settings.admin_api_key else None
        _, secret = create_key(session, name="admin", scopes=["admin"], secret=given)
        return None if given else secret


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.app import create_app
    from service.settings import get_settings

    overrides: dict[str, Any] = {}
    if args.host:
        overrides["host"] = args.host
    if args.port:
        overrides["port"] = args.port
    settings = get_settings(**overrides)
    logging.getLogger().setLevel(settings.log_level.upper())
    app = create_app(settings)
    secret = bootstrap_admin_key(app, settings)
    if secret:
        # Printed once, to the operator's terminal only; it is never logged.
        sys.stderr.write(
            "\n  First start: created the admin API key (shown once, store it now):\n"
            f"    {secret}\n"
            "  Use it as `Authorization: Bearer <key>`; create narrower keys with POST /v1/keys.\n\n"
        )
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower())
    return 0


def add_commands(sub: Any) -> None:
    serve = sub.add_parser("serve", help="run the REST API (SQLite file in the working directory by default)")
    serve.add_argument("--host", help="bind address (default 127.0.0.1; RATECARD_HOST)")
    serve.add_argument("--port", type=int, help="port (default 8000; RATECARD_PORT)")
    serve.set_defaults(func=cmd_serve)
