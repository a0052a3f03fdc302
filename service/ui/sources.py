"""Where the dashboard reads its data: the same service functions the REST routes call.

The prices page calls the REST route functions themselves (plain functions taking the caller),
so its tables are the API's to the digit. One module, so a feature that moves its functions
(the usage module may be split) is followed here and nowhere else in service/ui.
"""

from __future__ import annotations

from datetime import datetime

from service.catalogue.service import list_models
from service.jobs.gateway import OpenAIGateway
from service.jobs.launch import launch
from service.jobs.schemas import JobIn
from service.jobs.service import find_job, list_jobs, to_out
from service.prices.router import diff as price_diff
from service.prices.router import list_versions as price_versions
from service.prices.router import prices_as_of
from service.reports.service import default_range
from service.reports.spend import spend_by_kind
from service.reports.spend_csv import filename as spend_csv_name
from service.reports.spend_csv import to_csv as spend_to_csv
from service.types import utcnow
from service.usage.history import history as pool_history
from service.usage.names import default_org
from service.usage.planner import plan
from service.usage.pools import get_pool, list_pools
from service.usage.schemas import PlanIn


def current_time() -> datetime:
    """The dashboard's clock (the REST routes read theirs through a dependency)."""
    return utcnow()


__all__ = [
    "JobIn",
    "OpenAIGateway",
    "PlanIn",
    "current_time",
    "default_org",
    "default_range",
    "find_job",
    "get_pool",
    "launch",
    "list_jobs",
    "list_models",
    "list_pools",
    "plan",
    "pool_history",
    "price_diff",
    "price_versions",
    "prices_as_of",
    "spend_by_kind",
    "spend_csv_name",
    "spend_to_csv",
    "to_out",
]
