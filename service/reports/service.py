"""Training spend for finance: actual cost where known, the launch estimate otherwise, flagged."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, String, Table, case, cast, func, literal
from sqlalchemy import select as sa_select
from sqlmodel import Session

from pricing.money import format_usd
from service.errors import InvalidInput
from service.jobs.costs import spend_basis_sql
from service.jobs.models import LAUNCH_FAILED, LAUNCH_UNKNOWN, Job, from_micros
from service.reports.schemas import SpendReport, SpendRow

GroupBy = Literal["month", "team", "model", "job"]
NO_TEAM = "(no team)"


@dataclass
class _Group:
    jobs: int = 0
    jobs_actual: int = 0
    jobs_estimated: int = 0
    jobs_unpriced: int = 0
    actual_micros: int = 0
    estimated_micros: int = 0
    detail: dict[str, str] = field(default_factory=dict)

    def add(self, other: _Group) -> None:
        self.jobs += other.jobs
        self.jobs_actual += other.jobs_actual
        self.jobs_estimated += other.jobs_estimated
        self.jobs_unpriced += other.jobs_unpriced
        self.actual_micros += other.actual_micros
        self.estimated_micros += other.estimated_micros

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
        actual, estimated = from_micros(self.actual_micros), from_micros(self.estimated_micros)
        return SpendRow(
            group=group,
            jobs=self.jobs,
            jobs_actual=self.jobs_actual,
            jobs_estimated=self.jobs_estimated,
            jobs_unpriced=self.jobs_unpriced,
            actual_usd=format_usd(actual),
            estimated_usd=format_usd(estimated),
            total_usd=format_usd(actual + estimated),
            basis=self.basis,
            **self.detail,
        )


def _group_key(group_by: GroupBy, jobs: Table, dialect: str) -> ColumnElement[str]:
    c = jobs.c
    if group_by == "team":
        return case((func.coalesce(c.team, "") == "", literal(NO_TEAM)), else_=c.team)
    if group_by == "model":
        return cast(c.model, String)
    if group_by == "job":
        return cast(c.id, String)
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", c.created_at), "YYYY-MM")
    # SQLite keeps UTC timestamps as ISO text ("2026-12-06 04:57:40.123456").
    return func.substr(c.created_at, 1, 7)


def _sums(jobs: Table) -> list[ColumnElement[int]]:
    basis = spend_basis_sql(jobs)

    def count_of(name: str) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((basis == name, 1), else_=0)), 0)

    def micros_of(name: str, column: ColumnElement[int]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((basis == name, column), else_=0)), 0)

    return [
        func.count(),
        count_of("actual"),
        count_of("estimated"),
        count_of("none"),
        micros_of("actual", jobs.c.actual_micros),
        micros_of("estimated", jobs.c.estimated_micros),
    ]


def default_range(today: date) -> tuple[date, date]:
    return today.replace(day=1), today


def training_spend(
    session: Session, *, date_from: date, date_to: date, group_by: GroupBy
) -> SpendReport:
    """Jobs created from ``date_from`` to ``date_to`` (inclusive, UTC), grouped, sorted by group.

    The database does the adding up (GROUP BY over integer micro-dollars, exact); only the
    groups come back. Money becomes Decimal here, at the edge.
    """
    if date_from > date_to:
        raise InvalidInput(f"`from` ({date_from}) is after `to` ({date_to})")
    start = datetime.combine(date_from, time.min, UTC)
    end = datetime.combine(date_to + timedelta(days=1), time.min, UTC)
    jobs: Table = Job.__table__  # type: ignore[attr-defined]
    c = jobs.c
    where = (
        c.created_at >= start,
        c.created_at < end,
        c.status.not_in([LAUNCH_FAILED, LAUNCH_UNKNOWN]),
    )
    connection = session.connection()
    if group_by == "job":
        basis = spend_basis_sql(jobs)
        query = (
            sa_select(
                c.id,
                c.team,
                c.model,
                c.status,
                c.openai_job_id,
                c.created_at,
                basis,
                c.actual_micros,
                c.estimated_micros,
            )
            .where(*where)
            .order_by(c.created_at, c.id)
        )
        groups = {row[0]: _job_group(row) for row in connection.execute(query)}
        keys = list(groups)
    else:
        key = _group_key(group_by, jobs, connection.dialect.name).label("key")
        query = sa_select(key, *_sums(jobs)).where(*where).group_by(key)
        groups = {row[0]: _Group(*row[1:]) for row in connection.execute(query)}
        keys = sorted(groups)
    total = _Group()
    for group in groups.values():
        total.add(group)
    return SpendReport(
        **{"from": date_from, "to": date_to},
        group_by=group_by,
        currency="USD",
        rows=[groups[k].row(k) for k in keys],
        totals=total.row("total"),
    )


def _job_group(row: Any) -> _Group:
    _, team, model, status, openai_job_id, created_at, basis, actual, estimated = row
    group = _Group(
        jobs=1,
        jobs_actual=int(basis == "actual"),
        jobs_estimated=int(basis == "estimated"),
        jobs_unpriced=int(basis == "none"),
        actual_micros=actual if basis == "actual" else 0,
        estimated_micros=estimated if basis == "estimated" else 0,
    )
    group.detail = {
        "team": team or "",
        "model": model,
        "status": status,
        "openai_job_id": openai_job_id or "",
        "created_at": created_at.isoformat(),
    }
    return group


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
