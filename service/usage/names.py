"""How models and organisations are named in the pools.

OpenAI gives a fine-tuned model no capacity of its own: ``ft:gpt-3.5-turbo-0613:acme::abc`` draws
from the same TPM/RPM limit as base gpt-3.5-turbo. Every model name therefore resolves through the
pricing catalogue to its family, and usage is counted against the family's pool, split by model
(the dated snapshot for base models, the full name for each ``ft:`` model).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from pricing.catalogue import ResolvedModel
from pricing.errors import UnknownModelError
from service.prices.service import catalogue_for
from service.settings import Settings


def default_org(settings: Settings) -> str:
    return settings.openai_organization or "default"


def model_key(resolved: ResolvedModel) -> str:
    """How a model appears in a pool's split: the snapshot for base models, the full ft: name."""
    return resolved.requested if resolved.fine_tuned else resolved.id


def is_fine_tuned_key(key: str) -> bool:
    # Catalogue ids never contain ':'; ft: and legacy davinci:ft- names always do.
    return ":" in key


def resolve_family(session: Session, name: str, *, as_of: datetime) -> str:
    """A family name as is, else the family of any model name (dated snapshot, alias, ft: name)."""
    catalogue = catalogue_for(session)
    key = name.strip().lower()
    if key in catalogue.families:
        return key
    try:
        return catalogue.resolve(name, as_of=as_of.date()).family
    except UnknownModelError as exc:
        families = [f for f in catalogue.families if f.startswith(key[:5])] if key else []
        raise UnknownModelError(
            name, list(dict.fromkeys([*exc.suggestions, *families]))[:5]
        ) from None
