"""The format rules of a JSONL fine-tuning file: what a valid chat or prompt/completion example
is, the kinds of problem (counted per kind, with line numbers) and what is said about each, and the
statistics a file's analysis reports.

The checks follow the OpenAI cookbook "Data preparation and analysis for chat model fine-tuning";
:mod:`pricing.dataset_tokens` applies them line by line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FIRST_LINES = 10

ALLOWED_MESSAGE_KEYS = frozenset(
    {"role", "content", "name", "function_call", "tool_calls", "tool_call_id", "weight"}
)
# An assistant message that calls a function or tools may leave out its content (OpenAI's
# function-calling fine-tuning format); every other message needs non-empty text.
CALL_KEYS = ("function_call", "tool_calls")
ROLES = frozenset({"system", "user", "assistant", "function", "tool"})

Format = Literal["chat", "completion", "preference", "reinforcement"]
# The formats a supervised file may be in; preference and reinforcement files have one each.
SUPERVISED_FORMATS: tuple[Format, ...] = ("chat", "completion")
# Reinforcement prompts may also carry developer messages (the reasoning models' system role).
REINFORCEMENT_ROLES = ROLES | {"developer"}
NO_FORMAT = "_no_format_keys"  # an object with neither "messages" nor "prompt"/"completion"

# Problems are reported in this order: whole-line problems first, then example-level, then
# message-level, so the first thing a user reads is the thing to fix first.
KIND_ORDER = (
    "invalid_utf8",
    "invalid_json",
    "line_too_long",
    "blank_line",
    "data_type",
    "mixed_formats",
    "missing_messages_list",
    "missing_prompt_or_completion",
    "missing_preference_input",
    "missing_preference_outputs",
    "preference_output_not_assistant",
    "message_data_type",
    "message_missing_key",
    "message_unrecognized_key",
    "unrecognized_role",
    "missing_content",
    "example_missing_assistant_message",
)

# kind -> (singular, plural) completing "<count> ..."
_DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "invalid_utf8": ("line is not valid UTF-8", "lines are not valid UTF-8"),
    "invalid_json": ("line is not valid JSON", "lines are not valid JSON"),
    "line_too_long": (
        "line is too long to be a training example",
        "lines are too long to be training examples",
    ),
    "blank_line": ("line is blank", "lines are blank"),
    "data_type": ("example is not a JSON object", "examples are not JSON objects"),
    "missing_messages_list": (
        'example has no "messages" list',
        'examples have no "messages" list',
    ),
    "missing_prompt_or_completion": (
        'example lacks a string "prompt" or "completion"',
        'examples lack a string "prompt" or "completion"',
    ),
    "missing_preference_input": (
        'example has no "input" object with a non-empty "messages" list',
        'examples have no "input" object with a non-empty "messages" list',
    ),
    "missing_preference_outputs": (
        'example lacks a non-empty "preferred_output" or "non_preferred_output" list',
        'examples lack a non-empty "preferred_output" or "non_preferred_output" list',
    ),
    "preference_output_not_assistant": (
        "example has an output message whose role is not assistant",
        "examples have an output message whose role is not assistant",
    ),
    "message_data_type": ("message is not a JSON object", "messages are not JSON objects"),
    "message_missing_key": (
        'message lacks a "role" or "content" key',
        'messages lack a "role" or "content" key',
    ),
    "message_unrecognized_key": (
        "message has keys other than role, content, name, function_call, tool_calls, "
        "tool_call_id, weight",
        "messages have keys other than role, content, name, function_call, tool_calls, "
        "tool_call_id, weight",
    ),
    "unrecognized_role": (
        "message has a role other than system, user, assistant, tool or function",
        "messages have a role other than system, user, assistant, tool or function",
    ),
    "missing_content": ("message has no content", "messages have no content"),
    "example_missing_assistant_message": (
        "example has no assistant message",
        "examples have no assistant message",
    ),
}


@dataclass(frozen=True)
class FormatProblem:
    """One kind of format error, with how often it occurs and where it first does."""

    kind: str
    count: int
    first_lines: tuple[int, ...]
    message: str


@dataclass(frozen=True)
class DatasetStats:
    """What a training file costs to train on and what is wrong with it.

    Token figures cover only the examples that could be counted (``n_examples``): lines with
    invalid JSON, non-object examples, examples without messages or in the other format are
    reported in ``format_errors`` and left out.
    """

    format: Format
    encoding_name: str
    max_tokens_per_example: int
    n_examples: int
    n_lines: int
    total_tokens: int
    billing_tokens: int
    assistant_tokens: int
    truncated_examples: int
    truncated_lines: tuple[int, ...]
    min_tokens: int
    max_tokens: int
    mean_tokens: float
    p50_tokens: int
    p90_tokens: int
    token_lengths: tuple[int, ...] | None
    format_errors: tuple[FormatProblem, ...]
    warnings: tuple[str, ...]
    bytes_read: int

    @property
    def has_format_errors(self) -> bool:
        return bool(self.format_errors)

    def problem(self, kind: str) -> FormatProblem | None:
        """The reported problem of this kind, if any."""
        return next((p for p in self.format_errors if p.kind == kind), None)


class Tally:
    """Occurrences of one thing plus the first few distinct line numbers it occurred on."""

    __slots__ = ("count", "first_lines", "limit", "n_lines")

    def __init__(self, limit: int = FIRST_LINES) -> None:
        self.count = 0
        self.n_lines = 0
        self.limit = limit
        self.first_lines: list[int] = []

    def add(self, line: int) -> None:
        self.count += 1
        # Lines arrive in ascending order, so a repeat can only be the last one seen
        # (several bad messages on one line count once as a line).
        if self.first_lines and self.first_lines[-1] == line:
            return
        self.n_lines += 1
        if len(self.first_lines) < self.limit:
            self.first_lines.append(line)

    def absorb(self, other: Tally, line_offset: int) -> None:
        """Add ``other``'s occurrences, its lines shifted by ``line_offset``, keeping order."""
        self.count += other.count
        self.n_lines += other.n_lines
        merged = sorted(set(self.first_lines) | {n + line_offset for n in other.first_lines})
        self.first_lines = merged[: self.limit]


def lines_text(lines: list[int] | tuple[int, ...], n_lines: int) -> str:
    shown = ", ".join(str(n) for n in lines)
    more = f" and {n_lines - len(lines)} more" if n_lines > len(lines) else ""
    return f"{'line' if n_lines == 1 else 'lines'} {shown}{more}"


def format_problem(kind: str, tally: Tally, *, fmt: Format) -> FormatProblem:
    if kind == "mixed_formats":
        other = "prompt/completion" if fmt == "chat" else "chat"
        first = "chat" if fmt == "chat" else "prompt/completion"
        one = f"example is in the {other} format but the file's first example is {first}"
        many = f"examples are in the {other} format but the file's first example is {first}"
    else:
        one, many = _DESCRIPTIONS[kind]
    message = f"{tally.count} {one if tally.count == 1 else many}"
    message += f" ({lines_text(tally.first_lines, tally.n_lines)})"
    return FormatProblem(
        kind=kind, count=tally.count, first_lines=tuple(tally.first_lines), message=message
    )
