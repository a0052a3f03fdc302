"""Publishing price versions: change sets over the latest table, new catalogue entries, replicas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from service.app import create_app
from service.settings import get_settings
from tests.service.conftest import ADMIN_SECRET, Api, client_for
from tests.service.estimates.test_estimates_api import TOY

LATEST_SHIPPED = "2026-12-01"
NEW_MINI: dict[str, Any] = {
    "id": "gpt-4.1-mini-2026-10-01",
    "family": "gpt-4.1-mini",
    "context_window": 1047576,
    "training_example_limit": 65536,
    "encoding": "o200k_base",
    "released": "2026-10-01",
    "notes": "announced 2026-10-01",
}
RELEASE: dict[str, Any] = {
    "version": "2026-12-15",
    "effective_date": "2026-12-15",
    "source": "https://example.invalid/pricing#gpt-4.1-mini-2026-10-01",
    "notes": "new gpt-4.1-mini snapshot; the alias moves to it",
    "models": {
        "gpt-4.1-mini-2026-10-01": {
            "usd_per_1m_input_tokens": "0.30",
            "usd_per_1m_output_tokens": "1.20",
            "usd_per_1m_training_tokens": "4.00",
            "usd_per_1m_ft_input_tokens": "0.60",
            "usd_per_1m_ft_output_tokens": "2.40",
        }
    },
    "new_models": [NEW_MINI],
    "aliases": {"gpt-4.1-mini": "gpt-4.1-mini-2026-10-01"},
}


def table(api: Api, as_of: str, **params: str) -> dict[str, Any]:
    r = api.admin.get("/v1/prices", params={"as_of": as_of, **params})
    assert r.status_code == 200, r.text
    return dict(r.json())


def publish(api: Api, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    r = api.admin.post("/v1/prices/versions", json=body)
    assert r.status_code == status, r.text
    return dict(r.json())


def test_publish__a_change_set_keeps_every_price_it_does_not_list(api):
    before = table(api, "2026-12-14")
    publish(
        api,
        {
            "version": "2026-12-15",
            "effective_date": "2026-12-15",
            "source": "https://example.invalid/pricing",
            "models": {"gpt-4o-mini-2024-07-18": {"usd_per_1m_input_tokens": "0.12"}},
        },
    )
    after = table(api, "2027-01-01")
    assert (before["version"], after["version"]) == (LATEST_SHIPPED, "2026-12-15")
    expected = before["models"]
    expected["gpt-4o-mini-2024-07-18"]["usd_per_1m_input_tokens"] = "0.12"
    assert after["models"] == expected
    # An estimate for a model the change set did not mention still prices after the date.
    r = api.admin.post(
        "/v1/estimates/training",
        json={"model": "gpt-3.5-turbo", "tokens": 100_000, "n_epochs": 3, "as_of": "2027-01-01"},
    )
    assert r.status_code == 201, r.text
    assert (r.json()["price_version"], r.json()["cost_usd"]) == ("2026-12-15", "2.40")
    diff = api.admin.get("/v1/prices/diff", params={"from": LATEST_SHIPPED, "to": "2026-12-15"})
    assert diff.json()["changes"] == [
        {
            "model": "gpt-4o-mini-2024-07-18",
            "field": "usd_per_1m_input_tokens",
            "old": "0.15",
            "new": "0.12",
        }
    ]


def test_publish__null_withdraws_a_price_or_a_whole_model(api):
    publish(
        api,
        {
            "version": "retire-babbage",
            "effective_date": "2026-12-15",
            "source": "https://example.invalid/deprecations",
            "models": {"babbage-002": None, "davinci-002": {"usd_per_1m_training_tokens": None}},
        },
    )
    models = table(api, "2027-01-01")["models"]
    assert "babbage-002" not in models
    assert "usd_per_1m_training_tokens" not in models["davinci-002"]
    r = api.admin.post(
        "/v1/estimates/training",
        json={"model": "babbage-002", "tokens": 1000, "n_epochs": 1, "as_of": "2027-01-01"},
    )
    assert r.status_code == 422
    assert "no prices in version retire-babbage" in r.json()["detail"]


def test_publish__new_catalogue_entry_prices_resolves_and_tokenizes(api):
    publish(api, RELEASE)
    # The alias moves on the version's effective date, not before.
    assert list(table(api, "2026-12-14", model="gpt-4.1-mini")["models"]) == [
        "gpt-4.1-mini-2025-04-14"
    ]
    assert table(api, "2026-12-15", model="gpt-4.1-mini")["models"] == {
        "gpt-4.1-mini-2026-10-01": RELEASE["models"]["gpt-4.1-mini-2026-10-01"]
    }
    r = api.admin.post(
        "/v1/estimates/training",
        json={"model": "gpt-4.1-mini", "tokens": 1_000_000, "n_epochs": 2, "as_of": "2027-01-01"},
    )
    assert r.status_code == 201, r.text
    assert (r.json()["model"], r.json()["cost_usd"]) == ("gpt-4.1-mini-2026-10-01", "8.00")
    r = api.admin.post(
        "/v1/estimates/inference",
        json={
            "model": "ft:gpt-4.1-mini-2026-10-01:acme::abc123",
            "as_of": "2027-01-01",
            "workload": {
                "prompt_tokens": 1_000_000,
                "completion_tokens": 1_000_000,
                "requests_per_day": 1,
            },
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["cost_per_request_usd"] == "3.00"  # 0.60 + 2.40 fine-tuned usage

    # A training file is counted with the new entry's tokenizer (o200k, like gpt-4o-mini).
    def file_tokens(model: str, as_of: str) -> int:
        with TOY.open("rb") as fh:
            r = api.admin.post(
                "/v1/estimates/training/file",
                files={"file": ("toy.jsonl", fh, "application/jsonl")},
                data={"model": model, "as_of": as_of},
            )
        assert r.status_code == 201, r.text
        return int(r.json()["billing_tokens"])

    assert file_tokens("gpt-4.1-mini-2026-10-01", "2027-01-01") == file_tokens(
        "gpt-4o-mini-2024-07-18", "2025-01-01"
    )


def test_publish__new_family_gets_its_own_usage_pool(api):
    gpt5 = {**NEW_MINI, "id": "gpt-5-2026-08-07", "family": "gpt-5"}
    publish(
        api,
        {
            **RELEASE,
            "models": {"gpt-5-2026-08-07": {"usd_per_1m_input_tokens": "1.25"}},
            "new_models": [gpt5],
            "aliases": {"gpt-5": "gpt-5-2026-08-07"},
        },
    )
    now = datetime.now(UTC).isoformat()
    event = {"model": "ft:gpt-5-2026-08-07:acme::x1", "prompt_tokens": 700, "timestamp": now}
    r = api.admin.post("/v1/usage", json=event)
    assert r.status_code in (200, 201, 202), r.text
    pool = api.admin.get("/v1/usage/pools/gpt-5")
    assert pool.status_code == 200, pool.text
    assert pool.json()["tokens_per_minute"] == 700


def test_publish__catalogue_entries_are_validated_and_immutable(api):
    unpriced = {**RELEASE, "models": {"gpt-4o-mini-2024-07-18": {"usd_per_1m_input_tokens": "1"}}}
    assert "need prices" in publish(api, unpriced, 422)["detail"]
    typo = {**RELEASE, "models": {"gpt-4.1-mini-2026-10-0l": RELEASE["models"][NEW_MINI["id"]]}}
    problem = publish(api, typo, 422)
    assert problem["unknown_models"] == ["gpt-4.1-mini-2026-10-0l"]
    assert "gpt-4.1-mini-2026-10-01" in problem["suggestions"]["gpt-4.1-mini-2026-10-0l"]
    bad_encoding = {**RELEASE, "new_models": [{**NEW_MINI, "encoding": "p50k_base"}]}
    assert "not shipped" in publish(api, bad_encoding, 422)["detail"]
    dangling = {**RELEASE, "aliases": {"gpt-4.1-mini": "gpt-4.1-mini-2099-01-01"}}
    assert "unknown model" in publish(api, dangling, 422)["detail"]

    publish(api, RELEASE)
    again = {**RELEASE, "version": "2026-12-16", "effective_date": "2026-12-16"}
    problem = publish(api, again, 409)
    assert "already in the catalogue" in problem["detail"]
    existing = {
        **RELEASE,
        "version": "2026-12-17",
        "new_models": [{**NEW_MINI, "id": "gpt-4o-2024-08-06"}],
        "models": {"gpt-4o-2024-08-06": {"usd_per_1m_input_tokens": "1"}},
        "aliases": {},
    }
    assert publish(api, existing, 409)["title"] == "Catalogue entry already published"
    # Nothing of the refused attempts was kept.
    versions = [v["version"] for v in api.admin.get("/v1/prices/versions").json()["versions"]]
    assert versions[-2:] == [LATEST_SHIPPED, "2026-12-15"]


def test_publish__every_replica_sees_it_on_its_next_request(api, database_url, tmp_path):
    other = create_app(
        get_settings(database_url=database_url, upload_dir=tmp_path / "b", run_watcher=False),
        run_background=False,
    )
    with client_for(other, ADMIN_SECRET) as replica:
        assert replica.get("/v1/prices", params={"as_of": "2027-01-01"}).json()["version"] == (
            LATEST_SHIPPED
        )  # replica B has now cached the shipped reference
        publish(api, RELEASE)  # through replica A
        r = replica.get("/v1/prices", params={"as_of": "2027-01-01", "model": "gpt-4.1-mini"})
        assert r.status_code == 200, r.text
        assert list(r.json()["models"]) == ["gpt-4.1-mini-2026-10-01"]
        override = {
            "model": "gpt-4-0613",
            "field": "usd_per_1m_training_tokens",
            "usd_per_1m_tokens": "90.00",
        }
        assert api.admin.put("/v1/prices/overrides", json=override).status_code == 200
        body = {"model": "gpt-4", "tokens": 1_000_000, "n_epochs": 1, "as_of": "2024-06-01"}
        assert replica.post("/v1/estimates/training", json=body).json()["cost_usd"] == "90.00"
        assert (
            api.admin.delete(
                "/v1/prices/overrides/gpt-4-0613/usd_per_1m_training_tokens"
            ).status_code
            == 204
        )
        assert replica.post("/v1/estimates/training", json=body).status_code == 422
    other.state.engine.dispose()


def test_publish__survives_a_restart(api, database_url, tmp_path):
    publish(api, RELEASE)
    restarted = create_app(
        get_settings(database_url=database_url, upload_dir=tmp_path / "c", run_watcher=False),
        run_background=False,
    )
    from service.prices import service

    service._cache.clear()  # a new process starts with nothing cached
    with client_for(restarted, ADMIN_SECRET) as client:
        r = client.get("/v1/prices", params={"as_of": "2027-01-01", "model": "gpt-4.1-mini"})
        assert list(r.json()["models"]) == ["gpt-4.1-mini-2026-10-01"]
    restarted.state.engine.dispose()
