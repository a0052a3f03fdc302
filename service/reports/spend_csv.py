"""Spend by kind as CSV: a line per row, the totals last.

An unknown actual cost is written ``unknown`` (never an empty cell a spreadsheet adds as zero);
an estimate or billed figure that does not exist is an empty cell.
"""

from __future__ import annotations

import csv
import io

from service.csvcells import defused
from service.reports.schemas import KindSpendReport, KindSpendRow

COLUMNS = [
    "kind",
    "estimated_usd",
    "actual_usd",
    "billed_usd",
    "jobs",
    "jobs_actual",
    "jobs_estimated",
    "jobs_unpriced",
    "basis",
    "unpriced",
]
UNKNOWN = "unknown"


def _line(row: KindSpendRow) -> list[str]:
    data = row.model_dump()
    cells = ["" if data[c] is None else str(data[c]) for c in COLUMNS[:-1]]
    if row.actual_usd is None:
        cells[COLUMNS.index("actual_usd")] = UNKNOWN
    return [defused(row.group), *cells, defused(" ".join(row.unpriced))]


def to_csv(report: KindSpendReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([report.group_by, *COLUMNS])
    for row in report.rows:
        writer.writerow(_line(row))
    t = report.totals
    writer.writerow(
        ["total", report.kind or "", t.estimated_usd or "", t.actual_usd or UNKNOWN,
         t.billed_usd or "", *([""] * (len(COLUMNS) - 4))]
    )  # fmt: skip
    return buffer.getvalue()


def filename(report: KindSpendReport) -> str:
    kind = f"{report.kind}-" if report.kind else ""
    return (
        f"{kind}spend-{report.from_.isoformat()}-{report.to.isoformat()}-by-{report.group_by}.csv"
    )
