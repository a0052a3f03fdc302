def test_prices__versions_list_every_version_with_source(api):
    versions = api.admin.get("/v1/prices/versions").json()["versions"]
    assert versions[0]["version"] == "2023-03-01"
    assert all(v["source"] for v in versions)


def test_prices__as_of_returns_table_and_version(api):
    body = api.admin.get(
        "/v1/prices", params={"as_of": "2023-09-01", "model": "gpt-3.5-turbo"}
    ).json()
    assert body["version"] == "2023-08-22"
    assert body["models"] == {
        "gpt-3.5-turbo-0613": {
            "usd_per_1m_input_tokens": "1.50",
            "usd_per_1m_output_tokens": "2.00",
            "usd_per_1m_training_tokens": "8.00",
            "usd_per_1m_ft_input_tokens": "12.00",
            "usd_per_1m_ft_output_tokens": "16.00",
        }
    }


def test_prices__unknown_model_suggests(api):
    r = api.admin.get("/v1/prices", params={"as_of": "2024-01-01", "model": "gpt4-turbo"})
    assert r.status_code == 422
    assert "gpt-4-turbo" in r.json()["suggestions"]


def test_prices__bad_date_is_422_problem(api):
    r = api.admin.get("/v1/prices", params={"as_of": "01/02/2024"})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")


def test_prices__diff(api):
    changes = api.admin.get(
        "/v1/prices/diff", params={"from": "2023-08-22", "to": "2023-11-06"}
    ).json()["changes"]
    assert {
        "model": "gpt-3.5-turbo-0613",
        "field": "usd_per_1m_ft_output_tokens",
        "old": "16.00",
        "new": "6.00",
    } in changes
    assert (
        api.admin.get("/v1/prices/diff", params={"from": "2023-08-22", "to": "nope"}).status_code
        == 404
    )


NEW = {
    "version": "2026-12-15",
    "effective_date": "2026-12-15",
    "source": "https://example.invalid/pricing",
    "models": {
        "gpt-4o-mini-2024-07-18": {
            "usd_per_1m_input_tokens": "0.12",
            "usd_per_1m_training_tokens": "2.50",
        }
    },
}


def test_prices__publish_then_used_by_lookup(api):
    r = api.admin.post("/v1/prices/versions", json=NEW)
    assert r.status_code == 201, r.text
    table = api.admin.get("/v1/prices", params={"as_of": "2027-01-01"}).json()
    assert table["version"] == "2026-12-15"
    assert table["models"]["gpt-4o-mini-2024-07-18"]["usd_per_1m_input_tokens"] == "0.12"
    assert (
        api.admin.get("/v1/prices", params={"as_of": "2026-12-14"}).json()["version"]
        == "2026-12-01"
    )


def test_prices__published_versions_are_immutable_409(api):
    assert api.admin.post("/v1/prices/versions", json=NEW).status_code == 201
    assert api.admin.post("/v1/prices/versions", json=NEW).status_code == 409
    assert api.admin.put("/v1/prices/versions/2026-12-01", json=NEW).status_code == 409
    assert (
        api.admin.post("/v1/prices/versions", json={**NEW, "version": "2023-08-22"}).status_code
        == 409
    )


def test_prices__publish_validation(api):
    bad_price = {**NEW, "models": {"gpt-4o-mini-2024-07-18": {"usd_per_1m_input_tokens": "-1"}}}
    assert api.admin.post("/v1/prices/versions", json=bad_price).status_code == 422
    unknown = {**NEW, "models": {"gpt-9": {"usd_per_1m_input_tokens": "1"}}}
    assert api.admin.post("/v1/prices/versions", json=unknown).status_code == 422
    too_early = {**NEW, "version": "late", "effective_date": "2024-01-01"}
    assert api.admin.post("/v1/prices/versions", json=too_early).status_code == 422


def test_prices__publish_needs_admin(api):
    assert (
        api.client_with("read", "estimate").post("/v1/prices/versions", json=NEW).status_code == 403
    )


def test_overrides__gpt4_contract_price_used_by_estimates(api):
    body = {"model": "gpt-4", "tokens": 1_000_000, "n_epochs": 1, "as_of": "2024-06-01"}
    r = api.admin.post("/v1/estimates/training", json=body)
    assert r.status_code == 422
    assert r.json()["field"] == "usd_per_1m_training_tokens"
    put = api.admin.put(
        "/v1/prices/overrides",
        json={
            "model": "gpt-4-0613",
            "field": "usd_per_1m_training_tokens",
            "usd_per_1m_tokens": "90.00",
            "note": "MSA 2024",
        },
    )
    assert put.status_code == 200, put.text
    r = api.admin.post("/v1/estimates/training", json=body)
    assert r.status_code == 201
    assert (r.json()["cost_usd"], r.json()["price_source"]) == ("90.00", "override")
    assert (
        api.admin.delete("/v1/prices/overrides/gpt-4-0613/usd_per_1m_training_tokens").status_code
        == 204
    )
    assert api.admin.post("/v1/estimates/training", json=body).status_code == 422
