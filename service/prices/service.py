"""The price book the service uses: the shipped history plus versions published via the API."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from sqlmodel import Session, col, select

from pricing.catalogue import Catalogue, load_catalogue
from pricing.errors import PriceVersionConflictError
from pricing.prices import (
    Override,
    PriceBook,
    PriceVersion,
    load_builtin_price_book,
    parse_version,
    validate_override,
)
from service.errors import InvalidInput, NotFound
from service.prices.models import PriceOverrideRow, PublishedPriceVersion
from service.types import utcnow

log = logging.getLogger(__name__)


_book_cache: dict[tuple[str, tuple[tuple[int, str], ...]], PriceBook] = {}


def load_price_book(session: Session) -> PriceBook:
    """Shipped versions, then published ones in publication order (each validated again on load).

    Published versions are immutable, so the book is a pure function of which rows exist: it is
    cached by their ids and every replica sees a new version on its next request.
    """
    published = session.exec(
        select(PublishedPriceVersion.id, PublishedPriceVersion.version).order_by(
            col(PublishedPriceVersion.id)
        )
    ).all()
    ids: list[tuple[int, str]] = []
    for i, v in published:
        assert i is not None  # a primary key read back from the table
        ids.append((int(i), str(v)))
    key = (str(session.get_bind().engine.url), tuple(ids))
    cached = _book_cache.get(key)
    if cached is not None:
        return cached
    book = load_builtin_price_book()
    rows = session.exec(
        select(PublishedPriceVersion).order_by(col(PublishedPriceVersion.id))
    ).all()
    for row in rows:
        book = book.with_version(parse_version(row.body, published_by=row.published_by))
    if len(_book_cache) > 16:
        _book_cache.clear()
    _book_cache[key] = book
    return book


def catalogue_for(session: Session) -> Catalogue:
    return load_catalogue()


def publish_version(session: Session, *, body: dict[str, Any], published_by: str) -> PriceVersion:
    book = load_price_book(session)
    version = parse_version(body, published_by=published_by)
    catalogue = catalogue_for(session)
    unknown = [m for m in version.models if m not in catalogue.models]
    if unknown:
        raise InvalidInput(
            f"unknown models in price version: {', '.join(sorted(unknown))}; "
            "prices are keyed by dated snapshot ids such as gpt-4o-mini-2024-07-18",
            unknown_models=sorted(unknown),
        )
    try:
        book.with_version(version)
    except PriceVersionConflictError:
        raise
    stored = dict(body)
    stored["effective_date"] = version.effective_date.isoformat()
    session.add(
        PublishedPriceVersion(
            version=version.version,
            effective_date=version.effective_date,
            body=stored,
            published_by=published_by,
        )
    )
    session.flush()
    log.info(
        "published price version %s effective %s by %s",
        version.version,
        version.effective_date,
        published_by,
    )
    return version


def list_overrides(session: Session, *, model: str | None = None) -> list[PriceOverrideRow]:
    query = select(PriceOverrideRow).order_by(PriceOverrideRow.model, PriceOverrideRow.field)
    if model:
        query = query.where(PriceOverrideRow.model == model)
    return list(session.exec(query).all())


def active_overrides(session: Session) -> list[Override]:
    return [
        Override(r.model, r.field, r.usd_per_1m_tokens, r.note, r.effective_from, r.effective_until)
        for r in list_overrides(session)
    ]


def put_override(session: Session, *, override: Override, updated_by: str) -> PriceOverrideRow:
    validate_override(override)
    if override.model not in catalogue_for(session).models:
        raise InvalidInput(
            f"overrides are keyed by dated snapshot id; {override.model!r} is not one"
        )
    row = session.exec(
        select(PriceOverrideRow).where(
            PriceOverrideRow.model == override.model, PriceOverrideRow.field == override.field
        )
    ).first()
    if row is None:
        row = PriceOverrideRow(
            model=override.model,
            field=override.field,
            usd_per_1m_tokens=override.usd_per_1m_tokens,
            updated_by=updated_by,
        )
    row.usd_per_1m_tokens = override.usd_per_1m_tokens
    row.note = override.note
    row.effective_from = override.effective_from
    row.effective_until = override.effective_until
    row.updated_by = updated_by
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    log.info("override %s.%s set by %s", override.model, override.field, updated_by)
    return row


def delete_override(session: Session, *, model: str, field: str) -> None:
    row = session.exec(
        select(PriceOverrideRow).where(
            PriceOverrideRow.model == model, PriceOverrideRow.field == field
        )
    ).first()
    if row is None:
        raise NotFound(f"no override for {model} {field}")
    session.delete(row)


def version_in_force(session: Session, *, as_of: date) -> PriceVersion:
    return load_price_book(session).in_force(as_of)
