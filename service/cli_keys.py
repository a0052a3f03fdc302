"""`ratecard keys create|list`: API keys managed from the host, straight in the database.

The way back when no admin key is left (or none was ever noted down): whoever has a shell on the
host and the database URL can already read and write every table, so this asks for no API key.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

log = logging.getLogger(__name__)

EXIT_FAILURE = 1
EXIT_USAGE = 2


def _scopes(values: list[str]) -> list[str]:
    return [s for v in values for s in v.replace(",", " ").split()]


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"ratecard keys: {' '.join(message.split())}\n")
    return code


def _engine() -> Any:
    from service.db import create_db_engine, migrate
    from service.settings import get_settings

    settings = get_settings()
    engine = create_db_engine(settings.database_url, connections=8)
    migrate(engine)
    return engine


def cmd_keys(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from service.errors import ServiceError

    try:
        if args.keys_cmd == "create":
            return _create(args)
        return _list(args)
    except ServiceError as exc:  # a bad scope, a name already taken
        return _fail(str(exc), EXIT_USAGE)
    except SQLAlchemyError as exc:
        # The driver's own words (no SQL, no URL): "connection refused", "unable to open file".
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return _fail(f"database error: {reason[0] if reason else type(exc).__name__}", EXIT_FAILURE)


def _create(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from service.auth.router import KeyCreate
    from service.auth.service import create_key
    from service.db import session_scope

    try:  # the rules of POST /v1/keys
        body = KeyCreate(name=args.name, scopes=_scopes(args.scopes))
    except ValidationError as exc:
        first = exc.errors()[0]
        return _fail(f"--{first['loc'][0]}: {first['msg']}", EXIT_USAGE)
    engine = _engine()
    try:
        with session_scope(engine) as session:
            key, secret = create_key(session, name=body.name, scopes=body.scopes)
    finally:
        engine.dispose()
    # The secret alone on stdout (`ratecard keys create ... > key.txt`); shown once, never logged.
    sys.stderr.write(
        f"Created API key {key.id} ({key.name}) with scopes {key.scopes}; "
        "the secret is shown once, store it now:\n"
    )
    sys.stdout.write(secret + "\n")
    return 0


def _list(args: argparse.Namespace) -> int:
    from service.auth.service import list_keys
    from service.db import session_scope

    engine = _engine()
    try:
        with session_scope(engine) as session:
            keys = list_keys(session)
    finally:
        engine.dispose()
    rows: list[dict[str, Any]] = [
        {
            "id": k.id,
            "name": k.name,
            "scopes": sorted(k.scope_set),
            "prefix": k.prefix,
            "created_at": k.created_at.isoformat(),
            "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
            "last_used_at": k.last_used_at.isoformat() if k.last_used_at else None,
        }
        for k in keys
    ]
    if args.json:
        sys.stdout.write(json.dumps({"keys": rows}, indent=2) + "\n")
        return 0
    for r in rows:
        state = f"revoked {r['revoked_at'][:10]}" if r["revoked_at"] else "live"
        used = r["last_used_at"][:16] if r["last_used_at"] else "never used"
        sys.stdout.write(
            f"{r['id']:>5}  {r['name']:<24} {','.join(r['scopes']):<26} {r['prefix']}…  "
            f"{state:<18} {used}\n"
        )
    if not rows:
        sys.stdout.write("no API keys\n")
    return 0


def add_key_commands(sub: Any) -> None:
    keys = sub.add_parser(
        "keys",
        help="create or list API keys directly in RATECARD_DATABASE_URL (needs host access, "
        "not an API key)",
    ).add_subparsers(dest="keys_cmd", required=True)
    create = keys.add_parser(
        "create", help="create a key and print its secret once (e.g. --scopes admin --name ops)"
    )
    create.add_argument("--name", required=True, help="a unique name, e.g. ops or finance")
    create.add_argument(
        "--scopes",
        required=True,
        action="append",
        help="read, estimate, launch, admin (comma-separated or repeated)",
    )
    listing = keys.add_parser("list", help="list keys without their secrets")
    listing.add_argument("--json", action="store_true")
    for p in (create, listing):
        p.set_defaults(func=cmd_keys)
