import threading

import anyio.to_thread

from tests.service.conftest import ADMIN_SECRET, client_for


def test_healthz__no_auth_needed(api):
    assert api.anon.get("/healthz").json() == {"status": "ok"}


def test_healthz__answers_while_every_worker_thread_is_busy(api):
    # A liveness probe must not queue behind slow sync work: an orchestrator would restart a
    # process that is merely busy.
    release = threading.Event()

    def stuck() -> dict[str, str]:
        release.wait(30)
        return {}

    api.app.add_api_route("/test-stuck", stuck)
    with client_for(api.app, None) as client:
        limiter = client.portal.call(anyio.to_thread.current_default_thread_limiter)
        client.portal.call(setattr, limiter, "total_tokens", 1)
        blocker = threading.Thread(target=client.get, args=("/test-stuck",))
        answers: list[int] = []
        probe = threading.Thread(target=lambda: answers.append(client.get("/healthz").status_code))
        blocker.start()
        try:
            for _ in range(500):
                if client.portal.call(lambda: limiter.borrowed_tokens) == 1:
                    break
                threading.Event().wait(0.01)
            assert client.portal.call(lambda: limiter.borrowed_tokens) == 1  # all threads busy
            probe.start()
            probe.join(5)
            assert answers == [200], "GET /healthz waited for a worker thread"
        finally:
            release.set()
            blocker.join(10)
            if probe.is_alive():
                probe.join(10)


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


def test_database_down__requests_get_503_problem_with_retry_after(api):
    from sqlalchemy import create_engine

    api.app.state.engine.dispose()
    api.app.state.engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    api.app.state.key_cache.forget(ADMIN_SECRET)
    r = api.admin.get("/v1/estimates")
    assert r.status_code == 503
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["retry-after"] == "5"
    assert "127.0.0.1" not in r.text
    assert api.anon.get("/healthz").status_code == 200  # the process itself is fine


def test_database_error__a_defect_is_500_not_a_retryable_503(api, caplog):
    from sqlalchemy import text

    with api.app.state.engine.begin() as connection:
        connection.execute(text("DROP TABLE estimates"))
    r = api.admin.get("/v1/estimates")
    assert r.status_code == 500
    assert "retry-after" not in r.headers
    assert "unhandled error" in caplog.text
