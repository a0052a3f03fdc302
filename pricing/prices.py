"""Versioned, effective-dated price tables and organisation overrides.

A version is immutable once published. A lookup takes ``as_of`` and returns the newest version in
force, so every estimate can say which prices it used. Overrides (contract prices, prices OpenAI
never published) layer over whatever public version is in force.
"""

from __future__ import annotations

import tomllib
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Any

from pricing.errors import (
    InvalidPriceTableError,
    ModelNotAvailableError,
    PriceVersionConflictError,
    UnknownPriceError,
    UnknownPriceVersionError,
)
from pricing.money import to_decimal
from pricing.price_fields import PRICE_FIELDS


@dataclass(frozen=True)
class ModelPrices:
    model: str
    prices: Mapping[str, Decimal]
    sources: Mapping[str, str] = field(default_factory=dict)

    def get(self, price_field: str) -> Decimal | None:
        return self.prices.get(price_field)


@dataclass(frozen=True)
class PriceVersion:
    version: str
    effective_date: date
    source: str
    notes: str
    models: Mapping[str, ModelPrices]
    published_by: str = "ratecard (shipped)"

    def prices_for(self, model_id: str) -> ModelPrices | None:
        return self.models.get(model_id)


@dataclass(frozen=True)
class PriceChange:
    model: str
    field: str
    old: Decimal | None
    new: Decimal | None


@dataclass(frozen=True)
class Override:
    """A contract price for one model field, optionally limited to a date range."""

    model: str
    field: str
    usd_per_1m_tokens: Decimal
    note: str = ""
    effective_from: date | None = None
    effective_until: date | None = None

    def applies_on(self, as_of: date) -> bool:
        if self.effective_from and as_of < self.effective_from:
            return False
        return not (self.effective_until and as_of > self.effective_until)


@dataclass(frozen=True)
class PriceQuote:
    """The prices a calculation may use for one model on one date, and where each came from."""

    model: str
    version: str
    as_of: date
    prices: Mapping[str, Decimal]
    overridden: frozenset[str]

    def require(self, price_field: str) -> Decimal:
        value = self.prices.get(price_field)
        if value is None:
            raise UnknownPriceError(self.model, price_field, self.version)
        return value

    def source_of(self, price_field: str) -> str:
        return "override" if price_field in self.overridden else "public"


def parse_version(
    data: Mapping[str, Any], *, published_by: str = "ratecard (shipped)"
) -> PriceVersion:
    """Validate a version given as a mapping (a shipped TOML file or a published JSON body)."""
    try:
        version = str(data["version"]).strip()
        effective = data["effective_date"]
        effective_date = (
            effective if isinstance(effective, date) else date.fromisoformat(str(effective))
        )
    except (KeyError, ValueError) as exc:
        raise InvalidPriceTableError(
            f"a price version needs 'version' and an ISO 'effective_date': {exc}"
        ) from None
    if not version or len(version) > 64:
        raise InvalidPriceTableError("version id must be 1-64 characters")
    raw_models = data.get("models")
    if not isinstance(raw_models, Mapping) or not raw_models:
        raise InvalidPriceTableError("a price version needs a non-empty 'models' table")
    models: dict[str, ModelPrices] = {}
    for model_id, entry in raw_models.items():
        if not isinstance(entry, Mapping):
            raise InvalidPriceTableError(f"{model_id}: prices must be a table of decimal strings")
        prices: dict[str, Decimal] = {}
        for key, value in entry.items():
            if key == "sources":
                continue
            if key not in PRICE_FIELDS:
                raise InvalidPriceTableError(
                    f"{model_id}: unknown price field {key!r}; known: {', '.join(PRICE_FIELDS)}"
                )
            if isinstance(value, float) or not isinstance(value, (str, int)):
                raise InvalidPriceTableError(
                    f'{model_id}.{key}: prices are decimal strings, e.g. "1.50"'
                )
            try:
                amount = to_decimal(value)
            except ValueError as exc:
                raise InvalidPriceTableError(f"{model_id}.{key}: {exc}") from None
            if amount < 0:
                raise InvalidPriceTableError(f"{model_id}.{key}: price must not be negative")
            prices[key] = amount
        sources = {str(k): str(v) for k, v in dict(entry.get("sources", {})).items()}
        models[str(model_id)] = ModelPrices(str(model_id), prices, sources)
    return PriceVersion(
        version=version,
        effective_date=effective_date,
        source=str(data.get("source", "")),
        notes=str(data.get("notes", "")),
        models=models,
        published_by=published_by,
    )


def apply_changes(
    base: PriceVersion, data: Mapping[str, Any], *, published_by: str
) -> PriceVersion:
    """A published change set made whole: ``base``'s table with the listed prices changed.

    Each version is a complete table (a lookup reads only the version in force), but an admin
    publishing "gpt-4o-mini input is now 0.12" must not have to repeat every other price, nor
    silently withdraw them. So ``models`` lists only what changes: ``{model: {field: "1.50"}}``
    sets a price, ``{field: null}`` withdraws one, ``{model: null}`` withdraws a model; everything
    not listed carries over from ``base``.
    """
    changes = data.get("models")
    if not isinstance(changes, Mapping) or not changes:
        raise InvalidPriceTableError("a price version needs a non-empty 'models' table of changes")
    label = str(data.get("version", "")).strip()
    table: dict[str, dict[str, Any]] = {
        m: {**{k: str(v) for k, v in mp.prices.items()}, "sources": dict(mp.sources)}
        for m, mp in base.models.items()
    }
    for model_id, fields in changes.items():
        if fields is None:
            if model_id not in table:
                raise InvalidPriceTableError(
                    f"{model_id}: cannot withdraw it, it has no prices in {base.version}"
                )
            del table[model_id]
            continue
        if not isinstance(fields, Mapping) or not fields:
            raise InvalidPriceTableError(f"{model_id}: list the price fields that change")
        row = table.setdefault(str(model_id), {"sources": {}})
        for key, value in fields.items():
            if key not in PRICE_FIELDS:
                raise InvalidPriceTableError(
                    f"{model_id}: unknown price field {key!r}; known: {', '.join(PRICE_FIELDS)}"
                )
            if value is None:
                row.pop(key, None)
            else:
                row[key] = value
        row["sources"] = {**row["sources"], label: str(data.get("source", ""))}
        if set(row) == {"sources"}:
            del table[model_id]
    return parse_version({**data, "models": table}, published_by=published_by)


def version_to_dict(v: PriceVersion) -> dict[str, Any]:
    """A whole version as JSON-safe data that parse_version reads back unchanged."""
    return {
        "version": v.version,
        "effective_date": v.effective_date.isoformat(),
        "source": v.source,
        "notes": v.notes,
        "models": {
            m: {**{k: str(p) for k, p in mp.prices.items()}, "sources": dict(mp.sources)}
            for m, mp in v.models.items()
        },
    }


def _effective_date(version: PriceVersion) -> date:
    return version.effective_date


class PriceBook:
    """All published versions, ordered by effective date then publication order."""

    def __init__(self, versions: Iterable[PriceVersion]) -> None:
        self._versions: list[PriceVersion] = []
        for v in versions:
            self._append(v)

    def _append(self, version: PriceVersion) -> None:
        if any(v.version == version.version for v in self._versions):
            raise PriceVersionConflictError(
                f"price version {version.version} is already published and immutable"
            )
        if self._versions and version.effective_date < self._versions[-1].effective_date:
            raise InvalidPriceTableError(
                f"effective date {version.effective_date} is before the latest version "
                f"{self._versions[-1].version} ({self._versions[-1].effective_date}); "
                "history is append-only"
            )
        self._versions.append(version)

    @property
    def versions(self) -> list[PriceVersion]:
        return list(self._versions)

    @property
    def latest(self) -> PriceVersion:
        return self._versions[-1]

    def with_version(self, version: PriceVersion) -> PriceBook:
        book = PriceBook(self._versions)
        book._append(version)
        return book

    def get(self, version_id: str) -> PriceVersion:
        for v in self._versions:
            if v.version == version_id:
                return v
        raise UnknownPriceVersionError(
            f"no price version {version_id!r}; "
            f"published: {', '.join(v.version for v in self._versions)}"
        )

    def in_force(self, as_of: date) -> PriceVersion:
        # The last version effective on or before the day (every estimate asks: bisect, not scan).
        position = bisect_right(self._versions, as_of, key=_effective_date)
        if position == 0:
            raise UnknownPriceVersionError(
                f"no prices in force on {as_of.isoformat()}; the first version is "
                f"{self._versions[0].version} "
                f"effective {self._versions[0].effective_date.isoformat()}"
            )
        return self._versions[position - 1]

    def quote(
        self, model_id: str, *, as_of: date, overrides: Iterable[Override] = ()
    ) -> PriceQuote:
        version = self.in_force(as_of)
        public = version.prices_for(model_id)
        applicable = [o for o in overrides if o.model == model_id and o.applies_on(as_of)]
        if public is None and not applicable:
            raise ModelNotAvailableError(
                f"{model_id} has no prices in version {version.version} "
                f"(in force on {as_of.isoformat()}); "
                "it may not have been released yet on that date"
            )
        prices = dict(public.prices) if public else {}
        overridden = set()
        for o in applicable:
            prices[o.field] = o.usd_per_1m_tokens
            overridden.add(o.field)
        return PriceQuote(model_id, version.version, as_of, prices, frozenset(overridden))

    def diff(self, from_version: str, to_version: str) -> list[PriceChange]:
        a, b = self.get(from_version), self.get(to_version)
        changes: list[PriceChange] = []
        for model in sorted(set(a.models) | set(b.models)):
            old = a.models[model].prices if model in a.models else {}
            new = b.models[model].prices if model in b.models else {}
            for price_field in PRICE_FIELDS:
                if old.get(price_field) != new.get(price_field):
                    changes.append(
                        PriceChange(model, price_field, old.get(price_field), new.get(price_field))
                    )
        return changes


def validate_override(o: Override) -> Override:
    if o.field not in PRICE_FIELDS:
        raise InvalidPriceTableError(
            f"unknown price field {o.field!r}; known: {', '.join(PRICE_FIELDS)}"
        )
    if o.usd_per_1m_tokens < 0:
        raise InvalidPriceTableError("override price must not be negative")
    if o.effective_from and o.effective_until and o.effective_until < o.effective_from:
        raise InvalidPriceTableError("effective_until is before effective_from")
    return replace(o)


def version_from_file(data: Mapping[str, Any], previous: PriceVersion | None) -> PriceVersion:
    """A shipped version file: a whole table (``[models]``) or a change set (``[changes]``).

    A maintainer adding a price change writes only what changed, in the same form the publish
    API takes; it is made whole on top of the version before it.
    """
    if "changes" not in data:
        return parse_version(data)
    if previous is None:
        raise InvalidPriceTableError("the first version must be a whole table ([models])")
    if "models" in data:
        raise InvalidPriceTableError("a version file has [models] or [changes], not both")
    return apply_changes(
        previous, {**data, "models": data["changes"]}, published_by="ratecard (shipped)"
    )


def build_history(files: Iterable[Mapping[str, Any]]) -> list[PriceVersion]:
    """Shipped version files, in effective-date order, each made whole."""
    ordered = sorted(files, key=lambda d: str(d.get("effective_date")))
    history: list[PriceVersion] = []
    for data in ordered:
        history.append(version_from_file(data, history[-1] if history else None))
    return history


@lru_cache(maxsize=1)
def load_builtin_price_book() -> PriceBook:
    """The dated public history shipped in pricing/data/prices (one immutable file per version)."""
    folder = resources.files("pricing").joinpath("data/prices")
    files = [
        tomllib.loads(f.read_text("utf-8")) for f in folder.iterdir() if f.name.endswith(".toml")
    ]
    return PriceBook(build_history(files))
