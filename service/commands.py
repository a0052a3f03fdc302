"""`ratecard serve` and friends: process entry points, built on the app factory."""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from service.observability.logging import configure_logging, uvicorn_log_config

log = logging.getLogger(__name__)


def bootstrap_admin_key(app: Any, settings: Any) -> str | None:
    """On first start, create the admin key (random or RATECARD_ADMIN_API_KEY); return it if new."""
    from service.auth.service import create_key, has_any_key
    from service.db import session_scope

    with session_scope(app.state.engine) as session:
        if has_any_key(session):
            return None
        given = settings.admin_api_key.get_secret_value() if settings.admin_api_key else None
        _, secret = create_key(session, name="admin", scopes=["admin"], secret=given)
        return None if given else secret


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.app import create_app
    from service.settings import get_settings

    overrides: dict[str, Any] = {}
    if args.host:
        overrides["host"] = args.host
    if args.port:
        overrides["port"] = args.port
    demo = None
    if getattr(args, "demo_dir", None) is not None and not args.demo:
        from service.cli_args import CliError

        raise CliError("--demo-dir goes with --demo")
    if getattr(args, "demo", False):
        from service.jobs.demo import start_demo_openai

        if args.demo_dir is not None and args.demo_dir.exists() and not args.demo_dir.is_dir():
            from service.cli_args import CliError

            raise CliError(f"--demo-dir is not a folder: {args.demo_dir}")
        demo = start_demo_openai(data_dir=args.demo_dir)
        overrides.update(demo.settings_overrides())
    settings = get_settings(**overrides)
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    app = create_app(settings)
    secret = bootstrap_admin_key(app, settings)
    if secret:
        # Printed once, to the operator's terminal only; it is never logged.
        sys.stderr.write(
            "\n  First start: created the admin API key (shown once, store it now):\n"
            f"    {secret}\n"
            "  Use it as `Authorization: Bearer <key>`; "
            "create narrower keys with POST /v1/keys.\n\n"
        )
    mount_slack_if_configured(app, settings)
    if demo is not None:
        sys.stdout.write(demo.instructions(settings, demo.admin_key(secret)))
        sys.stdout.flush()
        # uvicorn re-raises SIGTERM after its graceful shutdown; with the default action the
        # process would die before the demo's temporary database is removed below.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    # Everything built so far (price tables, catalogue, schemas, SQLAlchemy metadata) lives as
    # long as the process: moved out of the cyclic collector's reach, it is not rescanned by
    # every full collection that request garbage triggers.
    gc.freeze()
    try:
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            **uvicorn_log_config(settings.log_format),
        )
    finally:
        if demo is not None:
            demo.stop()
    return 0


def cmd_watcher(args: argparse.Namespace) -> int:
    from service.jobs.process import run_watcher
    from service.settings import get_settings

    settings = get_settings()
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    return run_watcher(settings)


def bootstrap_bot_key(app: Any, settings: Any) -> str:
    """The embedded bot's API key (read, estimate, launch): RATECARD_SERVICE_API_KEY, or one derived
    from the Slack signing secret, created on first start. Derived, so every restart and replica
    finds the same key without storing a secret; whoever holds the signing secret can already act
    as the bot."""
    import hashlib
    import hmac
    from base64 import urlsafe_b64encode

    from sqlmodel import select

    from service.auth.models import ApiKey
    from service.auth.service import create_key
    from service.db import session_scope

    if settings.service_api_key is not None:
        return str(settings.service_api_key.get_secret_value())
    signing_secret = settings.slack_signing_secret.get_secret_value().encode()
    digest = hmac.new(signing_secret, b"ratecard slack bot key", hashlib.sha256).digest()
    secret = "rc_" + urlsafe_b64encode(digest).decode().rstrip("=")
    name = "slack-bot-" + hashlib.sha256(secret.encode()).hexdigest()[:8]
    with session_scope(app.state.engine) as session:
        if session.exec(select(ApiKey).where(ApiKey.name == name)).first() is None:
            create_key(session, name=name, scopes=["read", "estimate", "launch"], secret=secret)
            log.info("created the Slack bot's API key %s", name)
    return secret


def mount_slack_if_configured(app: Any, settings: Any) -> None:
    """Serve /slack/events from this process when the Slack signing secret and bot token are set."""
    from bot.mount import mount_slack, slack_configured

    if not slack_configured(settings):
        return
    wildcard = settings.host in ("0.0.0.0", "::", "")  # noqa: S104
    host = "127.0.0.1" if wildcard else settings.host
    url = f"http://[{host}]:{settings.port}" if ":" in host else f"http://{host}:{settings.port}"
    mount_slack(app, settings, service_url=url, service_api_key=bootstrap_bot_key(app, settings))
    log.info("serving Slack at /slack/events")


def cmd_bot(args: argparse.Namespace) -> int:
    import asyncio

    import uvicorn

    from bot.mount import SocketModeError, build_bot_http_app, run_socket_mode
    from service.settings import get_settings

    given = {"host": args.host, "port": args.port}
    overrides: dict[str, Any] = {k: v for k, v in given.items() if v}
    settings = get_settings(**overrides)
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    needed = [
        ("RATECARD_SLACK_BOT_TOKEN", settings.slack_bot_token),
        ("RATECARD_SERVICE_API_KEY", settings.service_api_key),
    ]
    if args.socket_mode:
        needed.append(("RATECARD_SLACK_APP_TOKEN", settings.slack_app_token))
    else:
        needed.append(("RATECARD_SLACK_SIGNING_SECRET", settings.slack_signing_secret))
    missing = [name for name, value in needed if value is None]
    if missing:
        sys.stderr.write(f"ratecard bot: set {', '.join(missing)}\n")
        return 2
    if args.socket_mode:
        try:
            asyncio.run(run_socket_mode(settings))
        except SocketModeError as exc:
            sys.stderr.write(f"ratecard bot: {exc}\n")
            return 1
        return 0
    uvicorn.run(
        build_bot_http_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        **uvicorn_log_config(settings.log_format),
    )
    return 0


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 5 and 1 <= int(text) <= 65535):
        raise argparse.ArgumentTypeError(f"a port is 1-65535, not {text!r}")
    return int(text)


def add_commands(sub: Any) -> None:
    serve = sub.add_parser(
        "serve", help="run the REST API (SQLite file in the working directory by default)"
    )
    serve.add_argument("--host", help="bind address (default 127.0.0.1; RATECARD_HOST)")
    serve.add_argument("--port", type=_port, help="port (default 8000; RATECARD_PORT)")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="run against a built-in fake OpenAI API with a sample file (no credentials needed)",
    )
    serve.add_argument(
        "--demo-dir",
        type=Path,
        metavar="PATH",
        help="with --demo: keep the demo's database and admin key in this folder and reuse them "
        "on restart (default: a temporary folder removed on exit)",
    )
    serve.set_defaults(func=cmd_serve)

    watcher = sub.add_parser(
        "watcher", help="run only the job watcher (one polls at a time across replicas)"
    )
    watcher.set_defaults(func=cmd_watcher)

    bot = sub.add_parser(
        "bot",
        help="run the Slack bot alone against RATECARD_SERVICE_URL "
        "(HTTP at /slack/events, or --socket-mode)",
    )
    bot.add_argument(
        "--socket-mode",
        action="store_true",
        help="connect out to Slack with RATECARD_SLACK_APP_TOKEN (no public URL)",
    )
    bot.add_argument("--host", help="bind address in HTTP mode (RATECARD_HOST)")
    bot.add_argument("--port", type=_port, help="port in HTTP mode (RATECARD_PORT)")
    bot.set_defaults(func=cmd_bot)

    from service.cli_keys import add_key_commands

    add_key_commands(sub)
