"""The model catalogue and the one resolver that turns any pasted model name into an entry.

Fine-tuned names are resolved through their base model, never through tiktoken's prefix table
(tiktoken maps ``ft:gpt-4.1-...`` to cl100k_base, but GPT-4.1 uses o200k_base).
"""

from __future__ import annotations

import difflib
import re
import tomllib
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources
from typing import Any

from pricing.errors import (
    CatalogueConflictError,
    InvalidCatalogueEntryError,
    ModelNotAvailableError,
    UnknownModelError,
)
from pricing.tokens import ENCODING_NAMES

# Legacy GPT-3 fine-tunes (``davinci:ft-acme-2023-...``) bill and rate-limit like the -002
# replacements OpenAI moved them to; the original bases have no entry of their own.
LEGACY_BASES = {
    "davinci": "davinci-002",
    "curie": "davinci-002",
    "babbage": "babbage-002",
    "ada": "babbage-002",
}
_LEGACY_FT = re.compile(
    r"^(?P<base>ada|babbage|curie|davinci):ft-(?P<org>[a-z0-9-]+?)-(?P<stamp>\d{4}-\d{2}-\d{2}(?:-\d{2}-\d{2}-\d{2})?)$"
)
_CHECKPOINT = re.compile(r"^ckpt-step-(?P<step>\d+)$")


@dataclass(frozen=True)
class ModelInfo:
    id: str
    family: str
    api: str  # "chat" | "completions"
    context_window: int
    training_example_limit: int | None
    encoding: str
    released: date
    notes: str = ""
    # A request whose prompt is over this many tokens is billed whole at the long-context prices.
    long_context_threshold: int | None = None
    fine_tuning_methods: tuple[str, ...] = ()

    @property
    def fine_tunable(self) -> bool:
        return bool(self.fine_tuning_methods)


@dataclass(frozen=True)
class Alias:
    name: str
    effective_from: date
    target: str


@dataclass(frozen=True)
class ResolvedModel:
    """What a user-supplied name means on a given date."""

    requested: str
    model: ModelInfo
    fine_tuned: bool = False
    via_alias: str | None = None
    organization: str | None = None
    suffix: str | None = None
    fine_tune_id: str | None = None
    checkpoint_step: int | None = None
    legacy: bool = False

    @property
    def id(self) -> str:
        return self.model.id

    @property
    def family(self) -> str:
        return self.model.family

    @property
    def encoding(self) -> str:
        return self.model.encoding


def _effective_from(alias: Alias) -> date:
    return alias.effective_from


class Catalogue:
    def __init__(self, models: list[ModelInfo], aliases: list[Alias]) -> None:
        self.models = {m.id: m for m in models}
        self._aliases: dict[str, list[Alias]] = {}
        for alias in sorted(aliases, key=lambda a: a.effective_from):
            self._aliases.setdefault(alias.name, []).append(alias)
        for alias_list in self._aliases.values():
            for alias in alias_list:
                if alias.target not in self.models:
                    raise ValueError(f"alias {alias.name} points at unknown model {alias.target}")

    @property
    def alias_names(self) -> list[str]:
        return sorted(self._aliases)

    @property
    def families(self) -> list[str]:
        return sorted({m.family for m in self.models.values()})

    def alias_target(self, name: str, as_of: date) -> str:
        history = self._aliases[name]
        position = bisect_right(history, as_of, key=_effective_from)
        if position == 0:
            raise ModelNotAvailableError(
                f"{name!r} did not exist yet on {as_of.isoformat()}; "
                f"it first pointed at {history[0].target} "
                f"on {history[0].effective_from.isoformat()}."
            )
        return history[position - 1].target

    def extended(self, models: Iterable[ModelInfo], aliases: Iterable[Alias]) -> Catalogue:
        """This catalogue plus entries published after release; nothing already here may change.

        A new model id must not be taken by a model or an alias. An alias may be new or move to
        another model, but only forward in time: its history is append-only like the prices'.
        """
        added = list(models)
        merged = dict(self.models)
        for model in added:
            if model.id in merged:
                raise CatalogueConflictError(
                    f"model {model.id!r} is already in the catalogue; published entries are "
                    "immutable (publish a new dated snapshot id instead)"
                )
            if model.id in self._aliases:
                raise CatalogueConflictError(f"{model.id!r} is already an alias, not a model id")
            merged[model.id] = model
        history = [a for alias_list in self._aliases.values() for a in alias_list]
        for alias in aliases:
            if alias.name in merged:
                raise InvalidCatalogueEntryError(
                    f"alias {alias.name!r} is a model id; aliases are undated names"
                )
            if alias.target not in merged:
                raise InvalidCatalogueEntryError(
                    f"alias {alias.name!r} points at unknown model {alias.target!r}",
                )
            previous = self._aliases.get(alias.name, [])
            if previous and alias.effective_from < previous[-1].effective_from:
                raise CatalogueConflictError(
                    f"alias {alias.name!r} already points at {previous[-1].target} from "
                    f"{previous[-1].effective_from.isoformat()}; it can only move later"
                )
            history.append(alias)
        return Catalogue(list(merged.values()), history)

    def resolve(self, name: str, *, as_of: date) -> ResolvedModel:
        raw = name.strip()
        key = raw.lower()
        if not key:
            raise UnknownModelError(name, [])
        if key.startswith("ft:"):
            return self._resolve_fine_tuned(raw, key, as_of)
        legacy = _LEGACY_FT.match(key)
        if legacy:
            base = self.models[LEGACY_BASES[legacy.group("base")]]
            return ResolvedModel(
                requested=raw,
                model=base,
                fine_tuned=True,
                organization=legacy.group("org"),
                fine_tune_id=legacy.group("stamp"),
                legacy=True,
            )
        if key in self.models:
            return ResolvedModel(requested=raw, model=self.models[key])
        if key in self._aliases:
            return ResolvedModel(
                requested=raw, model=self.models[self.alias_target(key, as_of)], via_alias=key
            )
        raise UnknownModelError(raw, self.suggest(key))

    def _resolve_fine_tuned(self, raw: str, key: str, as_of: date) -> ResolvedModel:
        # ft:BASE:ORG:SUFFIX:ID with an optional :ckpt-step-N; the suffix may be empty.
        parts = key.split(":")
        checkpoint: int | None = None
        if len(parts) == 6:
            match = _CHECKPOINT.match(parts[5])
            if match is None:
                raise UnknownModelError(raw, self.suggest(parts[1]))
            checkpoint = int(match.group("step"))
            parts = parts[:5]
        if len(parts) != 5 or not parts[1] or not parts[4]:
            base_hint = parts[1] if len(parts) > 1 and parts[1] else "gpt-3.5-turbo-0613"
            raise UnknownModelError(raw, [f"ft:{base_hint}:ORG:SUFFIX:ID"])
        base_name = parts[1]
        try:
            base = self.resolve(base_name, as_of=as_of)
        except UnknownModelError as exc:
            raise UnknownModelError(raw, [f"ft:{s}:..." for s in exc.suggestions]) from None
        return ResolvedModel(
            requested=raw,
            model=base.model,
            fine_tuned=True,
            via_alias=base.via_alias,
            organization=parts[2] or None,
            suffix=parts[3] or None,
            fine_tune_id=parts[4],
            checkpoint_step=checkpoint,
        )

    def suggest(self, key: str, limit: int = 5) -> list[str]:
        names = [*self.models, *self._aliases]
        close = difflib.get_close_matches(key, names, n=limit, cutoff=0.6)
        prefixed = sorted(n for n in names if n.startswith(key) and n not in close)
        return (close + prefixed)[:limit]


# Dated snapshot ids and family names as OpenAI spells them: lower case, no colon (``ft:`` names
# are built from them) and no spaces.
MODEL_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
APIS = ("chat", "completions")
_ENTRY_KEYS = frozenset(
    {
        "id",
        "family",
        "api",
        "context_window",
        "training_example_limit",
        "encoding",
        "released",
        "notes",
        "long_context_threshold",
        "fine_tuning_methods",
    }
)
# Supervised (SFT), preference (DPO) and reinforcement (RFT) fine-tuning, as OpenAI names them.
FINE_TUNING_METHODS = ("supervised", "preference", "reinforcement")


def _positive_int(data: Mapping[str, Any], key: str, where: str) -> int:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidCatalogueEntryError(f"{where}: {key} must be a positive whole number")
    return value


def parse_model_entry(data: Mapping[str, Any]) -> ModelInfo:
    """Validate one catalogue entry given as a mapping (shipped TOML or a published JSON body)."""
    where = str(data.get("id", "catalogue entry"))
    unknown = sorted(set(data) - _ENTRY_KEYS)
    if unknown:
        raise InvalidCatalogueEntryError(f"{where}: unknown fields {', '.join(unknown)}")
    missing = sorted({"id", "family", "context_window", "encoding", "released"} - set(data))
    if missing:
        raise InvalidCatalogueEntryError(f"{where}: missing {', '.join(missing)}")
    for key in ("id", "family"):
        if not isinstance(data[key], str) or not MODEL_ID.match(data[key]):
            raise InvalidCatalogueEntryError(
                f"{where}: {key} must be lower case letters, digits, '.', '-' or '_' "
                f"(e.g. gpt-4o-mini-2024-07-18), got {data[key]!r}"
            )
    api = data.get("api", "chat")
    if api not in APIS:
        raise InvalidCatalogueEntryError(f"{where}: api must be one of {', '.join(APIS)}")
    if data["encoding"] not in ENCODING_NAMES:
        raise InvalidCatalogueEntryError(
            f"{where}: encoding {data['encoding']!r} is not shipped; "
            f"known: {', '.join(ENCODING_NAMES)}"
        )
    context_window = _positive_int(data, "context_window", where)
    limit = None
    if data.get("training_example_limit") is not None:
        limit = _positive_int(data, "training_example_limit", where)
        if limit > context_window:
            raise InvalidCatalogueEntryError(
                f"{where}: training_example_limit {limit} exceeds context_window {context_window}"
            )
    threshold = None
    if data.get("long_context_threshold") is not None:
        threshold = _positive_int(data, "long_context_threshold", where)
    methods = _methods(data, where, limit)
    released = data["released"]
    try:
        released = released if isinstance(released, date) else date.fromisoformat(str(released))
    except ValueError:
        raise InvalidCatalogueEntryError(
            f"{where}: released must be a date (YYYY-MM-DD), got {released!r}"
        ) from None
    return ModelInfo(
        id=data["id"],
        family=data["family"],
        api=api,
        context_window=context_window,
        training_example_limit=limit,
        encoding=data["encoding"],
        released=released,
        notes=str(data.get("notes", "")),
        long_context_threshold=threshold,
        fine_tuning_methods=methods,
    )


def _methods(data: Mapping[str, Any], where: str, limit: int | None) -> tuple[str, ...]:
    raw = data.get("fine_tuning_methods")
    if raw is None:
        # Entries older than the methods field: an example limit meant supervised fine-tuning.
        return ("supervised",) if limit is not None else ()
    if not isinstance(raw, list | tuple) or any(m not in FINE_TUNING_METHODS for m in raw):
        raise InvalidCatalogueEntryError(
            f"{where}: fine_tuning_methods must be a list of {', '.join(FINE_TUNING_METHODS)}"
        )
    methods = tuple(dict.fromkeys(str(m) for m in raw))
    if {"supervised", "preference"} & set(methods) and limit is None:
        raise InvalidCatalogueEntryError(
            f"{where}: supervised and preference fine-tuning need a training_example_limit"
        )
    return methods


def model_entry_to_dict(model: ModelInfo) -> dict[str, Any]:
    """The JSON form of an entry, as parse_model_entry reads it back."""
    return {
        "id": model.id,
        "family": model.family,
        "api": model.api,
        "context_window": model.context_window,
        "training_example_limit": model.training_example_limit,
        "encoding": model.encoding,
        "released": model.released.isoformat(),
        "notes": model.notes,
        "long_context_threshold": model.long_context_threshold,
        "fine_tuning_methods": list(model.fine_tuning_methods),
    }


def _load_catalogue_data(text: str) -> Catalogue:
    data = tomllib.loads(text)
    models = [parse_model_entry(m) for m in data["model"]]
    aliases = [Alias(a["name"], a["from"], a["target"]) for a in data["alias"]]
    return Catalogue(models, aliases)


@lru_cache(maxsize=1)
def load_catalogue() -> Catalogue:
    """The catalogue shipped with the package (cached: it is immutable data)."""
    text = resources.files("pricing").joinpath("data/catalogue.toml").read_text("utf-8")
    return _load_catalogue_data(text)
