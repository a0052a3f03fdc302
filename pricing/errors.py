"""The pricing package's exceptions: every error a caller can act on derives from PricingError."""

from __future__ import annotations


class PricingError(Exception):
    """Root of every error raised by the pricing package."""


class UnknownModelError(PricingError):
    """A model name that resolves to nothing in the catalogue."""

    def __init__(self, name: str, suggestions: list[str]) -> None:
        self.name = name
        self.suggestions = suggestions
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"Unknown model {name!r}.{hint}")


class ModelNotAvailableError(PricingError):
    """A known model asked for on a date before it existed (e.g. gpt-4o in 2023)."""


class NotFineTunableError(PricingError):
    """Training was asked for a model OpenAI does not fine-tune."""


class UnknownPriceError(PricingError):
    """A price OpenAI never published (e.g. GPT-4 fine-tuning): unknown, never zero or a guess."""

    def __init__(self, model: str, field: str, version: str) -> None:
        self.model = model
        self.field = field
        self.version = version
        super().__init__(
            f"No published {field} for {model} in price version {version}. "
            f"Supply a contract price as an organisation override "
            f'(REST: PUT /v1/prices/overrides with {{"model": "{model}", "field": "{field}", '
            f'"usd_per_1m_tokens": "<usd>"}}; '
            f"CLI: --override {field}=<usd>)."
        )


class UnknownPriceVersionError(PricingError):
    """A version id that is not published."""


class PriceVersionConflictError(PricingError):
    """An attempt to change or re-publish an immutable price version."""


class InvalidPriceTableError(PricingError):
    """A price table that fails validation (negative price, unknown field, bad date)."""


class InvalidCatalogueEntryError(InvalidPriceTableError):
    """A new catalogue entry (a model published with a price version) that fails validation."""


class CatalogueConflictError(PricingError):
    """A new catalogue entry or alias that would redefine one already in the catalogue."""


class InvalidEstimateInputError(PricingError):
    """Estimate inputs that cannot be priced (negative tokens, zero epochs, ...)."""


class TokenizerIntegrityError(PricingError):
    """A shipped tokenizer file is missing or does not match its official sha256."""


class DatasetError(PricingError):
    """A training file that cannot be read at all (missing, empty, unreadable)."""
