"""A date in a request is an ISO string, YYYY-MM-DD, and nothing else."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from service.types import IsoDate

DATES = TypeAdapter(IsoDate)


def test_iso_date__takes_yyyy_mm_dd_and_dates():
    assert DATES.validate_python("2024-03-01") == date(2024, 3, 1)
    assert DATES.validate_json('"2024-03-01"') == date(2024, 3, 1)
    assert DATES.validate_python(date(2024, 3, 1)) == date(2024, 3, 1)


@pytest.mark.parametrize(
    "value",
    [
        0,
        "0",
        1700000000,
        1.5,
        True,
        "20240301",
        "2024-W10-1",
        "2024-3-1",
        "2024-03-01T00:00:00",
        "2024-02-30",
        datetime(2024, 3, 1),
        None,
    ],
)
def test_iso_date__refuses_numbers_and_other_spellings(value):
    with pytest.raises(ValidationError):
        DATES.validate_python(value)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/reports/training-spend?from=0",
        "/v1/estimates?created_from=1700000000",
        "/v1/prices?as_of=20240301",
    ],
)
def test_query_dates__a_number_is_refused_with_the_form_a_date_takes(api, path):
    response = api.admin.get(path)
    assert response.status_code == 422, response.text
    assert "YYYY-MM-DD" in response.json()["detail"]


def test_override__a_number_as_effective_from_is_refused_not_stored(api):
    body = {
        "model": "gpt-4-0613",
        "field": "usd_per_1m_training_tokens",
        "usd_per_1m_tokens": "90.00",
        "effective_from": 0,
    }
    response = api.admin.put("/v1/prices/overrides", json=body)
    assert response.status_code == 422, response.text
    assert "YYYY-MM-DD" in response.json()["detail"]
    assert api.admin.get("/v1/prices/overrides").json() in ([], {"overrides": []})


def test_estimate__as_of_as_a_number_is_refused(api):
    body = {"model": "gpt-3.5-turbo", "tokens": 1000, "as_of": 0}
    response = api.admin.post("/v1/estimates/training", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["body", "as_of"]
