"""Training spend for finance: actual cost where known, the launch estimate otherwise, flagged."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Literal

from sqlmodel import Session, col, select

from pricing.money import format_usd
from service.errors import InvalidInput
from service.jobs.costs import spend_of
from service.jobs.models import LAUNCH_FAILED, LAUNCH_UNKNOWN, Job
from service.reports.schemas import SpendReport, SpendRow

GroupBy = Literal["month", "team", "model", "job"]
NO_TEAM = "(no team)"


@dataclass
class _Group:
    jobs: int = 0
    jobs_actual: int = 0
    jobs_estimated: int = 0
    jobs_unpriced: int = 0
    actual_usd: Decimal = Decimal(0)
    estimated_usd: Decimal = Decimal(0)
    detail: dict[str, str] = field(default_factory=dict)

    def add(self, job: Job) -> None:
        amount, basis = spend_of(job)
        self.jobs += 1
        if basis == "actual":
            self.jobs_actual += 1
            self.actual_usd += amount
        elif basis == "estimated":
            self.jobs_estimated += 1
            self.estimated_usd += amount
        else:
            self.jobs_unpriced += 1

    @property
    def basis(self) -> str:
        if self.jobs_estimated == 0 and self.jobs_unpriced == 0:
            return "actual"
        if self.jobs_actual == 0 and self.jobs_unpriced == 0:
            return "estimated"
        if self.jobs_actual == 0 and self.jobs_estimated == 0:
            return "unpriced"
        return "mixed"

    def row(self, group: str) -> SpendRow:
        return SpendRow(
            group=group,
            jobs=self.jobs,
            jobs_actual=self.jobs_actual,
            jobs_estimated=self.jobs_estimated,
            jobs_unpriced=self.jobs_unpriced,
            actual_usd=format_usd(self.actual_usd),
            estimated_usd=format_usd(self.estimated_usd),
            total_usd=format_usd(self.actual_usd + self.estimated_usd),
            basis=self.basis,
            **self.detail,
        )


_KEYS: dict[str, Callable[[Job], str]] = {
    "month": lambda j: j.created_at.strftime("%Y-%m"),
    "team": lambda j: j.team or NO_TEAM,
    "model": lambda j: j.model,
    "job": lambda j: j.id,
}


def default_range(today: date) -> tuple[date, date]:
    return today.replace(day=1), today


def training_spend(
    session: Session, *, date_from: date, date_to: date, group_by: GroupBy
) -> SpendReport:
    """Jobs created from ``date_from`` to ``date_to`` (inclusive, UTC), grouped, sorted by group."""
    if date_from > date_to:
        raise InvalidInput(f"`from` ({date_from}) is after `to` ({date_to})")
    start = datetime.combine(date_from, time.min, UTC)
    end = datetime.combine(date_to + timedelta(days=1), time.min, UTC)
    jobs = session.exec(
        select(Job)
        .where(
            col(Job.created_at) >= start,
            col(Job.created_at) < end,
            col(Job.status).not_in([LAUNCH_FAILED, LAUNCH_UNKNOWN]),
        )
        .order_by(col(Job.created_at), col(Job.id))
    ).all()
    key = _KEYS[group_by]
    groups: dict[str, _Group] = {}
    total = _Group()
    for job in jobs:
        group = groups.setdefault(key(job), _Group())
        group.add(job)
        total.add(job)
        if group_by == "job":
            group.detail = {
                "team": job.team or "",
                "model": job.model,
                "status": job.status,
                "openai_job_id": job.openai_job_id or "",
                "created_at": job.created_at.isoformat(),
            }
    rows = [groups[k].row(k) for k in (groups if group_by == "job" else sorted(groups))]
    return SpendReport(
        **{"from": date_from, "to": date_to},
        group_by=group_by,
        currency="USD",
        rows=rows,
        totals=total.row("total"),
    )


CSV_COLUMNS = [
    "jobs",
    "jobs_actual",
    "jobs_estimated",
    "jobs_unpriced",
    "actual_usd",
    "estimated_usd",
    "total_usd",
    "basis",
]
JOB_COLUMNS = ["team", "model", "status", "openai_job_id", "created_at"]


def _cell(value: object) -> str:
    # Spreadsheet apps execute cells starting with these characters (CSV injection).
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(report: SpendReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    extra = JOB_COLUMNS if report.group_by == "job" else []
    writer.writerow([report.group_by, *CSV_COLUMNS, *extra])
    for row in report.rows:
        data = row.model_dump()
        writer.writerow(
            [
                _cell(row.group),
                *(_cell(data[c]) for c in CSV_COLUMNS),
                *(_cell(data.get(c) or "") for c in extra),
            ]
        )
    return buffer.getvalue()
