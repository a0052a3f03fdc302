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

# Processing tiers with prices of their own. "priority" is also OpenAI's "fast" (Fast replaced
# Priority on 2026-07-30 at the same or a higher price, on the same rate limits).
TIERS: tuple[str, ...] = ("standard", "batch", "flex", "priority")
TIER_ALIASES = {"fast": "priority", "default": "standard"}
TOKEN_KINDS: tuple[str, ...] = ("input", "cached_input", "cache_write", "output")


def price_field(
    kind: str, *, tier: str = "standard", long_context: bool = False, fine_tuned: bool = False
) -> str:
    """The one spelling of a price field: ``usd_per_1m_[ft_][TIER_][long_context_]KIND_tokens``."""
    parts = ["usd_per_1m"]
    if fine_tuned:
        parts.append("ft")
    if tier != "standard":
        parts.append(tier)
    if long_context:
        parts.append("long_context")
    parts.append(f"{kind}_tokens")
    return "_".join(parts)


def _all_price_fields() -> tuple[str, ...]:
    fields = [
        # The fields of the first versions, in their original order.
        "usd_per_1m_input_tokens",
        "usd_per_1m_output_tokens",
        "usd_per_1m_cached_input_tokens",
        "usd_per_1m_batch_input_tokens",
        "usd_per_1m_batch_output_tokens",
        "usd_per_1m_training_tokens",
        "usd_per_1m_ft_input_tokens",
        "usd_per_1m_ft_output_tokens",
        "usd_per_1m_ft_cached_input_tokens",
        "usd_per_1m_ft_batch_input_tokens",
        "usd_per_1m_ft_batch_output_tokens",
    ]
    for tier in TIERS:
        for long_context in (False, True):
            for kind in TOKEN_KINDS:
                name = price_field(kind, tier=tier, long_context=long_context)
                if name not in fields:
                    fields.append(name)
    fields.append("usd_per_1m_ft_batch_cached_input_tokens")
    # Reinforcement fine-tuning is billed per hour of training, not per token.
    fields.append("usd_per_training_hour")
    return tuple(fields)


# Every price a version can carry: USD per 1M tokens, except the hourly training rate.
# Units live in the names.
PRICE_FIELDS: tuple[str, ...] = _all_price_fields()


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


@lru_cache(maxsize=1)
def load_builtin_price_book() -> PriceBook:
    """The dated public history shipped in pricing/data/prices (one immutable file per version)."""
    folder = resources.files("pricing").joinpath("data/prices")
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".toml")), key=lambda f: f.name)
    versions = [parse_version(tomllib.loads(f.read_text("utf-8"))) for f in files]
    return PriceBook(sorted(versions, key=lambda v: v.effective_date))
