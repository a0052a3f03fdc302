"""The service's notion of "today" (UTC), as a FastAPI dependency.

Lifecycle decisions (may this job still be launched?) depend on the date. Routes take the date
from this dependency instead of reading the clock themselves, so a test or a demo can pin it with
``app.dependency_overrides[today_utc] = lambda: date(2027, 1, 6)``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends

from service.types import utcnow


def today_utc() -> date:
    return utcnow().date()


TodayDep = Annotated[date, Depends(today_utc)]
