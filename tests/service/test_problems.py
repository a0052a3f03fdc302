"""Errors as problems: a 405 names every method of its path, validation errors speak plainly."""

from __future__ import annotations

import re

import pytest

from service.messages import plain_errors


def methods(allow: str) -> set[str]:
    return {m.strip() for m in allow.split(",")}


def test_405__allow_lists_every_method_the_path_has(api):
    response = api.admin.patch("/v1/budgets/ml-platform")
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert methods(response.headers["Allow"]) == {"GET", "PUT", "DELETE"}


def test_405__a_path_of_one_method_lists_that_method(api):
    response = api.admin.delete("/v1/usage/plan")
    assert response.status_code == 405
    assert methods(response.headers["Allow"]) == {"POST"}


# Regex syntax, pydantic's branch names, pydantic's own phrasing.
JARGON = re.compile(r"\^|\$'|constrained-|literal\[|Input should|String should|Unable to parse")


def assert_plain(detail: str) -> None:
    assert not JARGON.search(detail), detail


def test_validation__upload_n_epochs_says_what_is_allowed(api):
    files = {"file": ("a.jsonl", b'{"messages": []}\n')}
    response = api.admin.post(
        "/v1/estimates/training/file", files=files, data={"model": "gpt-4o-mini", "n_epochs": "-1"}
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert_plain(detail)
    assert '"auto" or a whole number from 1 to 50' in detail


def test_validation__a_huge_token_count_says_a_whole_number_is_wanted(api):
    response = api.admin.post(
        "/v1/estimates/training", json={"model": "gpt-4o-mini", "tokens": 1e30}
    )
    assert response.status_code == 422
    assert_plain(response.json()["detail"])
    assert "whole number" in response.json()["detail"]


def test_validation__a_union_is_one_error_naming_each_alternative(api):
    body = {
        "training_file": "file-abc123",
        "model": "gpt-4o-mini",
        "team": "demo",
        "hyperparameters": {"n_epochs": -1},
    }
    response = api.admin.post("/v1/jobs/preview", json=body)
    assert response.status_code == 422
    problem = response.json()
    assert_plain(problem["detail"])
    assert problem["errors"] == [
        {
            "loc": ["body", "hyperparameters", "n_epochs"],
            "msg": "must be at least 1, or must be 'auto'",
            "type": "greater_than_equal",
        }
    ]


@pytest.mark.parametrize(
    ("error", "words"),
    [
        ({"type": "missing", "loc": ("body", "model"), "msg": "Field required"}, "is required"),
        (
            {
                "type": "string_pattern_mismatch",
                "loc": ("query", "destination_type"),
                "msg": "String should match pattern '^(slack|webhook)$'",
                "ctx": {"pattern": "^(slack|webhook)$"},
            },
            'must be one of "slack", "webhook"',
        ),
        (
            {"type": "value_error", "loc": ("body",), "msg": "Value error, give one of a or b"},
            "give one of a or b",
        ),
    ],
)
def test_plain_errors__translates_pydantic_types_to_words(error, words):
    assert plain_errors([error])[0]["msg"] == words
