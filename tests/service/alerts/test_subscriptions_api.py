"""POST/GET/DELETE /v1/subscriptions: who follows what, and which webhook URLs are refused."""

from __future__ import annotations

import base64

import pytest

from tests.service.alerts.conftest import AlertsEnv
from tests.service.conftest import Api

SLACK = {"type": "slack", "channel": "C0MLPLAT"}
# Validation does not depend on the database: these run on SQLite only.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_subscribe_slack_channel_to_a_team__listed_and_deleted(alerts: AlertsEnv):
    r = alerts.admin.post(
        "/v1/subscriptions",
        json={
            "destination": SLACK,
            "follows": {"type": "team", "team": "ml-platform"},
            "created_by": "slack:U0ALICE",
        },
    )
    assert r.status_code == 201
    sub = r.json()
    assert sub["id"].startswith("sub_")
    assert sub["destination"] == SLACK
    assert sub["follows"] == {"type": "team", "team": "ml-platform"}
    assert (sub["created_by"], sub["status"]) == ("slack:U0ALICE", "active")
    assert sub["webhook_secret"] is None and sub["created_at"]

    alerts.subscribe(
        {"type": "slack", "channel": "U0BOB"}, {"type": "all_jobs"}, created_by="slack:U0BOB"
    )
    mine = alerts.admin.get("/v1/subscriptions", params={"created_by": "slack:U0ALICE"}).json()
    assert [s["id"] for s in mine["items"]] == [sub["id"]] and mine["next_cursor"] is None
    in_channel = alerts.admin.get("/v1/subscriptions", params={"destination": "C0MLPLAT"}).json()[
        "items"
    ]
    assert [s["id"] for s in in_channel] == [sub["id"]]
    assert len(alerts.admin.get("/v1/subscriptions").json()["items"]) == 2
    assert (
        alerts.admin.get(f"/v1/subscriptions/{sub['id']}").json()["follows"]["team"]
        == "ml-platform"
    )

    assert alerts.admin.delete(f"/v1/subscriptions/{sub['id']}").status_code == 204
    assert alerts.admin.get(f"/v1/subscriptions/{sub['id']}").status_code == 404
    r = alerts.admin.delete(f"/v1/subscriptions/{sub['id']}")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert (
        alerts.admin.get("/v1/subscriptions", params={"created_by": "slack:U0ALICE"}).json()[
            "items"
        ]
        == []
    )


def test_created_by_defaults_to_the_api_key_name(alerts: AlertsEnv):
    with alerts.client_with("launch") as bot:
        r = bot.post(
            "/v1/subscriptions", json={"destination": SLACK, "follows": {"type": "all_jobs"}}
        )
    assert r.status_code == 201 and r.json()["created_by"] == "key-launch"


def test_webhook_subscription__secret_shown_once(alerts: AlertsEnv):
    sub = alerts.subscribe(
        {"type": "webhook", "url": alerts.receiver_url + "/finance"}, {"type": "all_jobs"}
    )
    secret = sub["webhook_secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    assert sub["destination"] == {"type": "webhook", "url": alerts.receiver_url + "/finance"}
    assert "secret" not in alerts.admin.get(f"/v1/subscriptions/{sub['id']}").text
    assert secret not in alerts.admin.get("/v1/subscriptions").text


def test_webhook_subscription__own_secret_is_validated(alerts: AlertsEnv):
    url = alerts.receiver_url + "/own"
    own = "whsec_" + base64.b64encode(b"k" * 32).decode()
    r = alerts.admin.post(
        "/v1/subscriptions",
        json={
            "destination": {"type": "webhook", "url": url, "secret": own},
            "follows": {"type": "all_jobs"},
        },
    )
    assert r.status_code == 201 and r.json()["webhook_secret"] == own
    for bad in ("plain-secret", "whsec_not*base64", "whsec_" + base64.b64encode(b"short").decode()):
        r = alerts.admin.post(
            "/v1/subscriptions",
            json={
                "destination": {"type": "webhook", "url": url + "2", "secret": bad},
                "follows": {"type": "all_jobs"},
            },
        )
        assert r.status_code == 422, bad
        assert r.json()["field"] == "destination.secret"


def test_same_destination_following_the_same_thing_twice_is_a_conflict(alerts: AlertsEnv):
    first = alerts.subscribe(SLACK, {"type": "job", "job_id": "ftjob-abc123"})
    r = alerts.admin.post(
        "/v1/subscriptions",
        json={"destination": SLACK, "follows": {"type": "job", "job_id": "ftjob-abc123"}},
    )
    assert r.status_code == 409
    assert (
        r.json()["code"] == "duplicate_subscription" and r.json()["subscription_id"] == first["id"]
    )
    # Following something else from the same channel is fine.
    alerts.subscribe(SLACK, {"type": "job", "job_id": "ftjob-other"})


def test_tpm_subscription__model_names_are_normalised_to_their_pool(alerts: AlertsEnv):
    sub = alerts.subscribe(
        SLACK, {"type": "tpm", "family": "gpt-3.5-turbo-0613", "threshold_pct": 90}
    )
    assert sub["follows"] == {"type": "tpm", "family": "gpt-3.5-turbo", "threshold_pct": 90}
    sub = alerts.subscribe(SLACK, {"type": "tpm", "family": "GPT-4"})
    assert sub["follows"] == {"type": "tpm", "family": "gpt-4", "threshold_pct": None}
    r = alerts.admin.post(
        "/v1/subscriptions",
        json={"destination": SLACK, "follows": {"type": "tpm", "family": "gpt-3.5-turbo-16kk"}},
    )
    assert r.status_code == 422 and "gpt-3.5-turbo-16k" in r.json()["suggestions"]


@sqlite_only
@pytest.mark.parametrize(
    ("body", "where"),
    [
        (
            {
                "destination": {"type": "slack", "channel": "#general"},
                "follows": {"type": "all_jobs"},
            },
            "channel",
        ),
        (
            {"destination": {"type": "email", "to": "a@b.c"}, "follows": {"type": "all_jobs"}},
            "destination",
        ),
        ({"destination": SLACK, "follows": {"type": "team"}}, "team"),
        ({"destination": SLACK, "follows": {"type": "team", "team": ""}}, "team"),
        ({"destination": SLACK, "follows": {"type": "job", "job_id": "12345"}}, "job_id"),
        (
            {
                "destination": SLACK,
                "follows": {"type": "tpm", "family": "gpt-4", "threshold_pct": 0},
            },
            "threshold_pct",
        ),
        (
            {
                "destination": SLACK,
                "follows": {"type": "tpm", "family": "gpt-4", "threshold_pct": 101},
            },
            "threshold_pct",
        ),
        ({"destination": SLACK, "follows": {"type": "everything"}}, "follows"),
        ({"destination": SLACK}, "follows"),
    ],
)
def test_invalid_subscription__422_problem_naming_the_field(
    alerts: AlertsEnv, body: dict, where: str
):
    r = alerts.admin.post("/v1/subscriptions", json=body)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert where in r.json()["detail"]


def test_scopes__launch_to_subscribe_read_to_list(alerts: AlertsEnv):
    body = {"destination": SLACK, "follows": {"type": "all_jobs"}}
    with alerts.client_with("read") as reader, alerts.client_with("launch") as launcher:
        assert reader.post("/v1/subscriptions", json=body).status_code == 403
        created = launcher.post("/v1/subscriptions", json=body)
        assert created.status_code == 201
        assert reader.get("/v1/subscriptions").status_code == 200
        assert reader.delete(f"/v1/subscriptions/{created.json()['id']}").status_code == 403
        assert reader.get("/v1/alerts").status_code == 200
    from tests.service.conftest import client_for

    with client_for(alerts.app, None) as anon:
        assert anon.post("/v1/subscriptions", json=body).status_code == 401
        assert anon.get("/v1/alerts").status_code == 401


@sqlite_only
@pytest.mark.parametrize(
    "url",
    [
        "ftp://files.example.com/hook",
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/",
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://metadata.google.internal./computeMetadata/v1/",
        "http://[fe80::1]/hook",
        "http://100.100.100.200/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://2852039166/latest/meta-data/",  # 169.254.169.254 written as one number
        "http://0.0.0.0:9000/",
        "http://user:password@127.0.0.1:9000/hook",
        # The service itself (RATECARD_PORT), even with loopback allowed:
        "http://127.0.0.1:8000/v1/alerts",
        "http://localhost:8000/v1/keys",
        "http://127.0.0.2:8000/",
        "http://no-such-host.invalid/hook",
    ],
)
def test_webhook_url_refused(alerts: AlertsEnv, url: str):
    r = alerts.admin.post(
        "/v1/subscriptions",
        json={"destination": {"type": "webhook", "url": url}, "follows": {"type": "all_jobs"}},
    )
    assert r.status_code == 422, r.text
    assert r.json()["code"] in ("forbidden_webhook_url", "unresolvable_webhook_host")
    assert r.json()["detail"].startswith("webhook URL refused")


def test_webhook_on_loopback__refused_unless_the_operator_allows_it(api: Api):
    # The `api` fixture runs with default settings: RATECARD_WEBHOOK_ALLOWED_NETWORKS is empty.
    r = api.admin.post(
        "/v1/subscriptions",
        json={
            "destination": {"type": "webhook", "url": "http://127.0.0.1:9999/h"},
            "follows": {"type": "all_jobs"},
        },
    )
    assert r.status_code == 422 and "RATECARD_WEBHOOK_ALLOWED_NETWORKS" in r.json()["detail"]
