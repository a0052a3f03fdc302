"""The migration plans as CSV for finance: one row per scenario, figures as the JSON gives them."""

from __future__ import annotations

import csv
import io

from service.planning.schemas import PlanOut

CSV_COLUMNS = (
    "fine_tuned_model",
    "base",
    "shutdown_date",
    "days_left",
    "requests_per_day",
    "scenario",
    "recommended",
    "tier",
    "cost_per_request_usd",
    "cost_per_day_usd",
    "cost_per_month_usd",
    "today_cost_per_month_usd",
    "change_per_month_usd",
    "change_percent",
    "pool_family",
    "tokens_per_minute_limit",
    "peak_tokens_per_minute",
    "headroom_tokens_per_minute",
    "fits",
    "price_version",
)


def plans_csv(plans: list[PlanOut]) -> str:
    """One row per scenario, for finance: the figures as the JSON gives them."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for p in plans:
        c = p.model.countdown
        for s in p.scenarios:
            writer.writerow(
                [
                    p.model.model,
                    p.model.base,
                    c.shutdown_date.isoformat() if c.shutdown_date else "",
                    "" if c.days_left is None else c.days_left,
                    p.today.requests_per_day,
                    s.name,
                    "yes" if s.recommended else "no",
                    s.cost.tier,
                    s.cost.cost_per_request_usd,
                    s.cost.cost_per_day_usd,
                    s.cost.cost_per_month_usd,
                    p.today.cost_per_month_usd,
                    s.change_per_month_usd,
                    s.change_percent or "",
                    s.pool.family,
                    ""
                    if s.pool.tokens_per_minute_limit is None
                    else s.pool.tokens_per_minute_limit,
                    s.pool.peak_tokens_per_minute,
                    ""
                    if s.pool.headroom_tokens_per_minute is None
                    else s.pool.headroom_tokens_per_minute,
                    "" if s.pool.fits is None else ("yes" if s.pool.fits else "no"),
                    s.cost.price_version,
                ]
            )
    return buffer.getvalue()
