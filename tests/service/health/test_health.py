def test_healthz__no_auth_needed(api):
    assert api.anon.get("/healthz").json() == {"status": "ok"}


def test_readyz__database_and_tokenizers_checked(api):
    r = api.anon.get("/readyz")
    assert r.status_code == 200
    assert r.json()["checks"] == {"database": "ok", "tokenizers": "ok"}


def test_readyz__database_down_is_503(api):
    api.app.state.engine.dispose()
    from sqlalchemy import create_engine

    api.app.state.engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    r = api.anon.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["database"].startswith("unreachable")


def test_openapi__documents_every_endpoint(api):
    doc = api.anon.get("/openapi.json").json()
    for path in [
        "/v1/prices",
        "/v1/prices/versions",
        "/v1/prices/diff",
        "/v1/estimates/training",
        "/v1/estimates/training/file",
        "/v1/estimates/inference",
        "/v1/estimates.csv",
        "/v1/keys",
    ]:
        assert path in doc["paths"], path
    assert api.anon.get("/docs").status_code == 200
