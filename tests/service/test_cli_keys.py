"""`ratecard keys`: the operator's way back in, with a shell on the host instead of an API key."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from sqlalchemy import update

from service.auth.models import ApiKey
from service.cli import main
from service.db import write_transaction
from service.types import utcnow
from tests.service.conftest import ADMIN_SECRET, build_app, client_for


def test_keys_cli__create_admin_key_restores_access_when_every_admin_key_is_revoked(
    database_url, tmp_path, monkeypatch, capsys
):
    app = build_app(database_url, tmp_path)
    # Locked out: the only admin key revoked behind the API's back (by hand, or before the
    # API refused it); RATECARD_ADMIN_API_KEY would not help, the table is not empty.
    with write_transaction(app.state.engine) as connection:
        connection.execute(update(ApiKey).values(revoked_at=utcnow()))
    with client_for(app, ADMIN_SECRET) as old:
        assert old.get("/v1/keys").status_code == 401

    monkeypatch.setenv("RATECARD_DATABASE_URL", database_url)
    assert main(["keys", "create", "--scopes", "admin", "--name", "ops"]) == 0
    out, err = capsys.readouterr()
    secret = out.strip()
    assert secret.startswith("rc_") and "\n" not in secret
    assert "shown once" in err and secret not in err
    with client_for(app, secret) as ops:
        names = [k["name"] for k in ops.get("/v1/keys").json()]
        assert names == ["admin", "ops"]

    assert main(["keys", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["keys"]
    assert [(k["name"], k["scopes"], k["revoked_at"] is None) for k in listed] == [
        ("admin", ["admin"], False),
        ("ops", ["admin"], True),
    ]
    assert secret not in json.dumps(listed)


def test_keys_cli__creates_the_schema_of_a_new_database(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RATECARD_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    assert main(["keys", "create", "--scopes", "read,estimate", "--name", "finance"]) == 0
    capsys.readouterr()
    assert main(["keys", "list"]) == 0
    line = capsys.readouterr().out.strip()
    assert "finance" in line and "estimate,read" in line and "live" in line


def test_keys_cli__refusals_are_one_line_with_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RATECARD_DATABASE_URL", f"sqlite:///{tmp_path / 'k.db'}")
    assert main(["keys", "create", "--scopes", "admin", "--name", "ops"]) == 0
    capsys.readouterr()
    for argv in (
        ["keys", "create", "--scopes", "admin", "--name", "ops"],  # name taken
        ["keys", "create", "--scopes", "root", "--name", "x"],
        ["keys", "create", "--scopes", "read", "--name", "a/b"],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("ratecard keys: ") and err.count("\n") == 1


def test_keys_cli__unreachable_database_is_one_line_not_a_traceback(tmp_path):
    env = {"RATECARD_DATABASE_URL": f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}"}
    r = subprocess.run(
        [sys.executable, "-m", "service.cli", "keys", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )
    assert r.returncode == 1
    assert r.stderr.startswith("ratecard keys: database error") and r.stderr.count("\n") == 1
