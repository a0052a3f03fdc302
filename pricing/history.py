"""One effective-dated history from the shipped versions and the ones an operator published."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from pricing.errors import InvalidPriceTableError
from pricing.prices import (
    PriceBook,
    PriceChange,
    PriceVersion,
    apply_changes,
    build_history,
    version_from_file,
)


@dataclass(frozen=True)
class PublishedChanges:
    """A version an operator published: its change set, re-applied whenever history is rebuilt."""

    version: str
    effective_date: date
    data: Mapping[str, Any]  # the body as published: version, effective_date, source, models
    published_by: str


def merge_history(
    shipped: Iterable[PriceVersion], published: Iterable[PublishedChanges]
) -> list[PriceVersion]:
    """Shipped and published versions in one effective-dated history.

    A newer ratecard ships versions dated after ones an operator already published (the history
    grows at every upgrade). Each published change set is therefore applied to the table in
    force on its date, and carried into every later shipped table, so neither side loses what
    the other knows. A shipped version whose id an operator already took is renamed
    ``<id>-shipped``; the operator's id keeps meaning what it meant.
    """
    taken = {p.version for p in published}
    events: list[tuple[date, int, int, PriceVersion | PublishedChanges]] = []
    for order, version in enumerate(shipped):
        events.append((version.effective_date, 0, order, version))
    for order, change in enumerate(published):
        events.append((change.effective_date, 1, order, change))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    history: list[PriceVersion] = []
    applied: list[PublishedChanges] = []
    for _, _, _, item in events:
        if isinstance(item, PriceVersion):
            version = item
            for change in applied:
                version = apply_changes(
                    version,
                    {**change.data, "version": item.version, "effective_date": item.effective_date},
                    published_by=item.published_by,
                )
            version = replace(version, source=item.source, notes=item.notes)
            if version.version in taken:
                version = replace(version, version=f"{version.version}-shipped")
            history.append(version)
        else:
            base = history[-1] if history else PriceVersion("", item.effective_date, "", "", {})
            history.append(apply_changes(base, item.data, published_by=item.published_by))
            applied.append(item)
    return history


def check_version_file(
    shipped: Iterable[Mapping[str, Any]], new: Mapping[str, Any], *, known_models: Iterable[str]
) -> tuple[PriceVersion, list[PriceChange]]:
    """Validate a new shipped version file against the history before it; return its diff.

    The file may be a whole table or a change set. It must come after every version already
    shipped (history is append-only), price only catalogue models, and name a source for each
    model it changes.
    """
    others = [d for d in shipped if str(d.get("version")) != str(new.get("version"))]
    history = build_history(others)
    book = PriceBook(history)
    version = version_from_file(new, book.latest)
    book = book.with_version(version)  # refuses a taken id or an earlier date
    known = set(known_models)
    unknown = sorted(set(version.models) - known)
    if unknown:
        raise InvalidPriceTableError(
            f"not in the catalogue: {', '.join(unknown)} (add them to pricing/data/catalogue.toml)"
        )
    changes = book.diff(history[-1].version, version.version)
    label = version.version
    for model in sorted({c.model for c in changes}):
        prices = version.models.get(model)
        if prices is not None and not prices.sources:
            raise InvalidPriceTableError(f"{model}: name the source of its prices in {label}")
    if not version.source:
        raise InvalidPriceTableError(f"{label}: a version needs a source")
    return version, changes
