"""Training spend for finance: actual cost where known, the launch estimate otherwise, flagged."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
    FromClause,
    Table,
    bindparam,
    case,
    column,
    func,
    literal_column,
)
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Session

from pricing.money import format_usd
from service.csvcells import defused
from service.errors import InvalidInput
from service.jobs.costs import spend_basis_sql
from service.jobs.models import (
    LAUNCH_FAILED,
    LAUNCH_UNKNOWN,
    RATECARD_FINAL_STATES,
    Job,
    from_micros,
)
from service.reports.schemas import SpendReport, SpendRow
from service.types import UTCDateTime

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


def _group_key(group_by: GroupBy, jobs: Table) -> ColumnElement[Any]:
    # Plain columns where possible, so the database can read groups in an index's order.
    c = jobs.c
    if group_by == "team":
        return c.team
    if group_by == "model":
        return c.model
    # SQLite keeps UTC timestamps as ISO text ("2026-12-06 04:57:40.123456"). The arguments are
    # written out, not bound, to match the expression index ix_jobs_spend_by_month (0008).
    return func.substr(c.created_at, literal_column("1"), literal_column("7"))


_STAMP = DateTime(timezone=True)
_MONTHS = (
    func.unnest(
        bindparam("month_starts", type_=ARRAY(_STAMP)), bindparam("month_ends", type_=ARRAY(_STAMP))
    )
    .table_valued(column("start", _STAMP), column("end", _STAMP))
    .render_derived(name="months")
)


def month_ranges(start: datetime, end: datetime) -> tuple[list[datetime], list[datetime]]:
    """[start, end) cut at each first of a month (both at midnight UTC): the starts, the ends."""
    last = end - timedelta(microseconds=1)
    starts, ends = [start], []
    while (starts[-1].year, starts[-1].month) < (last.year, last.month):
        year, month = starts[-1].year, starts[-1].month
        following = starts[-1].replace(year=year + month // 12, month=month % 12 + 1, day=1)
        ends.append(following)
        starts.append(following)
    ends.append(end)
    return starts, ends


def _label(group_by: GroupBy, key: Any) -> str:
    if group_by == "team":
        return key or NO_TEAM  # no team and an empty team are one group
    # A month's start comes back in the session's time zone: its month is the UTC one.
    return key.astimezone(UTC).strftime("%Y-%m") if isinstance(key, datetime) else str(key)


def _by_status(status: str, counts: Sequence[Any]) -> _Group:
    """:func:`spend_of`'s rule applied to one status's counts and sums, not row by row."""
    jobs, n_actual, actual, n_estimate_only, estimate_only = (int(v or 0) for v in counts)
    if status in RATECARD_FINAL_STATES:
        n_estimate_only, estimate_only = 0, 0  # lost or closed: an estimate is not spend
    return _Group(
        jobs=jobs,
        jobs_actual=n_actual,
        jobs_estimated=n_estimate_only,
        jobs_unpriced=jobs - n_actual - n_estimate_only,
        actual_micros=actual,
        estimated_micros=estimate_only,
    )


def _grouped(
    connection: Connection, jobs: Table, span: tuple[datetime, datetime], group_by: GroupBy
) -> dict[str, _Group]:
    c = jobs.c
    estimate_only = case((c.actual_micros.is_(None), c.estimated_micros))
    sums = (
        c.status,
        func.count(),
        func.count(c.actual_micros),
        func.sum(c.actual_micros),
        func.count(estimate_only),
        func.sum(estimate_only),
    )
    params: dict[str, Any] = {}
    source: FromClause = jobs
    if connection.dialect.name == "postgresql":
        # The covering indexes (0008) hold what the report reads in a fraction of a jobs row,
        # already in (team|model, status) order; reading them, not the table, halves the CPU
        # (EXPLAIN ANALYZE, 100,000 jobs: 25 ms against 49). The planner prices a whole-index
        # read as random disk seeks (random_page_cost 4) and picks the table; 1.1 is the value
        # PostgreSQL's documentation gives for SSDs and cached data. For this transaction only.
        connection.exec_driver_sql("SET LOCAL random_page_cost = 1.1")
    if connection.dialect.name == "postgresql" and group_by == "month":
        # Each month is a range of created_at, joined: PostgreSQL reads it from the covering
        # index ix_jobs_spend_by_created (narrow index tuples, no heap), instead of walking every
        # wide jobs row and bucketing each one with date_trunc(timezone('UTC', ...)), which
        # (EXPLAIN ANALYZE, 100,000 jobs) cost twice the CPU and hid the group count from the
        # planner (it planned for one group per row).
        params["month_starts"], params["month_ends"] = month_ranges(*span)
        key: ColumnElement[Any] = _MONTHS.c.start
        source = _MONTHS.join(
            jobs, (c.created_at >= _MONTHS.c.start) & (c.created_at < _MONTHS.c.end)
        )
        where: tuple[Any, ...] = ()
    else:
        key = _group_key(group_by, jobs)
        where = _in_span(jobs, connection, span)
    query = (
        sa_select(key.label("key"), *sums).select_from(source).where(*where).group_by(key, c.status)
    )
    groups: dict[str, _Group] = {}
    for row in connection.execute(query, params):
        if row[1] in (LAUNCH_FAILED, LAUNCH_UNKNOWN):
            continue
        groups.setdefault(_label(group_by, row[0]), _Group()).add(_by_status(row[1], row[2:]))
    return groups


def _in_span(
    jobs: Table, connection: Connection, span: tuple[datetime, datetime]
) -> tuple[Any, ...]:
    created: ColumnElement[datetime] = jobs.c.created_at
    if connection.dialect.name == "sqlite":
        # SQLite's documented unary "+" keeps it off the created_at indexes: without table
        # statistics it would range-scan one and sort every job, where the covering index
        # (month|team|model, status, created_at, amounts) already reads in the grouping's order.
        created = literal_column(f"+{jobs.name}.created_at", UTCDateTime())
    return (created >= span[0], created < span[1])


def default_range(today: date) -> tuple[date, date]:
    return today.replace(day=1), today


def training_spend(
    session: Session, *, date_from: date, date_to: date, group_by: GroupBy, billed: bool = True
) -> SpendReport:
    """Jobs created from ``date_from`` to ``date_to`` (inclusive, UTC), grouped, sorted by group.

    The database does the adding up (GROUP BY over integer micro-dollars, exact); only the
    groups come back. Money becomes Decimal here, at the edge.
    """
    if date_from > date_to:
        raise InvalidInput(f"`from` ({date_from}) is after `to` ({date_to})")
    if date_to >= date.max:
        # The range ends at the start of the day after `to`, which does not exist.
        raise InvalidInput(f"`to` must be before {date.max}")
    start = datetime.combine(date_from, time.min, UTC)
    end = datetime.combine(date_to + timedelta(days=1), time.min, UTC)
    jobs: Table = Job.__table__  # type: ignore[attr-defined]
    c = jobs.c
    connection = session.connection()
    if group_by == "job":
        basis = spend_basis_sql(jobs)
        query = (
            sa_select(
                c.id, c.team, c.model, c.status, c.openai_job_id, c.created_at, basis,
                c.actual_micros, c.estimated_micros,
            )
            .where(
                *_in_span(jobs, connection, (start, end)),
                c.status.not_in([LAUNCH_FAILED, LAUNCH_UNKNOWN]),
            )
            .order_by(c.created_at, c.id)
        )  # fmt: skip
        groups = {row[0]: _job_group(row) for row in connection.execute(query)}
        keys = list(groups)
    else:
        groups = _grouped(connection, jobs, (start, end), group_by)
        keys = sorted(groups)
    total = _Group()
    for group in groups.values():
        total.add(group)
    rows, totals = [groups[k].row(k) for k in keys], total.row("total")
    if billed:
        from service.billing.training import add_billed  # billing reads jobs; reports shows both

        add_billed(
            session, rows=rows, totals=totals, date_from=date_from, date_to=date_to,
            group_by=group_by,
        )  # fmt: skip
    return SpendReport(
        **{"from": date_from, "to": date_to},
        group_by=group_by,
        currency="USD",
        rows=rows,
        totals=totals,
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
    return defused(str(value))


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
