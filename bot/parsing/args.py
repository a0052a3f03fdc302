"""What every command's parsing shares: splitting the text into words and key=value options,
and reading counts, epochs, dates, percentages, models and Slack file references.

Pure: no Slack, no network, no clock. Anything that does not parse raises `UsageError` with a
sentence the user can act on; the listener answers it together with the command's usage.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Literal
from urllib.parse import urlsplit

Epochs = int | Literal["auto"]
COMMANDS = ("/estimate", "/launch", "/notify")
MAX_TOKENS = 10**12
FILE_ID = re.compile(r"F[A-Z0-9]{6,}")
# files-pri/T0123-F0456/name.jsonl and /files/U0123/F0456/name.jsonl (permalinks)
_LINK_ID = re.compile(r"(?:-|/)(F[A-Z0-9]{6,})(?:/|$)")
SLACK_FILE_HOSTS = ("slack.com", "slack-edge.com", "slack-files.com")


class UsageError(ValueError):
    def __init__(self, command: str, message: str) -> None:
        super().__init__(message)
        self.command = command
        self.message = message


@dataclass(frozen=True)
class Help:
    command: str


@dataclass
class Args:
    command: str
    positional: list[str] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)

    def take(self, key: str) -> str | None:
        return self.options.pop(key, None)

    def done(self, allowed: str) -> None:
        if self.options:
            unknown = ", ".join(f"{k}=" for k in sorted(self.options))
            raise UsageError(self.command, f"unknown option {unknown}; this form takes {allowed}")


_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})
_ALIASES = {
    "as-of": "as_of",
    "asof": "as_of",
    "per-day": "per_day",
    "perday": "per_day",
    "rpd": "per_day",
    "validation_file": "validation",
    "val": "validation",
    "n_epochs": "epochs",
    "lr": "learning_rate",
    "learning_rate_multiplier": "learning_rate",
    "batch": "batch_size",
    "threshold": "at",
    "train_tokens": "training_tokens",
    "prompt_tokens": "prompt",
    "completion_tokens": "completion",
    "requests_per_day": "per_day",
    "fine_tune_prompt_cut": "cut",
}


def split_args(command: str, text: str) -> Args:
    # Slack's clients turn straight quotes into curly ones; shlex only knows the straight kind.
    try:
        words = shlex.split((text or "").translate(_QUOTES))
    except ValueError as exc:
        raise UsageError(
            command, f"could not read the arguments ({exc}); check the quotes"
        ) from None
    args = Args(command)
    for word in words:
        key, sep, value = word.partition("=")
        if sep and key and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key):
            name = key.lower()
            name = _ALIASES.get(name, name)
            if name in args.options:
                raise UsageError(command, f"{key}= is given twice")
            args.options[name] = value
        else:
            args.positional.append(word)
    return args


def unwrap_link(value: str) -> str:
    """Slack escapes links as <url> or <url|label>; keep the url."""
    if value.startswith("<") and value.endswith(">"):
        return value[1:-1].split("|", 1)[0]
    return value


def parse_count(
    command: str, name: str, text: str, *, minimum: int = 0, maximum: int = MAX_TOKENS
) -> int:
    """Whole numbers as people type them: 100000, 100_000, 100,000, 100k, 1.5M."""
    cleaned = text.strip().replace("_", "").replace(",", "").lower()
    multiplier = 1
    if cleaned[-1:] in ("k", "m", "b"):
        multiplier = {"k": 10**3, "m": 10**6, "b": 10**9}[cleaned[-1]]
        cleaned = cleaned[:-1]
    try:
        value = Decimal(cleaned) * multiplier
    except InvalidOperation:
        raise UsageError(
            command, f"{name}= must be a whole number (like 100000 or 100k), not {text!r}"
        ) from None
    if not value.is_finite() or value != value.to_integral_value():
        raise UsageError(command, f"{name}= must be a whole number, not {text!r}")
    if not minimum <= value <= maximum:
        raise UsageError(
            command, f"{name}= must be between {minimum:,} and {maximum:,}, not {text}"
        )
    return int(value)


def parse_epochs(command: str, text: str | None) -> Epochs:
    if text is None or text.lower() == "auto":
        return "auto"
    if not text.isdigit() or not 1 <= int(text) <= 50:
        raise UsageError(command, f"epochs= must be 1-50 or auto, not {text!r}")
    return int(text)


def parse_date(command: str, text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(command, f"as_of= must be a date like 2024-05-01, not {text!r}") from None


def parse_percent_fraction(command: str, text: str) -> Decimal:
    """cut=90%, cut=90 or cut=0.9 all mean a 90% shorter prompt."""
    raw = text.strip().rstrip("%")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise UsageError(
            command, f"cut= must be a percentage like 90% or a fraction like 0.9, not {text!r}"
        ) from None
    if text.strip().endswith("%") or value > 1:
        value = value / 100
    if not value.is_finite() or not 0 <= value < 1:
        raise UsageError(command, f"cut= must be at least 0% and below 100%, not {text!r}")
    return value


def model_arg(args: Args, position: int, usage_hint: str) -> str:
    if len(args.positional) <= position:
        raise UsageError(args.command, f"which model? {usage_hint}")
    model = args.positional[position]
    if len(model) > 200:
        raise UsageError(args.command, "that model name is too long")
    return model


def file_id_from_ref(ref: str) -> str | None:
    """The Slack file id in an id or a Slack file link; None for anything else (never fetched)."""
    if FILE_ID.fullmatch(ref):
        return ref
    parts = urlsplit(ref)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and any(
        host == h or host.endswith("." + h) for h in SLACK_FILE_HOSTS
    ):
        match = _LINK_ID.search(parts.path)
        if match:
            return match.group(1)
    return None


def is_openai_file_id(value: str) -> bool:
    return value.startswith("file-")
