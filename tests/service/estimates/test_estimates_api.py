import asyncio
import csv
import io
import json
import tempfile
from pathlib import Path

import pytest

from service.auth.service import create_key
from service.db import session_scope
from tests.service.asgi import bearer, http_scope
from tests.service.conftest import build_app

TOY = Path(__file__).resolve().parents[3] / "pricing" / "data" / "sample_chat.jsonl"
SEED = {"model": "gpt-3.5-turbo", "tokens": 100_000, "n_epochs": 3, "as_of": "2023-09-01"}


def test_training__seed_example_costs_2_40_as_decimal_string(api):
    r = api.admin.post("/v1/estimates/training", json=SEED)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["cost_usd"] == "2.40"
    assert body["price_version"] == "2023-08-22"
    assert (body["billing_tokens"], body["n_epochs"], body["charged_tokens"]) == (
        100_000,
        3,
        300_000,
    )
    assert body["usd_per_1m_training_tokens"] == "8.00"


def test_training__token_lengths_reproduce_cookbook(api):
    body = api.admin.post(
        "/v1/estimates/training",
        json={
            "model": "gpt-3.5-turbo-0613",
            "token_lengths": [45, 111, 26, 28, 8032],
            "as_of": "2023-09-01",
        },
    ).json()
    assert (body["billing_tokens"], body["n_epochs"], body["charged_tokens"]) == (4306, 20, 86120)


def test_training__stored_and_read_back_identically(api):
    created = api.admin.post("/v1/estimates/training", json=SEED).json()
    stored = api.admin.get(f"/v1/estimates/{created['id']}").json()
    assert stored["cost_usd"] == "2.40"
    assert stored["result"]["cost_usd"] == created["cost_usd"]
    assert stored["requested_by"] == "admin"
    assert stored["price_version"] == "2023-08-22"


def test_money__tiny_amount_survives_the_database_exactly(api):
    # 7 tokens x 3 epochs at $1.50/1M (babbage ft training is 0.40): an amount with 6 decimals.
    created = api.admin.post(
        "/v1/estimates/training",
        json={"model": "babbage-002", "tokens": 7, "n_epochs": 3, "as_of": "2024-01-01"},
    ).json()
    assert created["cost_usd"] == "0.000008"
    assert api.admin.get(f"/v1/estimates/{created['id']}").json()["cost_usd"] == "0.000008"


@pytest.mark.parametrize(
    "body",
    [
        {"model": "gpt-3.5-turbo"},
        {"model": "gpt-3.5-turbo", "tokens": -1},
        {"model": "gpt-3.5-turbo", "tokens": 1, "token_lengths": [1]},
        {"model": "gpt-3.5-turbo", "tokens": 1, "n_epochs": 0},
        {"model": "gpt-3.5-turbo", "tokens": 1, "n_epochs": "lots"},
        {"model": "gpt-3.5-turbo", "tokens": 1.5},
        {"model": "", "tokens": 1},
    ],
)
def test_training__invalid_body_is_422_problem(api, body):
    r = api.admin.post("/v1/estimates/training", json=body)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "Traceback" not in r.text


def test_training__unknown_model_has_suggestions(api):
    r = api.admin.post("/v1/estimates/training", json={"model": "gpt-4o-mnii", "tokens": 10})
    assert r.status_code == 422
    assert "gpt-4o-mini" in r.json()["suggestions"]


def test_training__not_fine_tunable_is_422(api):
    r = api.admin.post(
        "/v1/estimates/training", json={"model": "gpt-4-32k", "tokens": 10, "as_of": "2024-01-01"}
    )
    assert r.status_code == 422
    assert "cannot be fine-tuned" in r.json()["detail"]


def test_file__upload_reproduces_cookbook_numbers(api):
    with TOY.open("rb") as fh:
        r = api.admin.post(
            "/v1/estimates/training/file",
            files={"file": ("toy.jsonl", fh, "application/jsonl")},
            data={"model": "gpt-3.5-turbo-0613", "as_of": "2023-09-01"},
        )
    assert r.status_code == 201, r.text
    body = r.json()
    assert (
        body["n_examples"],
        body["billing_tokens"],
        body["n_epochs"],
        body["charged_tokens"],
    ) == (5, 4306, 20, 86120)
    assert body["dataset"]["total_tokens"] == 45 + 111 + 26 + 28 + 8032
    assert any("at least 10" in w for w in body["warnings"])


def test_file__format_errors_are_422_with_line_numbers(api):
    good = json.dumps(
        {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
    )
    content = (
        "\n".join(
            [
                good,
                good,
                "{oops",
                good,
                json.dumps({"messages": [{"role": "robot", "content": "x"}]}),
            ]
        )
        + "\n"
    )
    r = api.admin.post(
        "/v1/estimates/training/file",
        files={"file": ("bad.jsonl", content.encode(), "application/jsonl")},
        data={"model": "gpt-4o-mini", "as_of": "2024-09-01"},
    )
    assert r.status_code == 422
    errors = {e["kind"]: e for e in r.json()["format_errors"]}
    assert errors["invalid_json"]["lines"] == [3]
    assert errors["unrecognized_role"]["lines"] == [5]
    assert api.admin.get("/v1/estimates").json()["items"] == []  # nothing stored for a refused file


def test_file__empty_upload_is_422(api):
    r = api.admin.post(
        "/v1/estimates/training/file",
        files={"file": ("e.jsonl", b"", "application/jsonl")},
        data={"model": "gpt-4o-mini"},
    )
    assert r.status_code == 422


def test_file__too_large_is_413(api):
    api.app.state.settings.max_upload_bytes = 100
    r = api.admin.post(
        "/v1/estimates/training/file",
        files={"file": ("big.jsonl", b"x" * 1000, "application/jsonl")},
        data={"model": "gpt-4o-mini"},
    )
    assert r.status_code == 413


def test_inference__workload_and_scenarios_with_break_even(api):
    body = {
        "model": "gpt-3.5-turbo",
        "as_of": "2024-01-01",
        "workload": {"prompt_tokens": 1500, "completion_tokens": 200, "requests_per_day": 1000},
        "fine_tune_prompt_cut": 0.9,
        "scenarios": [{"model": "gpt-4"}],
        "training_tokens": 100_000,
        "training_epochs": 3,
    }
    r = api.admin.post("/v1/estimates/inference", json=body)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["cost_per_request_usd"] == "0.00265"
    assert out["cost_per_month_usd"] == "79.50"
    names = [s["name"] for s in out["scenarios"]]
    assert names[0] == "gpt-3.5-turbo" and names[2] == "gpt-4" and out["scenarios"][1]["fine_tuned"]
    assert out["scenarios"][1]["prompt_tokens"] == 150
    assert out["training"]["cost_usd"] == "2.40"
    base = next(b for b in out["break_even"] if b["against"] == "gpt-3.5-turbo")
    assert (base["requests"], base["never"], base["days"]) == (2400, False, "2.4")


def test_inference__break_even_never_when_fine_tune_costs_more(api):
    body = {
        "model": "gpt-3.5-turbo",
        "as_of": "2023-09-01",
        "fine_tune_prompt_cut": 0.0,
        "workload": {"prompt_tokens": 100, "completion_tokens": 100, "requests_per_day": 10},
        "training_tokens": 1000,
    }
    out = api.admin.post("/v1/estimates/inference", json=body).json()
    assert out["break_even"][0]["never"] is True


def test_list__pagination_filters_and_csv(api):
    ids = [api.admin.post("/v1/estimates/training", json=SEED).json()["id"] for _ in range(3)]
    api.client_with("estimate", name="ml-team").post("/v1/estimates/training", json=SEED)
    page1 = api.admin.get("/v1/estimates", params={"limit": 2, "requested_by": "admin"}).json()
    page2 = api.admin.get(
        "/v1/estimates",
        params={"limit": 2, "requested_by": "admin", "cursor": page1["next_cursor"]},
    ).json()
    seen = [i["id"] for i in page1["items"] + page2["items"]]
    assert sorted(seen) == sorted(ids) and page2["next_cursor"] is None
    r = api.client_with("read", name="finance").get("/v1/estimates.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 4
    assert {row["cost_usd"] for row in rows} == {"2.40"}
    assert {row["requested_by"] for row in rows} == {"admin", "ml-team"}


def test_get__unknown_estimate_is_404(api):
    assert api.admin.get("/v1/estimates/est_nope").status_code == 404


@pytest.mark.parametrize(
    ("path", "schema", "body"),
    [
        ("/v1/estimates/training", "TrainingEstimateOut", {**SEED, "token_lengths": None}),
        (
            "/v1/estimates/inference",
            "InferenceEstimateOut",
            {
                "model": "gpt-3.5-turbo",
                "as_of": "2024-01-01",
                "workload": {"prompt_tokens": 900, "completion_tokens": 90, "requests_per_day": 50},
                "fine_tune_prompt_cut": 0.5,
                "scenarios": [{"model": "gpt-4", "name": "big"}],
                "training_tokens": 50_000,
            },
        ),
        (
            "/v1/estimates/training",
            "TrainingEstimateOut",
            {
                "model": "o4-mini",
                "method": "reinforcement",
                "training_hours": "1.5",
                "training_hours_max": 3,
                "as_of": "2025-06-01",
            },
        ),
        (
            "/v1/estimates/inference",
            "InferenceEstimateOut",
            {
                "model": "ft:gpt-4o-mini-2024-07-18:acme::x",
                "tier": "batch",
                "as_of": "2026-12-06",
                "workload": {"prompt_tokens": 900, "completion_tokens": 90, "requests_per_day": 50},
                "scenarios": [
                    {
                        "model": "gpt-5.5",
                        "tier": "standard",
                        "prompt_tokens": 300_000,
                        "cached_prompt_tokens": 200_000,
                    },
                    {"model": "gpt-6-luna", "tier": "fast", "cache_write_tokens": 100},
                ],
                "training_tokens": 50_000,
            },
        ),
    ],
)
def test_estimates__responses_carry_exactly_the_documented_fields(api, path, schema, body):
    # These endpoints send their result without FastAPI re-validating it, so the result must
    # already be exactly what the response schema documents: no field more, none less.
    from service.estimates import schemas

    model = getattr(schemas, schema)
    for _ in range(2):  # the first request fills the caches, the second takes the fast path
        out = api.admin.post(path, json=body).json()
        assert model.model_validate(out).model_dump(mode="json") == out


def test_estimates__a_revoked_key_without_the_scope_is_401_not_403(api):
    reader = api.client_with("read", name="finance")
    assert reader.post("/v1/estimates/training", json=SEED).status_code == 403
    key_id = next(k["id"] for k in api.admin.get("/v1/keys").json() if k["name"] == "finance")
    assert api.admin.delete(f"/v1/keys/{key_id}").status_code in (200, 204)
    r = reader.post("/v1/estimates/training", json=SEED)
    assert r.status_code == 401, r.text


@pytest.fixture
def small_limit_api(database_url, tmp_path):
    from tests.service.conftest import ADMIN_SECRET, build_app, client_for

    app = build_app(database_url, tmp_path, max_request_bytes=4096)
    with client_for(app, ADMIN_SECRET) as admin:
        yield admin


def _lengths_body(n: int) -> dict:
    return {"model": "gpt-3.5-turbo", "token_lengths": [1000] * n, "as_of": "2024-06-01"}


def test_estimates__a_body_over_the_request_limit_is_413_and_stores_nothing(small_limit_api):
    admin = small_limit_api
    r = admin.post("/v1/estimates/training", json=_lengths_body(2000))
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("application/problem+json")
    # Sent without a Content-Length (chunked), it is cut off while it is read.
    raw = json.dumps(_lengths_body(2000)).encode()
    chunks = iter([raw[i : i + 1024] for i in range(0, len(raw), 1024)])
    r = admin.post(
        "/v1/estimates/inference", content=chunks, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert admin.get("/v1/estimates").json()["items"] == []


def test_estimates__a_body_under_the_request_limit_is_estimated(small_limit_api):
    r = small_limit_api.post("/v1/estimates/training", json=_lengths_body(300))
    assert r.status_code == 201, r.text


def test_file__an_upload_is_not_held_to_the_request_limit(small_limit_api):
    r = small_limit_api.post(
        "/v1/estimates/training/file",
        files={"file": ("toy.jsonl", TOY.read_bytes(), "application/jsonl")},
        data={"model": "gpt-3.5-turbo", "as_of": "2024-06-01"},
    )
    assert len(TOY.read_bytes()) > 4096
    assert r.status_code == 201, r.text


def test_estimates__the_largest_valid_body_fits_the_default_request_limit():
    from service.settings import get_settings

    most = {"model": "gpt-3.5-turbo", "token_lengths": [10**9] * 1_000_000, "n_epochs": 50}
    size = len(json.dumps(most).encode())
    assert size <= get_settings().max_request_bytes


def test_file__an_upload_far_over_the_upload_limit_is_refused_before_it_is_spooled(api):
    declared = 2 * 1024**3  # over the default 1 GiB limit; only the header is ever sent
    r = api.admin.post(
        "/v1/estimates/training/file",
        content=iter([b"--x\r\n"]),
        headers={
            "content-type": "multipart/form-data; boundary=x",
            "content-length": str(declared),
        },
    )
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("application/problem+json")


def test_estimates__a_streamed_csv_is_not_broken_by_a_request_body(small_limit_api, caplog):
    admin = small_limit_api
    assert admin.post("/v1/estimates/training", json=SEED).status_code == 201
    expected = admin.get("/v1/estimates.csv").text
    for chunks in ([b"x" * 100], [b"x" * 1024] * 8):  # under and over the 4 KiB limit
        r = admin.request("GET", "/v1/estimates.csv", content=iter(chunks))
        assert r.status_code == 200
        assert r.text == expected
    assert "unhandled error" not in caplog.text


def test_problems__a_wrong_method_is_405_with_allow(api):
    r = api.admin.put("/v1/estimates/inference", json={})
    assert r.status_code == 405
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["allow"] == "POST"


@pytest.mark.parametrize(
    ("scopes", "status"), [(None, 401), ("wrong", 401), (("read",), 403)], ids=str
)
def test_file__the_key_is_checked_before_the_upload_is_read(database_url, tmp_path, scopes, status):
    # An endless upload: read, it would run into the size limit (413) after a megabyte or so.
    app = build_app(database_url, tmp_path, max_upload_bytes=64 * 1024)
    headers = [
        (b"content-type", b"multipart/form-data; boundary=b"),
        (b"transfer-encoding", b"chunked"),
    ]
    if scopes == "wrong":
        headers.append(bearer("rc_not_a_key_at_all_0123456789abcdef"))
    elif scopes:
        with session_scope(app.state.engine) as session:
            _, secret = create_key(session, name="finance", scopes=scopes)
        headers.append(bearer(secret))
    chunks_read = 0
    answer: list[dict] = []

    async def receive() -> dict:
        nonlocal chunks_read
        chunks_read += 1
        return {"type": "http.request", "body": b"x" * 65536, "more_body": True}

    async def send(message: dict) -> None:
        answer.append(message)

    asyncio.run(app(http_scope("POST", "/v1/estimates/training/file", headers), receive, send))
    assert answer[0]["status"] == status
    assert b"application/problem+json" in dict(answer[0]["headers"])[b"content-type"]
    assert chunks_read == 0


@pytest.mark.parametrize("copies", [1, 400], ids=["held-in-memory", "spooled-to-disk"])
def test_file__an_upload_is_counted_from_the_file_starlette_wrote_not_a_copy(
    api, monkeypatch, copies
):
    # 400 copies of the sample are about 3.6 MB: more than Starlette keeps in memory.
    copied: list[str] = []
    real_mkstemp = tempfile.mkstemp

    def recording_mkstemp(*args, **kwargs):
        made = real_mkstemp(*args, **kwargs)
        copied.append(made[1])
        return made

    monkeypatch.setattr(tempfile, "mkstemp", recording_mkstemp)
    r = api.admin.post(
        "/v1/estimates/training/file",
        files={"file": ("toy.jsonl", TOY.read_bytes() * copies, "application/jsonl")},
        data={"model": "gpt-3.5-turbo-0613", "as_of": "2023-09-01"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["n_examples"] == 5 * copies
    assert r.json()["dataset"]["total_tokens"] == (45 + 111 + 26 + 28 + 8032) * copies
    assert copied == []
