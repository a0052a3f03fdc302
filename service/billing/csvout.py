"""The reconciliation report as CSV: one line per row, the totals last."""

from __future__ import annotations

import csv
import io

from service.billing.schemas import ReconciliationReport, ReconciliationRow
from service.csvcells import defused

FIGURES = [
    "currency",
    "billed_usd",
    "computed_usd",
    "difference_usd",
    "difference_pct",
    "billed_quantity",
    "computed_quantity",
]


def _text(value: str) -> str:
    # Only free text is defused: the figures are ours, and a negative difference must stay a
    # number.
    return defused(value)


def _line(row: ReconciliationRow, groups: list[str]) -> list[str]:
    data = row.model_dump()
    return [
        *(_text(row.group.get(g, "")) for g in groups),
        *(str(data[f]) if data[f] is not None else "" for f in FIGURES),
        "yes" if row.flagged else "no",
        " ".join(row.causes),
        _text(" | ".join(row.notes)),
    ]


def to_csv(report: ReconciliationReport) -> str:
    groups: list[str] = list(report.group_by)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*groups, *FIGURES, "flagged", "causes", "notes"])
    for row in report.rows:
        writer.writerow(_line(row, groups))
    total = _line(report.totals, groups)
    total[0] = "total"
    writer.writerow(total)
    return buffer.getvalue()
