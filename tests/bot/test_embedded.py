"""`ratecard serve` with Slack settings: the bot's own API key, made once and found again."""

from __future__ import annotations

from typing import Any

from tests.bot.harness import BOT_TOKEN, SIGNING_SECRET


def test_embedded_bot_key__created_on_first_start_and_reused_after_a_restart(
    sqlite_url: str, tmp_path: Any
) -> None:
    from service.app import create_app
    from service.auth.service import authenticate, list_keys
    from service.commands import bootstrap_bot_key
    from service.db import session_scope
    from service.settings import get_settings

    settings = get_settings(
        database_url=sqlite_url,
        upload_dir=tmp_path,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
    )
    first = bootstrap_bot_key(create_app(settings, run_background=False), settings)
    restarted = create_app(settings, run_background=False)
    assert bootstrap_bot_key(restarted, settings) == first
    with session_scope(restarted.state.engine) as session:
        [key] = list_keys(session)
        principal = authenticate(session, secret=first)
    assert key.name.startswith("slack-bot-")
    assert principal.scopes == frozenset({"read", "estimate", "launch"})
    assert not principal.has("admin")


def test_embedded_bot_key__an_explicit_key_wins(sqlite_url: str, tmp_path: Any) -> None:
    from service.app import create_app
    from service.auth.service import list_keys
    from service.commands import bootstrap_bot_key
    from service.db import session_scope
    from service.settings import get_settings

    settings = get_settings(
        database_url=sqlite_url,
        upload_dir=tmp_path,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        service_api_key="rc_given_by_the_operator_0123",
    )
    app = create_app(settings, run_background=False)
    assert bootstrap_bot_key(app, settings) == "rc_given_by_the_operator_0123"
    with session_scope(app.state.engine) as session:
        assert list_keys(session) == []
