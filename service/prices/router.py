from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Response

from pricing.money import format_usd
from pricing.prices import Override, PriceVersion
from service.deps import AdminKey, ReadKey, SessionDep
from service.prices import service
from service.prices.schemas import (
    OverrideIn,
    OverrideOut,
    PriceChangeOut,
    PriceDiff,
    PriceTable,
    PublishVersion,
    VersionList,
    VersionSummary,
)
from service.types import IsoDate

router = APIRouter(prefix="/v1/prices", tags=["prices"])


def _summary(v: PriceVersion) -> VersionSummary:
    return VersionSummary(
        version=v.version,
        effective_date=v.effective_date,
        source=v.source,
        notes=v.notes,
        published_by=v.published_by,
    )


def _table(
    v: PriceVersion,
    *,
    as_of: date | None = None,
    model: str | None = None,
    overrides: Iterable[Override] = (),
) -> PriceTable:
    models = {
        m: {k: format_usd(p) for k, p in mp.prices.items()}
        for m, mp in v.models.items()
        if model in (None, m)
    }
    extra: dict[str, dict[str, str]] = {}
    for o in overrides:
        if model in (None, o.model) and (as_of is None or o.applies_on(as_of)):
            extra.setdefault(o.model, {})[o.field] = format_usd(o.usd_per_1m_tokens)
    return PriceTable(
        version=v.version,
        effective_date=v.effective_date,
        source=v.source,
        notes=v.notes,
        as_of=as_of,
        models=models,
        overrides=extra,
    )


@router.get("/versions", response_model=VersionList, summary="Every published price version")
def list_versions(session: SessionDep, _: ReadKey) -> VersionList:
    return VersionList(versions=[_summary(v) for v in service.load_price_book(session).versions])


@router.get("", response_model=PriceTable, summary="The price table in force on a date")
def prices_as_of(
    session: SessionDep,
    _: ReadKey,
    as_of: Annotated[IsoDate, Query(description="YYYY-MM-DD")],
    model: Annotated[
        str | None,
        Query(max_length=200, description="any model name; aliases resolve as of the date"),
    ] = None,
) -> PriceTable:
    reference = service.load_reference(session)
    version = reference.book.in_force(as_of)
    model_id = reference.catalogue.resolve(model, as_of=as_of).id if model else None
    return _table(version, as_of=as_of, model=model_id, overrides=reference.overrides)


@router.get("/versions/{version}", response_model=PriceTable, summary="One price version")
def get_version(version: str, session: SessionDep, _: ReadKey) -> PriceTable:
    return _table(service.load_price_book(session).get(version))


@router.get("/diff", response_model=PriceDiff, summary="What changed between two versions")
def diff(
    session: SessionDep,
    _: ReadKey,
    from_version: Annotated[str, Query(alias="from", max_length=64)],
    to_version: Annotated[str, Query(alias="to", max_length=64)],
) -> PriceDiff:
    changes = service.load_price_book(session).diff(from_version, to_version)
    return PriceDiff(
        from_version=from_version,
        to_version=to_version,
        changes=[
            PriceChangeOut(
                model=c.model,
                field=c.field,
                old=None if c.old is None else format_usd(c.old),
                new=None if c.new is None else format_usd(c.new),
            )
            for c in changes
        ],
    )


@router.post(
    "/versions",
    response_model=VersionSummary,
    status_code=201,
    summary="Publish a new immutable version (admin)",
)
def publish(body: PublishVersion, session: SessionDep, principal: AdminKey) -> VersionSummary:
    version = service.publish_version(
        session, body=body.model_dump(mode="json"), published_by=principal.name
    )
    return _summary(version)


def _immutable() -> None:
    from service.errors import Conflict

    raise Conflict(
        "published price versions are immutable; publish a new version with a later effective date"
    )


@router.put(
    "/versions/{version}",
    status_code=409,
    summary="Versions are immutable: always 409",
    response_model=None,
)
def replace_version(version: str, _: AdminKey) -> None:
    _immutable()


@router.patch(
    "/versions/{version}",
    status_code=409,
    summary="Versions are immutable: always 409",
    response_model=None,
)
def patch_version(version: str, _: AdminKey) -> None:
    _immutable()


@router.delete(
    "/versions/{version}",
    status_code=409,
    summary="Versions are immutable: always 409",
    response_model=None,
)
def delete_version(version: str, _: AdminKey) -> None:
    _immutable()


def _override_out(r: object) -> OverrideOut:
    from service.prices.models import PriceOverrideRow

    assert isinstance(r, PriceOverrideRow)
    return OverrideOut(
        model=r.model,
        field=r.field,
        usd_per_1m_tokens=format_usd(r.usd_per_1m_tokens),
        note=r.note,
        effective_from=r.effective_from,
        effective_until=r.effective_until,
        updated_by=r.updated_by,
    )


@router.get("/overrides", response_model=list[OverrideOut], summary="Organisation contract prices")
def list_overrides(session: SessionDep, _: ReadKey) -> list[OverrideOut]:
    return [_override_out(r) for r in service.list_overrides(session)]


@router.put("/overrides", response_model=OverrideOut, summary="Set a contract price (admin)")
def put_override(body: OverrideIn, session: SessionDep, principal: AdminKey) -> OverrideOut:
    catalogue = service.catalogue_for(session)
    model_id = catalogue.resolve(body.model, as_of=body.effective_from or date.max).id
    row = service.put_override(
        session,
        override=Override(
            model_id,
            body.field,
            Decimal(body.usd_per_1m_tokens),
            body.note,
            body.effective_from,
            body.effective_until,
        ),
        updated_by=principal.name,
    )
    return _override_out(row)


@router.delete(
    "/overrides/{model}/{field}", status_code=204, summary="Remove a contract price (admin)"
)
def delete_override(model: str, field: str, session: SessionDep, _: AdminKey) -> Response:
    service.delete_override(session, model=model, field=field)
    return Response(status_code=204)
