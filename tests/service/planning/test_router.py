"""The planning routes' shared shape: the read key checked first, the query parameters in order."""

from __future__ import annotations

from tests.service.conftest import client_for
from tests.service.planning.conftest import SQLITE_ONLY, PlanningEnv

NAME = "ft:gpt-4o-mini-2024-07-18:acme::x"
# More scenarios than a plan takes (20): the query itself is refused (bad_scenario).
BAD_SCENARIO = {"model": ["gpt-4o-mini"] * 21}
PLAN_QUERY = [
    "model",
    "added_prompt_tokens",
    "prompt_cut_pct",
    "completion_tokens",
    "tier",
    "recommended",
    "requests_per_day",
    "prompt_tokens",
    "volume_completion_tokens",
    "days",
]


@SQLITE_ONLY
def test_router__the_read_key_is_checked_before_the_scenario_is_read(env: PlanningEnv) -> None:
    scenarios = f"/v1/planning/fine-tuned-models/{NAME}/scenarios"
    gets = (f"{scenarios}", f"{scenarios}.csv", "/v1/planning/scenarios.csv")

    with client_for(env.app, None) as anon:
        answers = [anon.get(path, params=BAD_SCENARIO) for path in gets]
        answers.append(anon.get("/v1/planning/fine-tuned-models"))
        answers.append(anon.post(scenarios, json={"scenarios": [{"model": "gpt-4o-mini"}]}))
    refused = [env.reader.get(path, params=BAD_SCENARIO) for path in gets]

    assert [r.status_code for r in answers] == [401] * 5
    assert [(r.status_code, r.json()["code"]) for r in refused] == [(422, "bad_scenario")] * 3


@SQLITE_ONLY
def test_router__query_parameters_keep_their_documented_order(env: PlanningEnv) -> None:
    paths = env.app.openapi()["paths"]

    def names(path: str, method: str = "get") -> list[str]:
        return [p["name"] for p in paths[path][method]["parameters"]]

    scenarios = "/v1/planning/fine-tuned-models/{name}/scenarios"
    assert names("/v1/planning/fine-tuned-models") == ["org", "days", "openai"]
    assert names(scenarios) == ["name", "org", *PLAN_QUERY]
    assert names(scenarios, "post") == ["name", "org"]
    assert names(f"{scenarios}.csv") == ["name", "org", *PLAN_QUERY]
    assert names("/v1/planning/scenarios.csv") == ["org", "openai", *PLAN_QUERY]
    for path in (scenarios, f"{scenarios}.csv", "/v1/planning/scenarios.csv"):
        assert paths[path]["get"]["security"] == [{"HTTPBearer": []}]
