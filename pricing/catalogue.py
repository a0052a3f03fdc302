"""The model catalogue and the one resolver that turns any pasted model name into an entry.

Fine-tuned names are resolved through their base model, never through tiktoken's prefix table
(tiktoken maps ``ft:gpt-4.1-...`` to cl100k_base, but GPT-4.1 uses o200k_base).
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources

from pricing.errors import ModelNotAvailableError, UnknownModelError

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

    @property
    def fine_tunable(self) -> bool:
        return self.training_example_limit is not None


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
        current = [a for a in history if a.effective_from <= as_of]
        if not current:
            raise ModelNotAvailableError(
                f"{name!r} did not exist yet on {as_of.isoformat()}; "
                f"it first pointed at {history[0].target} "
                f"on {history[0].effective_from.isoformat()}."
            )
        return current[-1].target

    def with_models(self, extra: list[ModelInfo]) -> Catalogue:
        """A catalogue that also knows models published after release (admin-added entries)."""
        aliases = [a for alias_list in self._aliases.values() for a in alias_list]
        merged = {**self.models, **{m.id: m for m in extra}}
        return Catalogue(list(merged.values()), aliases)

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


def _load_catalogue_data(text: str) -> Catalogue:
    data = tomllib.loads(text)
    models = [
        ModelInfo(
            id=m["id"],
            family=m["family"],
            api=m["api"],
            context_window=m["context_window"],
            training_example_limit=m.get("training_example_limit"),
            encoding=m["encoding"],
            released=m["released"],
            notes=m.get("notes", ""),
        )
        for m in data["model"]
    ]
    aliases = [Alias(a["name"], a["from"], a["target"]) for a in data["alias"]]
    return Catalogue(models, aliases)


@lru_cache(maxsize=1)
def load_catalogue() -> Catalogue:
    """The catalogue shipped with the package (cached: it is immutable data)."""
    text = resources.files("pricing").joinpath("data/catalogue.toml").read_text("utf-8")
    return _load_catalogue_data(text)
