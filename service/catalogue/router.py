from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from service.catalogue import service
from service.catalogue.schemas import ModelList
from service.deps import ReadKey, SessionDep
from service.types import utcnow

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get(
    "",
    response_model=ModelList,
    summary="Every model with its state, shutdown date and days left on a date",
)
def list_models(
    session: SessionDep,
    _: ReadKey,
    as_of: Annotated[date | None, Query(description="YYYY-MM-DD; today (UTC) if omitted")] = None,
    name: Annotated[
        str | None,
        Query(
            max_length=200,
            description="one name as pasted (alias, snapshot or ft:BASE:ORG:SUFFIX:ID); "
            "a fine-tune gets its base's dates",
        ),
    ] = None,
    state: Annotated[
        Literal["not_released", "available", "deprecated", "shut_down"] | None, Query()
    ] = None,
    fine_tunable: Annotated[bool | None, Query()] = None,
) -> ModelList:
    return service.list_models(
        session,
        as_of=as_of or utcnow().date(),
        name=name,
        state=state,
        fine_tunable=fine_tunable,
    )
