"""What the fake learns from a training file: examples, billing tokens, hyperparameters.

Billing tokens are the sum over examples of the cookbook chat count (3 per message, the
tokens of each value, +1 per ``name``, +3 priming; ``prompt`` + ``completion`` for
babbage/davinci), each capped at the model's per-example limit. Text is counted by
``count_text_tokens(text, encoding)``: by default :func:`pricing.tokens.count_text_tokens`
(the project's offline tiktoken), falling back to :func:`approximate_text_tokens`
(ceil(characters / 4)) only if that module cannot be imported.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from service.fakes.openai.errors import FakeOpenAIError

if TYPE_CHECKING:
    from service.fakes.openai.models import FineTunableModel

__all__ = [
    "FileAnalysis",
    "InvalidTrainingFile",
    "TextTokenCounter",
    "analyse_training_file",
    "approximate_text_tokens",
    "default_n_epochs",
    "default_text_counter",
    "parse_hyperparameters",
    "resolve_hyperparameters",
]

logger = logging.getLogger(__name__)

TextTokenCounter = Callable[[str, str], int]
"""``(text, encoding_name) -> tokens``."""


def approximate_text_tokens(text: str, encoding: str) -> int:
    """ceil(characters / 4): OpenAI's rule of thumb, used only if tiktoken is unavailable."""
    del encoding  # same approximation for every encoding
    return (len(text) + 3) // 4


def default_text_counter() -> TextTokenCounter:
    try:
        from pricing.tokens import count_text_tokens
    except ImportError:
        logger.warning("pricing.tokens unavailable; fake OpenAI counts tokens as chars/4")
        return approximate_text_tokens
    return count_text_tokens


def default_n_epochs(n_examples: int) -> int:
    """OpenAI's rule for ``n_epochs="auto"``: 3, stretched so that small files see at least
    100 examples (at most 25 epochs) and shrunk so that large ones see at most 25,000."""
    n_epochs = 3
    if n_examples <= 0:
        return n_epochs
    if n_examples * n_epochs < 100:
        n_epochs = min(25, 100 // n_examples)
    elif n_examples * n_epochs > 25_000:
        n_epochs = max(1, 25_000 // n_examples)
    return n_epochs


@dataclass(frozen=True)
class FileAnalysis:
    n_examples: int
    billing_tokens: int


class InvalidTrainingFile(Exception):
    pass


def analyse_training_file(
    content: bytes,
    spec: FineTunableModel,
    *,
    count: TextTokenCounter,
    min_examples: int,
) -> FileAnalysis:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidTrainingFile(f"File is not UTF-8 (byte {exc.start}).") from None
    n_examples = 0
    billing_tokens = 0
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            example = json.loads(line)
        except ValueError:
            raise InvalidTrainingFile(
                f"Invalid file format. Line {line_no}: not valid JSON."
            ) from None
        if not isinstance(example, dict):
            raise InvalidTrainingFile(
                f"Invalid file format. Line {line_no}: expected a JSON object."
            )
        tokens = _example_tokens(example, spec, line_no, count)
        billing_tokens += min(tokens, spec.example_token_limit)
        n_examples += 1
    if n_examples < max(1, min_examples):
        raise InvalidTrainingFile(
            f"Training file has {n_examples} example(s), but must have at least "
            f"{max(1, min_examples)} examples."
        )
    return FileAnalysis(n_examples=n_examples, billing_tokens=billing_tokens)


def _example_tokens(
    example: dict[str, Any], spec: FineTunableModel, line_no: int, count: TextTokenCounter
) -> int:
    if not spec.chat:
        prompt, completion = example.get("prompt"), example.get("completion")
        if not isinstance(prompt, str) or not isinstance(completion, str):
            raise InvalidTrainingFile(
                f"Invalid file format. Line {line_no}: expected 'prompt' and 'completion' strings."
            )
        return count(prompt, spec.encoding) + count(completion, spec.encoding)
    messages = example.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidTrainingFile(
            f'Invalid file format. Line {line_no}, key "messages": expected a non-empty list.'
        )
    # Cookbook count: 3 priming + per message 3, its values, +1 for a name.
    total = 3
    has_assistant = False
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise InvalidTrainingFile(
                f"Invalid file format. Line {line_no}: every message needs a 'role'."
            )
        has_assistant = has_assistant or message["role"] == "assistant"
        total += 3
        for key, value in message.items():
            if key == "weight" or value is None:
                continue  # a training directive, never shown to the model
            text = (
                value
                if isinstance(value, str)
                else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            )
            total += count(text, spec.encoding)
            if key == "name":
                total += 1
    if not has_assistant:
        raise InvalidTrainingFile(f"Invalid file format. Line {line_no}: no assistant message.")
    return total


_HYPERPARAMETER_RULES: dict[str, tuple[type | tuple[type, ...], float, float]] = {
    "n_epochs": (int, 1, 50),
    "batch_size": (int, 1, 256),
    "learning_rate_multiplier": ((int, float), 0, math.inf),
}


def parse_hyperparameters(body: Mapping[str, Any]) -> dict[str, Any]:
    """Requested hyperparameters from ``hyperparameters`` or ``method.supervised``."""
    given: object = body.get("hyperparameters")
    method = body.get("method")
    if method is not None:
        if not isinstance(method, dict) or method.get("type") != "supervised":
            raise FakeOpenAIError(
                400, "The fake only supports method.type 'supervised'.", param="method.type"
            )
        supervised = method.get("supervised") or {}
        given = (
            supervised.get("hyperparameters") if isinstance(supervised, dict) else None
        ) or given
    given = given or {}
    if not isinstance(given, dict):
        raise FakeOpenAIError(400, "hyperparameters must be an object", param="hyperparameters")
    result: dict[str, Any] = {}
    for name, (kind, low, high) in _HYPERPARAMETER_RULES.items():
        value = given.get(name, "auto")
        if value == "auto":
            result[name] = "auto"
            continue
        ok = isinstance(value, kind) and not isinstance(value, bool)
        if ok and name == "learning_rate_multiplier":
            ok = low < value <= high
        elif ok:
            ok = low <= value <= high
        if not ok:
            raise FakeOpenAIError(
                400,
                f"Invalid value for hyperparameters.{name}: {value!r}",
                param=f"hyperparameters.{name}",
            )
        result[name] = value
    unknown = set(given) - set(_HYPERPARAMETER_RULES)
    if unknown:
        raise FakeOpenAIError(
            400,
            f"Unknown hyperparameter(s): {', '.join(sorted(unknown))}",
            param="hyperparameters",
        )
    return result


def resolve_hyperparameters(requested: Mapping[str, Any], analysis: FileAnalysis) -> dict[str, Any]:
    """Replace "auto" with numbers, as OpenAI does once the file is validated."""
    resolved = dict(requested)
    if resolved["n_epochs"] == "auto":
        resolved["n_epochs"] = default_n_epochs(analysis.n_examples)
    if resolved["batch_size"] == "auto":
        # OpenAI uses about 0.2% of the examples per batch, capped at 256.
        resolved["batch_size"] = max(1, min(256, math.ceil(analysis.n_examples * 0.002)))
    if resolved["learning_rate_multiplier"] == "auto":
        resolved["learning_rate_multiplier"] = 2.0  # plausible; no billing depends on it
    return resolved
