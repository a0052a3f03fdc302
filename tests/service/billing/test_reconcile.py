"""Done when: a month of generated traffic and jobs whose true bill is known reconciles to the
cent where ratecard has the data, and each planted difference is named by its cause."""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import Session

from pricing.money import cost_of_tokens
from pricing.price_fields import price_field
from service.db import session_scope
from service.jobs.costs import PricingContext, actual_cost
from service.jobs.models import Job
from service.prices.service import load_reference
from service.usage.models import UsageBucket
from service.usage_import.service import run_import
from tests.fakes.fake_openai import FakeOpenAIState
from tests.service.billing.conftest import BillingEnv, unix

MARCH = [date(2025, 3, 1) + timedelta(days=n) for n in range(31)]
CENT = Decimal("0.01")
PROJECT = "proj_main"
# name ratecard sees -> (catalogue id, fine-tuned)
TRAFFIC = {
    "gpt-4o-mini-2024-07-18": ("gpt-4o-mini-2024-07-18", False),
    "gpt-4o-mini": ("gpt-4o-mini-2024-07-18", False),  # an alias: same line as the snapshot
    "ft:gpt-4o-mini-2024-07-18:acme:support:AbC123": ("gpt-4o-mini-2024-07-18", True),
    "gpt-4o-2024-08-06": ("gpt-4o-2024-08-06", False),
}
# Planted: a fine-tuned GPT-4 (experimental access; OpenAI never published its price, and this
# organisation entered no override), used from the 20th.
UNPRICED_NAME, UNPRICED = "ft:gpt-4-0613:acme:exp:Xyz789", "gpt-4-0613"
UNPRICED_FROM = date(2025, 3, 20)
UNREPORTED_DAY, UNREPORTED_TOKENS = date(2025, 3, 15), 2_000_000  # extra gpt-4o input tokens
UNREPORTED = (UNREPORTED_DAY, "gpt-4o-2024-08-06", "inference", "input")
DISCOUNT_DAY, DISCOUNT = date(2025, 3, 25), Decimal("0.80")  # a contract price on mini output
UNMAPPED_DAY, UNMAPPED = date(2025, 3, 10), "web search tool calls"
# Imported from OpenAI's Usage API, billed on their own lines: gpt-4o's traffic (reported by
# clients too) with part of each prompt cached, and Batch traffic no client reports (name ->
# with cached input). The reference has no Batch cached-input price for the base gpt-4o.
# OpenAI's Usage API also reports prompt-cache writes: before GPT-5.6 they are billed as input,
# on the input line (a third of the uncached prompt here), so the bill has no line of its own.
CACHED_TRAFFIC = {"gpt-4o-2024-08-06"}
BATCH_TRAFFIC = {
    "gpt-4o-mini-2024-07-18": False,
    "ft:gpt-4o-mini-2024-07-18:acme:support:AbC123": True,
}
BATCH_UNPRICED_DAY = date(2025, 3, 18)
BATCH_UNPRICED = (BATCH_UNPRICED_DAY, "gpt-4o-2024-08-06", "batch", "cached_input")


LineTokens = dict[tuple[str, bool, str, str], int]  # (model, fine-tuned, kind, component)


@dataclass
class Month:
    billed_total: Decimal = Decimal(0)
    # (day, line item as ratecard labels it) -> cause planted there
    planted: dict[tuple[str, str], str] = field(default_factory=dict)


def _bill(
    fake: FakeOpenAIState,
    month: Month,
    day: date,
    line_item: str,
    amount: Decimal,
    quantity: int | None,
) -> None:
    fake.add_cost(
        at=unix(day, 7200),
        amount=amount,
        line_item=line_item,
        project_id=PROJECT,
        quantity=quantity,
        quantity_unit="tokens" if quantity is not None else None,
    )
    month.billed_total += amount


def _usage(session: Session, day: date, name: str, prompt: int, completion: int) -> None:
    session.add(
        UsageBucket(
            org="acme", family="gpt-4o-mini", bucket=unix(day, 3600), model=name,
            tokens=prompt + completion, requests=10, prompt_tokens=prompt,
            completion_tokens=completion,
        )
    )  # fmt: skip


def _line(model: str, fine_tuned: bool, kind: str, component: str) -> str:
    what = component.replace("_", " ")
    if kind != "inference":
        what = f"{kind} {what}"
    return f"{'ft-' if fine_tuned else ''}{model}, {what}"


def _count(lines: LineTokens, name: str, kind: str, component: str, tokens: int) -> None:
    model, fine_tuned = TRAFFIC[name]
    key = (model, fine_tuned, kind, component)
    lines[key] = lines.get(key, 0) + tokens


def _openai_saw(
    fake: FakeOpenAIState,
    day: date,
    name: str,
    prompt: int,
    cached: int,
    completion: int,
    *,
    batch: bool = False,
) -> None:
    """Traffic OpenAI's Usage API reports (imported into ratecard before reconciling)."""
    fake.add_completions_usage(
        at=unix(day, 5400), model=name, input_tokens=prompt, input_cached_tokens=cached,
        input_cache_write_tokens=(prompt - cached) // 3, output_tokens=completion,
        project_id=PROJECT, batch=batch,
    )  # fmt: skip


def generate(env: BillingEnv) -> Month:
    """Traffic and jobs ratecard records, and OpenAI's bill for the same month at the
    reference's prices, with the differences planted."""
    rng = random.Random(19)
    month = Month()
    with session_scope(env.app.state.engine) as session:
        reference = load_reference(session)
        for day in MARCH:
            per_line: LineTokens = {}
            for name in TRAFFIC:
                prompt, completion = rng.randint(10_000, 3_000_000), rng.randint(1_000, 900_000)
                _usage(session, day, name, prompt, completion)
                cached = 0
                if name in CACHED_TRAFFIC:
                    # OpenAI saw the same requests the client reported, part of the prompt cached.
                    cached = rng.randint(0, prompt)
                    _openai_saw(env.fake, day, name, prompt, cached, completion)
                    _count(per_line, name, "inference", "cached_input", cached)
                _count(per_line, name, "inference", "input", prompt - cached)
                _count(per_line, name, "inference", "output", completion)
            for name, with_cache in BATCH_TRAFFIC.items():
                prompt, completion = rng.randint(100_000, 9_000_000), rng.randint(1_000, 900_000)
                cached = rng.randint(0, prompt) if with_cache else 0
                _openai_saw(env.fake, day, name, prompt, cached, completion, batch=True)
                _count(per_line, name, "batch", "input", prompt - cached)
                _count(per_line, name, "batch", "cached_input", cached)
                _count(per_line, name, "batch", "output", completion)
            if day == BATCH_UNPRICED_DAY:
                name = "gpt-4o-2024-08-06"
                _openai_saw(env.fake, day, name, 1_000_000, 400_000, 0, batch=True)
                _count(per_line, name, "batch", "input", 600_000)
                _count(per_line, name, "batch", "cached_input", 400_000)
            for (model, fine_tuned, kind, component), tokens in sorted(per_line.items()):
                if not tokens:
                    continue
                line = _line(model, fine_tuned, kind, component)
                quote = reference.book.quote(model, as_of=day)
                tier = "standard" if kind == "inference" else kind
                field_name = price_field(component, tier=tier, fine_tuned=fine_tuned)
                if (day, model, kind, component) == BATCH_UNPRICED:
                    # Billed, but the reference has no price for it: ratecard says unknown.
                    assert quote.prices.get(field_name) is None
                    price = Decimal("0.625")
                    month.planted[(day.isoformat(), line)] = "model_without_price"
                else:
                    price = quote.require(field_name)
                billed_tokens = tokens
                if (day, model, kind, component) == UNREPORTED:
                    billed_tokens += UNREPORTED_TOKENS
                    month.planted[(day.isoformat(), line)] = "traffic_not_seen"
                amount = cost_of_tokens(billed_tokens, price)
                if (day, model, kind, component, fine_tuned) == (
                    DISCOUNT_DAY, "gpt-4o-mini-2024-07-18", "inference", "output", False
                ):  # fmt: skip
                    amount *= DISCOUNT
                    month.planted[(day.isoformat(), line)] = "missing_discount"
                _bill(env.fake, month, day, line, amount, billed_tokens)
            if day >= UNPRICED_FROM:
                prompt, completion = rng.randint(1_000, 90_000), rng.randint(1_000, 90_000)
                _usage(session, day, UNPRICED_NAME, prompt, completion)
                for component, tokens, price in (
                    ("input", prompt, Decimal(45)),
                    ("output", completion, Decimal(90)),
                ):
                    line = f"ft-{UNPRICED}, {component}"
                    _bill(env.fake, month, day, line, cost_of_tokens(tokens, price), tokens)
                    month.planted[(day.isoformat(), line)] = "model_without_price"
        _bill(env.fake, month, UNMAPPED_DAY, UNMAPPED, Decimal("1.25"), None)
        month.planted[(UNMAPPED_DAY.isoformat(), UNMAPPED)] = "unmapped_line_item"
        pricing = PricingContext(session)
        for n, (day, model, trained) in enumerate(
            [
                (date(2025, 3, 5), "gpt-4o-mini-2024-07-18", 1_234_567),
                (date(2025, 3, 12), "gpt-4o-2024-08-06", 345_678),
                (date(2025, 3, 28), "gpt-4o-mini-2024-07-18", 2_000_001),
            ]
        ):
            at = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
            job = Job(
                id=f"job_{n}", openai_job_id=f"ftjob-{n}", source="watch", status="succeeded",
                launcher="test", requested_model=model, model=model, trained_tokens=trained,
                created_at=at, openai_created_at=at, finished_at=at + timedelta(hours=3),
                seen_running=True,
            )  # fmt: skip
            cost = actual_cost(job, pricing)
            job.actual_cost_usd, job.actual_price_version = cost.cost_usd, cost.price_version
            session.add(job)
            assert cost.cost_usd is not None
            _bill(env.fake, month, day, f"ft-{model} training", cost.cost_usd, trained)
    return month


def _report(env: BillingEnv, *group_by: str) -> dict:
    response = env.reader.get(
        "/v1/billing/reconciliation",
        params={"from": "2025-03-01", "to": "2025-03-31", "group_by": list(group_by)},
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def month(env: BillingEnv) -> Month:
    month = generate(env)
    usage = run_import(
        engine=env.app.state.engine,
        settings=env.app.state.settings.model_copy(update={"import_backfill_days": 31}),
        trigger="manual",
        now=datetime(2025, 4, 1, tzinfo=UTC),
    )
    assert usage["outcome"] == "ok", usage
    window = {"start": "2025-03-01", "end": "2025-04-01"}
    response = env.admin.post("/v1/billing/imports", json=window)
    assert response.status_code == 201, response.text
    return month


def test_reconciliation__matches_the_bill_to_the_cent_and_names_each_planted_cause(
    env: BillingEnv, month: Month
) -> None:
    report = _report(env, "day", "line_item")
    assert Decimal(report["totals"]["billed_usd"]) == month.billed_total.quantize(Decimal("1e-6"))
    found: dict[tuple[str, str], list[str]] = {}
    matched = 0
    for row in report["rows"]:
        key = (row["group"]["day"], row["group"]["line_item"])
        if key in month.planted:
            assert row["flagged"], row
            found[key] = row["causes"]
            continue
        assert not row["flagged"], row
        billed, computed = Decimal(row["billed_usd"]), Decimal(row["computed_usd"])
        assert billed.quantize(CENT) == computed.quantize(CENT), row
        matched += 1
    assert found == {key: [cause] for key, cause in month.planted.items()}
    # 31 days x 12 lines (mini, ft-mini, 4o: input and output; 4o cached input; mini Batch
    # input and output; ft-mini Batch input, cached input and output), gpt-4o's Batch input on
    # one day, 3 training days, less the two planted lines.
    assert matched == 31 * 12 + 1 + 3 - 2
    assert {line for _, line in found} >= {
        "gpt-4o-2024-08-06, batch cached input", "gpt-4o-2024-08-06, input"
    }  # fmt: skip
    assert report["unmapped"] == [
        {"line_item": UNMAPPED, "reason": "no mapping to a ratecard model and kind",
         "billed_usd": "1.25"}
    ]  # fmt: skip


def test_reconciliation__explains_each_cause_with_the_figures(
    env: BillingEnv, month: Month
) -> None:
    rows = {
        (r["group"]["day"], r["group"]["line_item"]): r
        for r in _report(env, "day", "line_item")["rows"]
    }
    unreported = rows[(UNREPORTED_DAY.isoformat(), "gpt-4o-2024-08-06, input")]
    assert Decimal(unreported["billed_quantity"]) - Decimal(unreported["computed_quantity"]) == (
        UNREPORTED_TOKENS
    )
    assert Decimal(unreported["difference_usd"]) == Decimal(5)  # 2M tokens at $2.50
    discounted = rows[(DISCOUNT_DAY.isoformat(), "gpt-4o-mini-2024-07-18, output")]
    assert Decimal(discounted["difference_pct"]) == Decimal("-25.00")  # billed 20% under
    assert "20.00% below ratecard's price" in discounted["notes"][0]
    unpriced = rows[(UNPRICED_FROM.isoformat(), f"ft-{UNPRICED}, input")]
    assert unpriced["computed_usd"] is None and unpriced["difference_usd"] is None
    assert "usd_per_1m_ft_input_tokens" in unpriced["notes"][0]


def test_reconciliation__by_month_project_and_model_rolls_up_the_same_figures(
    env: BillingEnv, month: Month
) -> None:
    report = _report(env, "month", "project", "model")
    rows = {r["group"]["model"]: r for r in report["rows"]}
    assert {r["group"]["project"] for r in report["rows"]} == {PROJECT}
    assert {r["group"]["month"] for r in report["rows"]} == {"2025-03"}
    mini = rows["gpt-4o-mini-2024-07-18"]
    billed = sum(Decimal(r["billed_usd"]) for r in report["rows"])
    assert abs(billed - month.billed_total) < CENT
    assert Decimal(mini["difference_usd"]) < 0  # the unknown discount, and nothing else
    assert rows[UNPRICED]["computed_usd"] is None
    assert rows[UNPRICED]["causes"] == ["model_without_price"]


def test_reconciliation__csv_has_a_line_per_row_and_the_causes(
    env: BillingEnv, month: Month
) -> None:
    response = env.reader.get(
        "/v1/billing/reconciliation.csv",
        params={"from": "2025-03-01", "to": "2025-03-31", "group_by": ["day", "line_item"]},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(response.text)))
    *rows, total = lines
    planted = [line for line in rows if line["flagged"] == "yes"]
    assert {(p["day"], p["line_item"]): p["causes"] for p in planted} == month.planted
    discount = next(p for p in planted if p["causes"] == "missing_discount")
    assert discount["difference_usd"].startswith("-")  # a number, not an escaped text cell
    assert total["day"] == "total"
    assert Decimal(total["billed_usd"]) == month.billed_total.quantize(Decimal("1e-6"))


def test_training_spend_and_job_views__show_openais_billed_figure(
    env: BillingEnv, month: Month
) -> None:
    params = {"from": "2025-03-01", "to": "2025-03-31"}
    by_month = env.reader.get("/v1/reports/training-spend", params=params).json()
    (row,) = by_month["rows"]
    assert row["group"] == "2025-03"
    assert row["billed_usd"] == row["actual_usd"] == by_month["totals"]["billed_usd"]
    by_model = env.reader.get(
        "/v1/reports/training-spend", params={**params, "group_by": "model"}
    ).json()
    assert {r["group"]: r["billed_usd"] for r in by_model["rows"]} == {
        r["group"]: r["actual_usd"] for r in by_model["rows"]
    }
    for job_id in ("job_0", "job_1", "ftjob-2"):
        job = env.reader.get(f"/v1/jobs/{job_id}").json()
        assert job["billed_usd"] == job["actual_cost_usd"], job


def test_training_spend__without_imported_costs_shows_no_billed_figure(env: BillingEnv) -> None:
    report = env.reader.get(
        "/v1/reports/training-spend", params={"from": "2025-03-01", "to": "2025-03-31"}
    ).json()
    assert "billed_usd" not in report["totals"]
