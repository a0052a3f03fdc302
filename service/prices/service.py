"""The prices the service uses: the shipped history plus versions, models and overrides added
through the API."""

from __future__ import annotations

import logging
import secrets
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from pricing.catalogue import (
    Alias,
    Catalogue,
    ModelInfo,
    load_catalogue,
    model_entry_to_dict,
    parse_model_entry,
)
from pricing.errors import InvalidCatalogueEntryError
from pricing.history import PublishedChanges, merge_history
from pricing.lifecycle import (
    Lifecycle,
    combine_lifecycle_data,
    load_lifecycle,
    load_lifecycle_data,
    parse_lifecycle,
)
from pricing.prices import (
    Override,
    PriceBook,
    PriceVersion,
    apply_changes,
    load_builtin_price_book,
    validate_override,
    version_to_dict,
)
from service.errors import InvalidInput, NotFound
from service.prices.models import PriceOverrideRow, PublishedPriceVersion, ReferenceRevision
from service.types import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reference:
    """What every price calculation reads: price book, catalogue and overrides, at one revision."""

    revision: int
    book: PriceBook
    catalogue: Catalogue
    overrides: tuple[Override, ...]
    lifecycle: Lifecycle


# Per engine (one per process and database): every estimate reads it, so no URL rendering.
_cache: weakref.WeakKeyDictionary[Engine, Reference] = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


_REVISION = select(ReferenceRevision.revision)  # read on every request: built once


def current_revision(session: Session) -> int:
    return int(session.exec(_REVISION).one())


def _bump_revision(session: Session) -> None:
    # An UPDATE of the one row: it also holds the row (PostgreSQL) or the write lock (SQLite)
    # until commit, so two publishes cannot both build on the same "latest" version.
    # A fresh random number rather than +1: a database restored from a backup or recreated under
    # the same URL can never repeat a number a running replica has cached.
    session.execute(update(ReferenceRevision).values(revision=secrets.randbits(62) + 1))


def load_reference(session: Session, *, revision: int | None = None) -> Reference:
    """The shipped history plus every published version, catalogue entry and override.

    All of it changes only with the revision row, so each request reads that one number and
    every replica sees a publish or an override change on its next request. `revision`: that
    number, when the caller read it in a statement of its own (saving a round trip).
    """
    if revision is None:
        revision = current_revision(session)
    key = session.get_bind().engine
    cached = _cache.get(key)
    if cached is not None and cached.revision == revision:
        return cached
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None and cached.revision == revision:
            return cached
        reference = _read_reference(session, revision)
        _cache[key] = reference
        return reference


def _read_reference(session: Session, revision: int) -> Reference:
    book = load_builtin_price_book()
    catalogue = load_catalogue()
    rows = session.exec(select(PublishedPriceVersion).order_by(col(PublishedPriceVersion.id))).all()
    published = []
    for row in rows:
        # Versions published before catalogue entries existed simply carry none.
        catalogue = catalogue.extended(*_catalogue_additions(row.body, row.effective_date))
        published.append(_published_changes(row))
    if published:
        book = PriceBook(merge_history(book.versions, published))
    lifecycle = _lifecycle(catalogue, [row.body for row in rows])
    overrides = tuple(
        Override(r.model, r.field, r.usd_per_1m_tokens, r.note, r.effective_from, r.effective_until)
        for r in list_overrides(session)
    )
    log.debug("price reference loaded at revision %s (%s versions)", revision, len(rows))
    return Reference(revision, book, catalogue, overrides, lifecycle)


def _lifecycle(catalogue: Catalogue, bodies: list[Mapping[str, Any]]) -> Lifecycle:
    published = [body.get("lifecycle") or {} for body in bodies]
    if not any(published):
        return load_lifecycle()
    data = combine_lifecycle_data(load_lifecycle_data(), *published)
    return parse_lifecycle(data, known_models=catalogue.models)


def _published_changes(row: PublishedPriceVersion) -> PublishedChanges:
    body = row.body
    # The change set as published; rows written before it was kept carry only the whole table,
    # which is then the change set (every price it lists is set).
    changes = body.get("changes") or {
        model: {k: v for k, v in fields.items() if k != "sources"}
        for model, fields in body["models"].items()
    }
    data = {**body, "models": changes}
    return PublishedChanges(row.version, row.effective_date, data, row.published_by)


def _catalogue_additions(
    body: Mapping[str, Any], effective: date
) -> tuple[list[ModelInfo], list[Alias]]:
    models = [parse_model_entry(m) for m in body.get("new_models") or []]
    aliases = [Alias(str(n), effective, str(t)) for n, t in (body.get("aliases") or {}).items()]
    return models, aliases


def load_price_book(session: Session) -> PriceBook:
    return load_reference(session).book


def catalogue_for(session: Session) -> Catalogue:
    return load_reference(session).catalogue


def active_overrides(session: Session) -> tuple[Override, ...]:
    return load_reference(session).overrides


def publish_version(session: Session, *, body: dict[str, Any], published_by: str) -> PriceVersion:
    """Publish a change set (see pricing.prices.apply_changes) with any new catalogue entries."""
    _bump_revision(session)
    reference = _read_reference(session, current_revision(session))
    version = apply_changes(reference.book.latest, body, published_by=published_by)
    reference.book.with_version(version)  # refuses a taken id or an earlier effective date
    new_models, aliases = _catalogue_additions(body, version.effective_date)
    catalogue = reference.catalogue.extended(new_models, aliases)
    unknown = sorted(m for m in body["models"] if m not in catalogue.models)
    if unknown:
        raise InvalidInput(
            f"unknown models in price version: {', '.join(unknown)}; prices are keyed by dated "
            "snapshot ids such as gpt-4o-mini-2024-07-18 (a new model also needs an entry in "
            "new_models)",
            unknown_models=unknown,
            suggestions={m: catalogue.suggest(m) for m in unknown},
        )
    lifecycle = body.get("lifecycle") or {}
    if lifecycle:
        rows = session.exec(select(PublishedPriceVersion.body)).all()
        try:
            _lifecycle(catalogue, [*rows, {"lifecycle": lifecycle}])
        except InvalidCatalogueEntryError as exc:
            raise InvalidInput(f"lifecycle: {exc}") from None
    unpriced = sorted(m.id for m in new_models if m.id not in version.models)
    if unpriced:
        raise InvalidInput(
            f"new catalogue entries need prices in the version that adds them: "
            f"{', '.join(unpriced)}",
            unpriced_models=unpriced,
        )
    stored = {
        **version_to_dict(version),
        "changes": body["models"],
        "new_models": [model_entry_to_dict(m) for m in new_models],
        "aliases": {a.name: a.target for a in aliases},
        "lifecycle": lifecycle,
    }
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
        "published price version %s effective %s by %s (%s models changed, %s new, %s aliases)",
        version.version,
        version.effective_date,
        published_by,
        len(body["models"]),
        len(new_models),
        len(aliases),
    )
    return version


def list_overrides(session: Session, *, model: str | None = None) -> list[PriceOverrideRow]:
    query = select(PriceOverrideRow).order_by(PriceOverrideRow.model, PriceOverrideRow.field)
    if model:
        query = query.where(PriceOverrideRow.model == model)
    return list(session.exec(query).all())


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
    _bump_revision(session)
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
    _bump_revision(session)
    log.info("override %s.%s removed", model, field)
