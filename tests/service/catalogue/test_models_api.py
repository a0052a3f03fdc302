"""GET /v1/models: every model with its state, shutdown date and days left on a date."""

from __future__ import annotations


def models(api, **params):
    r = api.admin.get("/v1/models", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def by_id(body):
    return {m["id"]: m for m in body["models"]}


def test_models__today_lists_the_countdown_and_the_wind_down(api):
    body = models(api, as_of="2026-12-06")
    assert body["fine_tuning_closes"] == "2027-01-06"
    assert [e["date"] for e in body["platform"]] == ["2026-05-07", "2026-07-02", "2027-01-06"]
    mini = by_id(body)["gpt-4o-mini-2024-07-18"]
    assert (mini["state"], mini["shutdown_date"], mini["days_left"], mini["replacement"]) == (
        "deprecated",
        "2027-01-14",
        39,
        "gpt-6-luna",
    )
    assert mini["fine_tuning"][0] | {"warnings": []} == {
        "method": "supervised",
        "accepted": True,
        "reason": "accepted",
        "last_day": "2027-01-05",
        "days_left": 31,
        "warnings": [],
    }
    davinci = by_id(body)["davinci-002"]
    assert davinci["state"] == "shut_down"
    assert davinci["fine_tuning"][0]["accepted"] is False
    assert by_id(body)["gpt-6-luna"]["state"] == "available"
    assert body["aliases"]["gpt-5.6"] == "gpt-5.6-sol"


def test_models__a_fine_tuned_name_gets_its_bases_dates(api):
    body = models(api, as_of="2026-12-06", name="ft:gpt-4.1-2025-04-14:acme:support:abc123")
    [model] = body["models"]
    assert (model["id"], model["fine_tuned"], model["requested"]) == (
        "gpt-4.1-2025-04-14",
        True,
        "ft:gpt-4.1-2025-04-14:acme:support:abc123",
    )
    assert (model["shutdown_date"], model["days_left"]) == ("2027-01-14", 39)


def test_models__as_of_before_the_notice_knows_no_shutdown(api):
    body = models(api, as_of="2026-06-01", name="gpt-4o-mini")
    assert body["models"][0]["shutdown_date"] is None
    assert body["fine_tuning_closes"] == "2027-01-06"  # the wind-down was announced 2026-05-07
    assert models(api, as_of="2026-05-01")["fine_tuning_closes"] is None


def test_models__filters(api):
    body = models(api, as_of="2026-12-06", state="deprecated", fine_tunable="true")
    assert sorted(by_id(body)) == [
        "gpt-4.1-2025-04-14",
        "gpt-4.1-mini-2025-04-14",
        "gpt-4o-2024-08-06",
        "gpt-4o-mini-2024-07-18",
    ]


def test_models__unknown_name_is_422_with_near_matches(api):
    r = api.admin.get("/v1/models", params={"name": "gpt-6-lune"})
    assert r.status_code == 422
    assert "gpt-6-luna" in r.text


def test_models__needs_a_key(api):
    assert api.anon.get("/v1/models").status_code == 401


def test_models__a_published_notice_moves_a_date_from_its_announcement(api):
    body = {
        "version": "2026-12-20",
        "effective_date": "2026-12-20",
        "source": "https://example.invalid/deprecations",
        "models": {"gpt-6-luna": {"usd_per_1m_input_tokens": "0.10"}},
        "lifecycle": {
            "shutdown": [
                {
                    "models": ["gpt-4o-mini-2024-07-18"],
                    "announced": "2026-12-20",
                    "shutdown": "2027-03-01",
                    "replacement": "gpt-6-luna",
                    "source": "https://example.invalid/deprecations#postponed",
                }
            ]
        },
    }
    r = api.admin.post("/v1/prices/versions", json=body)
    assert r.status_code == 201, r.text
    before = models(api, as_of="2026-12-19", name="gpt-4o-mini")["models"][0]
    after = models(api, as_of="2026-12-20", name="gpt-4o-mini")["models"][0]
    assert (before["shutdown_date"], after["shutdown_date"]) == ("2027-01-14", "2027-03-01")


def test_models__a_notice_for_an_unknown_model_is_refused_and_nothing_is_kept(api):
    body = {
        "version": "2026-12-20",
        "effective_date": "2026-12-20",
        "source": "x",
        "models": {"gpt-6-luna": {"usd_per_1m_input_tokens": "0.10"}},
        "lifecycle": {
            "shutdown": [
                {
                    "models": ["gpt-9"],
                    "announced": "2026-12-20",
                    "shutdown": "2027-03-01",
                    "source": "x",
                }
            ]
        },
    }
    r = api.admin.post("/v1/prices/versions", json=body)
    assert r.status_code == 422
    assert "gpt-9" in r.json()["detail"]
    versions = [v["version"] for v in api.admin.get("/v1/prices/versions").json()["versions"]]
    assert "2026-12-20" not in versions


def test_models__a_published_model_carries_its_long_context_step_and_methods(api):
    body = {
        "version": "2026-12-21",
        "effective_date": "2026-12-21",
        "source": "https://example.invalid/gpt-6.3",
        "new_models": [
            {
                "id": "gpt-6.3-luna-2026-12-21",
                "family": "gpt-6.3-luna",
                "context_window": 1050000,
                "encoding": "o200k_base",
                "released": "2026-12-21",
                "long_context_threshold": 272000,
            }
        ],
        "models": {
            "gpt-6.3-luna-2026-12-21": {
                "usd_per_1m_input_tokens": "0.08",
                "usd_per_1m_output_tokens": "0.40",
                "usd_per_1m_long_context_input_tokens": "0.16",
                "usd_per_1m_long_context_output_tokens": "0.60",
            }
        },
    }
    r = api.admin.post("/v1/prices/versions", json=body)
    assert r.status_code == 201, r.text
    [model] = models(api, as_of="2026-12-21", name="gpt-6.3-luna-2026-12-21")["models"]
    assert (model["long_context_threshold"], model["fine_tuning"]) == (272000, [])
    r = api.admin.post(
        "/v1/estimates/inference",
        json={
            "model": "gpt-6.3-luna-2026-12-21",
            "workload": {
                "prompt_tokens": 300_000,
                "completion_tokens": 1000,
                "requests_per_day": 1,
            },
            "as_of": "2026-12-21",
        },
    )
    assert r.status_code in (200, 201), r.text
    # Over the threshold the whole request bills at the long-context step:
    # 300,000 x 0.16 + 1,000 x 0.60.
    assert r.json()["scenarios"][0]["cost_per_request_usd"] == "0.0486"
