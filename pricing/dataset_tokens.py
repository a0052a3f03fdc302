"""Per-example token counting: each line checked against the format rules and counted with
tiktoken, merged into a file's statistics.

The same token counting as :func:`pricing.tokens.count_chat_tokens` and the same billing rule
(each example billed at ``min(length, max_tokens_per_example)``). Memory stays bounded: per-example
lengths are kept only for small files (``_MAX_TOKEN_LENGTHS``) and percentiles come from a
histogram of lengths. A :class:`Partial` is what one run of consecutive lines taught; partials of
consecutive byte ranges merge in file order (:mod:`pricing.dataset_files`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

import tiktoken

from pricing.dataset_format import (
    ALLOWED_MESSAGE_KEYS,
    CALL_KEYS,
    KIND_ORDER,
    NO_FORMAT,
    REINFORCEMENT_ROLES,
    ROLES,
    SUPERVISED_FORMATS,
    DatasetStats,
    Format,
    Tally,
    format_problem,
    lines_text,
)
from pricing.dataset_methods import (
    METHODS,
    PREFERENCE_BILLING_ASSUMPTION,
    REINFORCEMENT_BILLING_NOTE,
    Method,
    check_preference,
    check_reinforcement,
)
from pricing.errors import DatasetError
from pricing.estimate import MIN_EXAMPLES_TO_LAUNCH, too_few_examples_warning
from pricing.tokens import ENCODING_NAMES, get_encoding, message_tokens

MIN_EXAMPLES = MIN_EXAMPLES_TO_LAUNCH
"""OpenAI refuses to start a fine-tuning job on fewer examples than this."""

_MAX_TOKEN_LENGTHS = 10_000
_FIRST_TRUNCATED = 20
BOM = b"\xef\xbb\xbf"
_SYSTEM_CACHE_SIZE = 64


class _Lengths:
    """Token statistics of the examples of one format."""

    __slots__ = (
        "assistant",
        "billing",
        "hist",
        "lengths",
        "max",
        "min",
        "n",
        "total",
        "truncated",
    )

    def __init__(self) -> None:
        self.n = 0
        self.total = 0
        self.billing = 0
        self.assistant = 0
        self.min = 0
        self.max = 0
        self.truncated = Tally(_FIRST_TRUNCATED)
        # length -> count; bounded by the longest example, so percentiles on any file size.
        self.hist: dict[int, int] = {}
        self.lengths: list[int] | None = []

    def add(self, line: int, length: int, assistant: int, cap: int) -> None:
        if self.n == 0 or length < self.min:
            self.min = length
        if length > self.max:
            self.max = length
        self.n += 1
        self.total += length
        self.assistant += assistant
        if length > cap:
            self.billing += cap
            self.truncated.add(line)
        else:
            self.billing += length
        self.hist[length] = self.hist.get(length, 0) + 1
        if self.lengths is not None:
            if len(self.lengths) < _MAX_TOKEN_LENGTHS:
                self.lengths.append(length)
            else:
                self.lengths = None

    def absorb(self, other: _Lengths, line_offset: int) -> None:
        if other.n == 0:
            return
        self.min = other.min if self.n == 0 else min(self.min, other.min)
        self.max = max(self.max, other.max)
        self.n += other.n
        self.total += other.total
        self.billing += other.billing
        self.assistant += other.assistant
        self.truncated.absorb(other.truncated, line_offset)
        for length, count in other.hist.items():
            self.hist[length] = self.hist.get(length, 0) + count
        if self.lengths is not None and other.lengths is not None and self.n <= _MAX_TOKEN_LENGTHS:
            self.lengths.extend(other.lengths)
        else:
            self.lengths = None

    def percentile(self, p: float) -> int:
        """Nearest-rank percentile from the histogram (an actual example length)."""
        if self.n == 0:
            return 0
        rank = max(1, math.ceil(p / 100 * self.n))
        seen = 0
        for length in sorted(self.hist):
            seen += self.hist[length]
            if seen >= rank:
                return length
        return self.max  # pragma: no cover - rank <= n guarantees a return above


class Partial:
    """Everything learned from a run of consecutive lines; picklable, small, mergeable."""

    __slots__ = ("blank", "by_format", "bytes_read", "errors", "first_format", "n_lines", "styles")

    def __init__(self) -> None:
        self.n_lines = 0
        self.blank = 0
        self.bytes_read = 0
        self.errors: dict[str, Tally] = {}
        formats = ("chat", "completion", "preference", "reinforcement")
        self.styles: dict[str, _Lengths] = {fmt: _Lengths() for fmt in formats}
        # every example that declares a format, counted or not: the basis of mixed_formats
        self.by_format: dict[str, Tally] = {fmt: Tally() for fmt in formats}
        self.first_format: tuple[int, Format] | None = None

    def error(self, kind: str, line: int) -> None:
        tally = self.errors.get(kind)
        if tally is None:
            tally = self.errors[kind] = Tally()
        tally.add(line)

    def absorb(self, other: Partial) -> None:
        """Append ``other``, which covers the lines right after the ones seen so far."""
        offset = self.n_lines
        if self.first_format is None and other.first_format is not None:
            line, fmt = other.first_format
            self.first_format = (line + offset, fmt)
        for kind, tally in other.errors.items():
            self.errors.setdefault(kind, Tally()).absorb(tally, offset)
        for name, lengths in self.styles.items():
            lengths.absorb(other.styles[name], offset)
            self.by_format[name].absorb(other.by_format[name], offset)
        self.n_lines += other.n_lines
        self.blank += other.blank
        self.bytes_read += other.bytes_read


class Analyser:
    """Feeds lines one at a time into a :class:`Partial`."""

    def __init__(
        self, encoding: tiktoken.Encoding, cap: int, method: Method = "supervised"
    ) -> None:
        self.encoding = encoding
        self.cap = cap
        self.method = method
        self.roles = REINFORCEMENT_ROLES if method == "reinforcement" else ROLES
        self.partial = Partial()
        self._role_tokens = {
            role: len(encoding.encode(role, disallowed_special=())) for role in self.roles
        }
        self._system_cache: dict[str, int] = {}

    def too_long(self, n_bytes: int) -> None:
        part = self.partial
        part.n_lines += 1
        part.bytes_read += n_bytes
        part.error("line_too_long", part.n_lines)

    def feed(self, raw: bytes) -> None:
        part = self.partial
        part.n_lines += 1
        part.bytes_read += len(raw)
        line = part.n_lines
        if not raw.strip():
            part.blank += 1
            part.error("blank_line", line)
            return
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            part.error("invalid_utf8", line)
            return
        try:
            example = json.loads(text)
        except (ValueError, RecursionError):
            # RecursionError: deeply nested arrays are valid JSON the stdlib cannot parse.
            part.error("invalid_json", line)
            return
        if not isinstance(example, dict):
            part.error("data_type", line)
            return
        fmt: Format
        if self.method == "preference":
            fmt = "preference"
            counted = check_preference(example, line, messages=self._messages, error=part.error)
        elif self.method == "reinforcement":
            fmt = "reinforcement"
            counted = check_reinforcement(example, line, messages=self._messages, error=part.error)
        elif "messages" in example:
            fmt = "chat"
            counted = self._chat(example, line)
        elif "prompt" in example or "completion" in example:
            fmt = "completion"
            counted = self._completion(example, line)
        else:
            # Which error this is depends on the file's format, known only after merging.
            part.error(NO_FORMAT, line)
            return
        part.by_format[fmt].add(line)
        if part.first_format is None:
            part.first_format = (line, fmt)
        if counted is not None:
            part.styles[fmt].add(line, counted[0], counted[1], self.cap)

    def _chat(self, example: dict[str, object], line: int) -> tuple[int, int] | None:
        messages = example["messages"]
        if not messages or not isinstance(messages, list):
            self.partial.error("missing_messages_list", line)
            return None
        total, assistant, has_assistant = self._messages(messages, line)
        if not has_assistant:
            self.partial.error("example_missing_assistant_message", line)
        return 3 + total, assistant

    def _messages(self, messages: list[object], line: int) -> tuple[int, int, bool]:
        """Check each message; (tokens without the priming, assistant tokens, has assistant)."""
        part = self.partial
        roles = self.roles
        total = 0
        assistant = 0
        has_assistant = False
        for message in messages:
            if not isinstance(message, dict):
                part.error("message_data_type", line)
                continue
            role = message.get("role")
            if not isinstance(role, str):
                role = None  # a list or object here must not reach the set lookups below
            content = message.get("content")
            calls = role == "assistant" and any(message.get(k) for k in CALL_KEYS)
            if "role" not in message or ("content" not in message and not calls):
                part.error("message_missing_key", line)
            if not message.keys() <= ALLOWED_MESSAGE_KEYS:
                part.error("message_unrecognized_key", line)
            if role not in roles:
                part.error("unrecognized_role", line)
            if calls:
                if content is not None and not isinstance(content, str):
                    part.error("missing_content", line)
            elif not content or not isinstance(content, str):
                part.error("missing_content", line)
            if len(message) == 2 and isinstance(content, str) and role in roles:
                # The overwhelmingly common {"role", "content"} message, counted exactly as
                # message_tokens would (tests check they agree) minus its per-key dispatch.
                content_tokens = self._content_tokens(content, role)
                total += 3 + self._role_tokens[role] + content_tokens
            else:
                n, content_tokens = message_tokens(message, self.encoding)
                total += n
            if role == "assistant":
                has_assistant = True
                assistant += content_tokens
        return total, assistant, has_assistant

    def _content_tokens(self, content: str, role: object) -> int:
        if role == "system":
            # Datasets usually repeat one system prompt in every example; count it once.
            n = self._system_cache.get(content)
            if n is None:
                n = len(self.encoding.encode(content, disallowed_special=()))
                if len(self._system_cache) < _SYSTEM_CACHE_SIZE and len(content) <= 65_536:
                    self._system_cache[content] = n
            return n
        return len(self.encoding.encode(content, disallowed_special=()))

    def _completion(self, example: dict[str, object], line: int) -> tuple[int, int] | None:
        prompt = example.get("prompt")
        completion = example.get("completion")
        if not isinstance(prompt, str) or not isinstance(completion, str):
            self.partial.error("missing_prompt_or_completion", line)
            return None
        completion_tokens = len(self.encoding.encode(completion, disallowed_special=()))
        prompt_tokens = len(self.encoding.encode(prompt, disallowed_special=()))
        return prompt_tokens + completion_tokens, completion_tokens


def method_format(method: Method) -> Format:
    return "chat" if method == "supervised" else method


def finish(
    part: Partial, *, encoding_name: str, cap: int, method: Method = "supervised"
) -> DatasetStats:
    if part.n_lines == part.blank:
        raise DatasetError("the training file is empty: it has no non-blank lines")
    fmt: Format = part.first_format[1] if part.first_format else method_format(method)
    errors = dict(part.errors)
    if fmt in SUPERVISED_FORMATS:
        other: Format = "completion" if fmt == "chat" else "chat"
        unformatted = errors.pop(NO_FORMAT, None)
        if unformatted is not None:
            kind = "missing_messages_list" if fmt == "chat" else "missing_prompt_or_completion"
            errors.setdefault(kind, Tally()).absorb(unformatted, 0)
        if part.by_format[other].count:
            errors["mixed_formats"] = part.by_format[other]
    problems = tuple(
        format_problem(kind, errors[kind], fmt=fmt) for kind in KIND_ORDER if kind in errors
    )

    stats = part.styles[fmt]
    warnings: list[str] = []
    if stats.truncated.count:
        noun = "example is" if stats.truncated.count == 1 else "examples are"
        warnings.append(
            f"{stats.truncated.count} {noun} longer than the {cap:,}-token limit and will be "
            f"truncated; each is billed at {cap:,} tokens "
            f"({lines_text(stats.truncated.first_lines, stats.truncated.n_lines)})"
        )
    left_out = part.n_lines - part.blank - stats.n
    if left_out:
        noun = "line was" if left_out == 1 else "lines were"
        warnings.append(f"{left_out} {noun} left out of the token counts because of format errors")
    if stats.n < MIN_EXAMPLES:
        warnings.append(too_few_examples_warning(stats.n))
    if fmt == "preference":
        warnings.append(PREFERENCE_BILLING_ASSUMPTION)
    elif fmt == "reinforcement":
        warnings.append(REINFORCEMENT_BILLING_NOTE)
    return DatasetStats(
        format=fmt,
        encoding_name=encoding_name,
        max_tokens_per_example=cap,
        n_examples=stats.n,
        n_lines=part.n_lines,
        total_tokens=stats.total,
        billing_tokens=stats.billing,
        assistant_tokens=stats.assistant,
        truncated_examples=stats.truncated.count,
        truncated_lines=tuple(stats.truncated.first_lines),
        min_tokens=stats.min,
        max_tokens=stats.max,
        mean_tokens=stats.total / stats.n if stats.n else 0.0,
        p50_tokens=stats.percentile(50),
        p90_tokens=stats.percentile(90),
        token_lengths=tuple(stats.lengths) if stats.lengths is not None else None,
        format_errors=problems,
        warnings=tuple(warnings),
        bytes_read=part.bytes_read,
    )


def check_args(encoding_name: str, max_tokens_per_example: int, method: str = "supervised") -> None:
    if encoding_name not in ENCODING_NAMES:
        raise ValueError(
            f"unknown encoding {encoding_name!r}; shipped encodings: {', '.join(ENCODING_NAMES)}"
        )
    if max_tokens_per_example < 1:
        raise ValueError("max_tokens_per_example must be at least 1")
    if method not in METHODS:
        raise ValueError(f"unknown fine-tuning method {method!r}; known: {', '.join(METHODS)}")


def analyse_lines(
    lines: Iterable[bytes],
    *,
    encoding_name: str,
    max_tokens_per_example: int,
    method: Method = "supervised",
) -> DatasetStats:
    """Analyse JSONL lines already in memory, one item per line (trailing newline optional).

    For small inputs and tests; files go through :func:`analyse_training_file`, which streams.
    Raises :class:`DatasetError` when there is no non-blank line.
    """
    check_args(encoding_name, max_tokens_per_example, method)
    analyser = Analyser(get_encoding(encoding_name), max_tokens_per_example, method)
    for index, raw in enumerate(lines):
        if index == 0 and raw.startswith(BOM):
            analyser.partial.bytes_read += len(BOM)
            raw = raw[len(BOM) :]
        analyser.feed(raw)
    return finish(
        analyser.partial, encoding_name=encoding_name, cap=max_tokens_per_example, method=method
    )
