"""Monthly training budgets per team (calendar months, UTC) and what each team has spent."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlmodel import Session, col, select

from service.errors import InvalidInput, NotFound
from service.jobs.costs import spend_of
from service.jobs.models import Job, TeamBudget
from service.types import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Month:
    start: datetime
    end: datetime  # exclusive

    @property
    def label(self) -> str:
        return self.start.strftime("%Y-%m")


def month_of(when: datetime) -> Month:
    start = datetime(when.year, when.month, 1, tzinfo=UTC)
    end = datetime(when.year + (when.month == 12), when.month % 12 + 1, 1, tzinfo=UTC)
    return Month(start, end)


def parse_month(label: str | None, *, now: datetime | None = None) -> Month:
    if label is None:
        return month_of(now or utcnow())
    try:
        return month_of(datetime.strptime(label, "%Y-%m").replace(tzinfo=UTC))
    except ValueError:
        raise InvalidInput(f"month must look like 2025-05, not {label!r}") from None


@dataclass(frozen=True)
class BudgetStatus:
    team: str
    month: Month
    monthly_usd: Decimal | None
    spent_usd: Decimal
    jobs: int
    updated_by: str | None = None
    updated_at: datetime | None = None

    @property
    def remaining_usd(self) -> Decimal | None:
        return None if self.monthly_usd is None else self.monthly_usd - self.spent_usd

    def would_exceed(self, amount: Decimal) -> bool:
        return self.monthly_usd is not None and self.spent_usd + amount > self.monthly_usd


def team_spend(
    session: Session, *, team: str, month: Month, exclude_job_id: str | None = None
) -> tuple[Decimal, int]:
    """Spend of a team's jobs created in the month: actual where known, else the estimate."""
    query = select(Job).where(
        Job.team == team, col(Job.created_at) >= month.start, col(Job.created_at) < month.end
    )
    if exclude_job_id is not None:
        query = query.where(Job.id != exclude_job_id)
    total, counted = Decimal(0), 0
    for job in session.exec(query).all():
        amount, basis = spend_of(job)
        if basis != "none":
            total += amount
            counted += 1
    return total, counted


def budget_status(
    session: Session,
    *,
    team: str,
    month: Month,
    exclude_job_id: str | None = None,
    lock: bool = False,
) -> BudgetStatus:
    """The team's budget and spend; ``lock`` holds the budget row so launches queue up."""
    query = select(TeamBudget).where(TeamBudget.team == team)
    if lock:
        query = query.with_for_update()
    budget = session.exec(query).first()
    spent, jobs = team_spend(session, team=team, month=month, exclude_job_id=exclude_job_id)
    if budget is None:
        return BudgetStatus(team, month, None, spent, jobs)
    return BudgetStatus(
        team, month, budget.monthly_usd, spent, jobs, budget.updated_by, budget.updated_at
    )


def list_budgets(session: Session, *, month: Month) -> list[BudgetStatus]:
    """Every team with a budget or with jobs in the month."""
    teams = set(session.exec(select(TeamBudget.team)).all())
    teams |= {
        t
        for t in session.exec(
            select(Job.team)
            .where(
                col(Job.team).is_not(None),
                col(Job.created_at) >= month.start,
                col(Job.created_at) < month.end,
            )
            .distinct()
        ).all()
        if t
    }
    return [budget_status(session, team=t, month=month) for t in sorted(teams)]


def put_budget(session: Session, *, team: str, monthly_usd: Decimal, updated_by: str) -> TeamBudget:
    if monthly_usd < 0:
        raise InvalidInput("monthly_usd must not be negative")
    budget = session.get(TeamBudget, team)
    if budget is None:
        budget = TeamBudget(team=team, monthly_usd=monthly_usd, updated_by=updated_by)
    else:
        budget.monthly_usd, budget.updated_by, budget.updated_at = monthly_usd, updated_by, utcnow()
    session.add(budget)
    session.flush()
    log.info("budget of team %s set to $%s a month by %s", team, monthly_usd, updated_by)
    return budget


def delete_budget(session: Session, *, team: str, deleted_by: str) -> None:
    budget = session.get(TeamBudget, team)
    if budget is None:
        raise NotFound(f"team {team!r} has no budget")
    session.delete(budget)
    session.flush()
    log.info("budget of team %s removed by %s", team, deleted_by)
