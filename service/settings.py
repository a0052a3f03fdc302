"""Service settings, read from RATECARD_* environment variables (and a .env file if present)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RATECARD_", env_file=".env", extra="ignore")

    database_url: str = Field(
        "sqlite:///./ratecard.db",
        description="SQLAlchemy URL; postgresql+psycopg://... for production",
    )
    db_connections: int | None = Field(
        None,
        ge=8,
        description="most database connections one process opens (default 50 on SQLite, 20 on "
        "PostgreSQL; replicas add up against the server's max_connections)",
    )
    admin_api_key: SecretStr | None = Field(
        None,
        description="admin key to create on first start instead of a random one; as strong as "
        "a generated key (rc_ and 256 bits, e.g. rc_ + 64 random hex digits) or refused at start",
    )
    host: str = Field(
        "127.0.0.1", description="bind address of `ratecard serve` (0.0.0.0 in the container)"
    )
    port: int = Field(8000, description="port of `ratecard serve`")
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_format: Literal["text", "json"] = Field(
        "text",
        description="`text` lines, or `json`: one object per line with time, level, logger, "
        "message and request_id",
    )
    metrics: Literal["off", "public", "key"] = Field(
        "key",
        description="GET /metrics: `key` needs `Authorization: Bearer` with RATECARD_METRICS_TOKEN "
        "or an API key with the read scope; `public` answers anyone (a private network or a "
        "port only Prometheus reaches); `off` answers 404",
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="a bearer token for Prometheus alone (no database lookup, so scrapes work "
        "while the database is down); at least 32 characters",
        min_length=32,
    )
    upload_dir: Path | None = Field(
        None, description="where uploaded training files are spooled (default: system temp)"
    )
    max_upload_bytes: int = Field(
        1024**3, description="largest training file accepted for estimates (1 GiB)"
    )
    max_request_bytes: int = Field(
        16 * 1024**2,
        ge=1024,
        description="largest request body other than a training file upload (16 MiB; a million "
        "per-example token lengths fit); larger ones get 413",
    )
    ui_session_idle_seconds: float = Field(
        1800.0,
        gt=0,
        le=366 * 86400,
        description="a dashboard session unused this long is over (30 minutes; its last use is "
        "recorded at most once a minute)",
    )
    ui_session_max_seconds: float = Field(
        28800.0,
        gt=0,
        le=366 * 86400,
        description="a dashboard session is over this long after sign-in, used or not (8 hours)",
    )

    tpm_alert_threshold_pct: int = Field(
        80, ge=1, le=100, description="pool utilisation (%) that raises a TPM alert"
    )
    tpm_alert_rearm_pct: int = Field(
        10,
        ge=0,
        le=100,
        description="after a TPM alert, utilisation must fall this many points below the threshold "
        "before the next one",
    )
    usage_tier: str | None = Field(
        None,
        pattern=r"^(free|[1-5])$",
        description="OpenAI usage tier whose default limits apply until a limit is set or learned "
        "(default: the tier table's default_tier)",
    )
    usage_retention_days: int = Field(
        400, ge=8, description="per-minute usage history kept for reports"
    )

    openai_base_url: str = Field(
        "https://api.openai.com/v1",
        description="OpenAI API base URL (a proxy, or the fake in tests and the demo)",
    )
    openai_api_key: SecretStr | None = Field(
        None, description="OpenAI API key for launching and watching jobs"
    )
    openai_admin_key: SecretStr | None = Field(
        None,
        description="optional OpenAI organization admin key (sk-admin-...) with read access to "
        "usage and costs: imports the Usage and Costs APIs for planning and reconciliation",
    )
    usage_import_interval_seconds: float = Field(
        900.0, gt=0, description="seconds between two imports of OpenAI's Usage API"
    )
    costs_import_interval_seconds: float = Field(
        3600.0, gt=0, description="seconds between two imports of OpenAI's Costs API"
    )
    import_backfill_days: int = Field(
        30,
        ge=1,
        le=365,
        description="how far back a new installation imports usage and costs on its first run",
    )
    openai_organization: str | None = Field(None, description="sent as OpenAI-Organization")
    openai_project: str | None = Field(None, description="sent as OpenAI-Project")
    openai_timeout_seconds: float = Field(
        30.0, gt=0, description="per-request timeout towards OpenAI"
    )
    watch_interval_seconds: float = Field(
        30.0, gt=0, description="seconds between two watcher ticks"
    )
    run_watcher: bool = Field(True, description="run the job watcher inside `ratecard serve`")
    openai_max_retries: int = Field(
        4,
        ge=0,
        le=10,
        description="retries of OpenAI rate limits, 5xx and timeouts "
        "(never of a job create that may have happened)",
    )
    openai_backoff_seconds: float = Field(
        0.5, gt=0, description="first retry delay; doubles per attempt, with jitter"
    )
    watcher_lease_seconds: float = Field(
        90.0,
        gt=0,
        description="the watcher lease (one poller across replicas) lapses this long after the "
        "holder's last tick, so a crashed watcher is replaced; "
        "keep it above watch_interval_seconds",
    )
    watch_events_per_tick: int = Field(
        50,
        ge=0,
        le=10_000,
        description="most job event fetches per watcher tick (finished jobs first, then "
        "running jobs least recently fetched); the status of every job is polled regardless",
    )
    watch_lost_after_checks: int = Field(
        5,
        ge=1,
        description="a watched job OpenAI answers 404 for on this many ticks in a row (and for "
        "at least watch_lost_after_seconds) is marked 'lost' and no longer polled",
    )
    watch_lost_after_seconds: float = Field(
        600.0,
        ge=0,
        description="the least time between the first and the last miss before a job is 'lost'",
    )
    launch_stale_seconds: float = Field(
        600.0,
        gt=0,
        description="a launch still 'launching' after this long (crashed process) is reconciled "
        "with OpenAI by its launch id",
    )
    watcher_metrics_address: str | None = Field(
        None,
        description="host:port where `ratecard watcher` serves its own /metrics, guarded like "
        "the service's (RATECARD_METRICS, RATECARD_METRICS_TOKEN); e.g. 127.0.0.1:9101 for this "
        "host only, 0.0.0.0:9101 in a container; unset: no endpoint",
    )

    @field_validator("watcher_metrics_address", mode="before")
    @classmethod
    def _address_parses(cls, value: object) -> object:
        from service.observability.address import parse_address

        if value == "":  # compose passes `${...:-}`: empty means "not set"
            return None
        if isinstance(value, str):
            parse_address(value)  # fail at start-up on a typo, not at the first scrape
        return value

    slack_api_url: str = Field("https://slack.com/api/", description="Slack Web API base URL")
    slack_bot_token: SecretStr | None = Field(
        None, description="xoxb- token: alerts to Slack, and the bot"
    )
    slack_signing_secret: SecretStr | None = Field(
        None,
        description="verifies requests from Slack; with the bot token, "
        "`serve` answers /slack/events",
    )
    slack_app_token: SecretStr | None = Field(
        None, description="xapp- token for `ratecard bot --socket-mode`"
    )
    dispatch_interval_seconds: float = Field(
        2.0, gt=0, description="seconds between two alert dispatcher rounds"
    )
    run_dispatcher: bool = Field(
        True, description="run the alert dispatcher inside `ratecard serve`"
    )
    webhook_allowed_networks: str = Field(
        "",
        description="comma-separated networks webhooks may reach although they are not public, "
        "e.g. `10.1.0.0/16,fd00::/8` for internal receivers, `127.0.0.0/8` for one on this host; "
        "by default only public addresses are (cloud metadata and the service's own host:port "
        "are refused regardless)",
    )

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: object) -> object:
        # compose passes `${RATECARD_METRICS_TOKEN:-}`: an empty value means "not set".
        return None if value == "" else value

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks_parse(cls, value: str) -> str:
        # Fail at start-up on a typo, not at the first webhook.
        for item in filter(None, (part.strip() for part in value.split(","))):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not a network such as 10.1.0.0/16") from None
        return value

    webhook_timeout_seconds: float = Field(
        10.0, gt=0, description="per-request timeout for webhooks and Slack"
    )
    alert_retry_base_seconds: float = Field(
        10.0,
        gt=0,
        description="first retry delay of a failed alert; doubles per attempt, with jitter",
    )
    alert_retry_max_delay_seconds: float = Field(
        3600.0, gt=0, description="longest wait between two attempts"
    )
    alert_retry_window_seconds: float = Field(
        86400.0,
        gt=0,
        description="how long an alert keeps being retried before it is marked failed",
    )
    alert_lease_seconds: float = Field(
        120.0,
        gt=0,
        description="a claimed alert not finished within this time (crashed replica) is sent again",
    )
    alert_batch_size: int = Field(
        20, ge=1, le=500, description="alerts claimed per dispatcher round"
    )

    service_url: str = Field(
        "http://127.0.0.1:8000", description="where `ratecard bot` reaches the service"
    )
    service_api_key: SecretStr | None = Field(
        None, description="the bot's API key (scopes read, estimate, launch)"
    )
    slack_default_team: str = Field(
        "default",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$",
        description="team charged for /launch and /estimate file=... when no team= is given",
    )

    @field_validator("admin_api_key")
    @classmethod
    def _admin_key_as_strong_as_generated_ones(cls, value: SecretStr | None) -> SecretStr | None:
        from service.auth.strength import weakness

        problem = weakness(value.get_secret_value()) if value is not None else None
        if problem:  # the message never repeats the key
            raise ValueError(f"RATECARD_ADMIN_API_KEY {problem}")
        return value


def get_settings(**overrides: object) -> Settings:
    """Build settings from the environment; keyword overrides win (tests and the CLI use them)."""
    return Settings(**overrides)  # type: ignore[arg-type]
