"""Streaming validation and token statistics of a JSONL fine-tuning file.

Follows the OpenAI cookbook "Data preparation and analysis for chat model fine-tuning": the
same format checks (counted per kind, here with line numbers), the same token counting
(:func:`pricing.tokens.count_chat_tokens`) and the same billing rule (each example billed at
``min(length, max_tokens_per_example)``).

Memory stays bounded whatever the file size: lines are streamed one at a time, per-example
lengths are kept only for small files (``_MAX_TOKEN_LENGTHS``) and percentiles come from a
histogram of lengths. Files of ``parallel_threshold_bytes`` or more are split into byte
ranges aligned on newlines and analysed in a process pool (tiktoken's thread-based
``encode_batch`` measured slower than a plain loop on 2-core machines); each range reports
line numbers relative to itself, and ranges are merged in file order, which makes them global.
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import BinaryIO, Literal

import tiktoken

from pricing.errors import DatasetError
from pricing.estimate import MIN_EXAMPLES_TO_LAUNCH, too_few_examples_warning
from pricing.tokens import ENCODING_NAMES, get_encoding, message_tokens

__all__ = [
    "MIN_EXAMPLES",
    "DatasetStats",
    "FormatProblem",
    "analyse_lines",
    "analyse_training_file",
]

logger = logging.getLogger(__name__)

MIN_EXAMPLES = MIN_EXAMPLES_TO_LAUNCH
"""OpenAI refuses to start a fine-tuning job on fewer examples than this."""

_MAX_TOKEN_LENGTHS = 10_000
_FIRST_LINES = 10
_FIRST_TRUNCATED = 20
# No model's context comes near this many bytes per example; refusing longer lines keeps one
# pathological line (a 1 GB file without newlines) from being read into memory whole.
DEFAULT_MAX_LINE_BYTES = 32 * 1024 * 1024
DEFAULT_PARALLEL_THRESHOLD_BYTES = 8 * 1024 * 1024
DEFAULT_RANGE_BYTES = 2 * 1024 * 1024
_PROGRESS_EVERY_BYTES = 4 * 1024 * 1024
_BOM = b"\xef\xbb\xbf"

_ALLOWED_MESSAGE_KEYS = frozenset(
    {"role", "content", "name", "function_call", "tool_calls", "tool_call_id", "weight"}
)
# An assistant message that calls a function or tools may leave out its content (OpenAI's
# function-calling fine-tuning format); every other message needs non-empty text.
_CALL_KEYS = ("function_call", "tool_calls")
_ROLES = frozenset({"system", "user", "assistant", "function", "tool"})
_SYSTEM_CACHE_SIZE = 64

Format = Literal["chat", "completion"]
_NO_FORMAT = "_no_format_keys"  # an object with neither "messages" nor "prompt"/"completion"

# Problems are reported in this order: whole-line problems first, then example-level, then
# message-level, so the first thing a user reads is the thing to fix first.
_KIND_ORDER = (
    "invalid_utf8",
    "invalid_json",
    "line_too_long",
    "blank_line",
    "data_type",
    "mixed_formats",
    "missing_messages_list",
    "missing_prompt_or_completion",
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


class _Tally:
    """Occurrences of one thing plus the first few distinct line numbers it occurred on."""

    __slots__ = ("count", "first_lines", "limit", "n_lines")

    def __init__(self, limit: int = _FIRST_LINES) -> None:
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

    def absorb(self, other: _Tally, line_offset: int) -> None:
        """Add ``other``'s occurrences, its lines shifted by ``line_offset``, keeping order."""
        self.count += other.count
        self.n_lines += other.n_lines
        merged = sorted(set(self.first_lines) | {n + line_offset for n in other.first_lines})
        self.first_lines = merged[: self.limit]


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
        self.truncated = _Tally(_FIRST_TRUNCATED)
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


class _Partial:
    """Everything learned from a run of consecutive lines; picklable, small, mergeable."""

    __slots__ = ("blank", "by_format", "bytes_read", "errors", "first_format", "n_lines", "styles")

    def __init__(self) -> None:
        self.n_lines = 0
        self.blank = 0
        self.bytes_read = 0
        self.errors: dict[str, _Tally] = {}
        self.styles: dict[str, _Lengths] = {"chat": _Lengths(), "completion": _Lengths()}
        # every example that declares a format, counted or not: the basis of mixed_formats
        self.by_format: dict[str, _Tally] = {"chat": _Tally(), "completion": _Tally()}
        self.first_format: tuple[int, Format] | None = None

    def error(self, kind: str, line: int) -> None:
        tally = self.errors.get(kind)
        if tally is None:
            tally = self.errors[kind] = _Tally()
        tally.add(line)

    def absorb(self, other: _Partial) -> None:
        """Append ``other``, which covers the lines right after the ones seen so far."""
        offset = self.n_lines
        if self.first_format is None and other.first_format is not None:
            line, fmt = other.first_format
            self.first_format = (line + offset, fmt)
        for kind, tally in other.errors.items():
            self.errors.setdefault(kind, _Tally()).absorb(tally, offset)
        for fmt in ("chat", "completion"):
            self.styles[fmt].absorb(other.styles[fmt], offset)
            self.by_format[fmt].absorb(other.by_format[fmt], offset)
        self.n_lines += other.n_lines
        self.blank += other.blank
        self.bytes_read += other.bytes_read


class _Analyser:
    """Feeds lines one at a time into a :class:`_Partial`."""

    def __init__(self, encoding: tiktoken.Encoding, cap: int) -> None:
        self.encoding = encoding
        self.cap = cap
        self.partial = _Partial()
        self._role_tokens = {
            role: len(encoding.encode(role, disallowed_special=())) for role in _ROLES
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
        if "messages" in example:
            fmt = "chat"
            counted = self._chat(example, line)
        elif "prompt" in example or "completion" in example:
            fmt = "completion"
            counted = self._completion(example, line)
        else:
            # Which error this is depends on the file's format, known only after merging.
            part.error(_NO_FORMAT, line)
            return
        part.by_format[fmt].add(line)
        if part.first_format is None:
            part.first_format = (line, fmt)
        if counted is not None:
            part.styles[fmt].add(line, counted[0], counted[1], self.cap)

    def _chat(self, example: dict[str, object], line: int) -> tuple[int, int] | None:
        part = self.partial
        messages = example["messages"]
        if not messages or not isinstance(messages, list):
            part.error("missing_messages_list", line)
            return None
        total = 3
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
            calls = role == "assistant" and any(message.get(k) for k in _CALL_KEYS)
            if "role" not in message or ("content" not in message and not calls):
                part.error("message_missing_key", line)
            if not message.keys() <= _ALLOWED_MESSAGE_KEYS:
                part.error("message_unrecognized_key", line)
            if role not in _ROLES:
                part.error("unrecognized_role", line)
            if calls:
                if content is not None and not isinstance(content, str):
                    part.error("missing_content", line)
            elif not content or not isinstance(content, str):
                part.error("missing_content", line)
            if len(message) == 2 and isinstance(content, str) and role in _ROLES:
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
        if not has_assistant:
            part.error("example_missing_assistant_message", line)
        return total, assistant

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


def _lines_text(lines: list[int] | tuple[int, ...], n_lines: int) -> str:
    shown = ", ".join(str(n) for n in lines)
    more = f" and {n_lines - len(lines)} more" if n_lines > len(lines) else ""
    return f"{'line' if n_lines == 1 else 'lines'} {shown}{more}"


def _problem(kind: str, tally: _Tally, *, fmt: Format) -> FormatProblem:
    if kind == "mixed_formats":
        other = "prompt/completion" if fmt == "chat" else "chat"
        first = "chat" if fmt == "chat" else "prompt/completion"
        one = f"example is in the {other} format but the file's first example is {first}"
        many = f"examples are in the {other} format but the file's first example is {first}"
    else:
        one, many = _DESCRIPTIONS[kind]
    message = f"{tally.count} {one if tally.count == 1 else many}"
    message += f" ({_lines_text(tally.first_lines, tally.n_lines)})"
    return FormatProblem(
        kind=kind, count=tally.count, first_lines=tuple(tally.first_lines), message=message
    )


def _finish(part: _Partial, *, encoding_name: str, cap: int) -> DatasetStats:
    if part.n_lines == part.blank:
        raise DatasetError("the training file is empty: it has no non-blank lines")
    fmt: Format = part.first_format[1] if part.first_format else "chat"
    other: Format = "completion" if fmt == "chat" else "chat"
    errors = dict(part.errors)
    unformatted = errors.pop(_NO_FORMAT, None)
    if unformatted is not None:
        kind = "missing_messages_list" if fmt == "chat" else "missing_prompt_or_completion"
        errors.setdefault(kind, _Tally()).absorb(unformatted, 0)
    if part.by_format[other].count:
        errors["mixed_formats"] = part.by_format[other]
    problems = tuple(
        _problem(kind, errors[kind], fmt=fmt) for kind in _KIND_ORDER if kind in errors
    )

    stats = part.styles[fmt]
    warnings: list[str] = []
    if stats.truncated.count:
        noun = "example is" if stats.truncated.count == 1 else "examples are"
        warnings.append(
            f"{stats.truncated.count} {noun} longer than the {cap:,}-token limit and will be "
            f"truncated; each is billed at {cap:,} tokens "
            f"({_lines_text(stats.truncated.first_lines, stats.truncated.n_lines)})"
        )
    left_out = part.n_lines - part.blank - stats.n
    if left_out:
        noun = "line was" if left_out == 1 else "lines were"
        warnings.append(f"{left_out} {noun} left out of the token counts because of format errors")
    if stats.n < MIN_EXAMPLES:
        warnings.append(too_few_examples_warning(stats.n))
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


def _check_args(encoding_name: str, max_tokens_per_example: int) -> None:
    if encoding_name not in ENCODING_NAMES:
        raise ValueError(
            f"unknown encoding {encoding_name!r}; shipped encodings: {', '.join(ENCODING_NAMES)}"
        )
    if max_tokens_per_example < 1:
        raise ValueError("max_tokens_per_example must be at least 1")


def analyse_lines(
    lines: Iterable[bytes], *, encoding_name: str, max_tokens_per_example: int
) -> DatasetStats:
    """Analyse JSONL lines already in memory, one item per line (trailing newline optional).

    For small inputs and tests; files go through :func:`analyse_training_file`, which streams.
    Raises :class:`DatasetError` when there is no non-blank line.
    """
    _check_args(encoding_name, max_tokens_per_example)
    analyser = _Analyser(get_encoding(encoding_name), max_tokens_per_example)
    for index, raw in enumerate(lines):
        if index == 0 and raw.startswith(_BOM):
            analyser.partial.bytes_read += len(_BOM)
            raw = raw[len(_BOM) :]
        analyser.feed(raw)
    return _finish(analyser.partial, encoding_name=encoding_name, cap=max_tokens_per_example)


def _read_lines(f: BinaryIO, n_bytes: int, max_line_bytes: int) -> Iterator[bytes | int]:
    """The lines in the next ``n_bytes`` of ``f``; a line over ``max_line_bytes`` comes out as
    its length (an int), skipped without ever being held in memory."""
    remaining = n_bytes
    while remaining > 0:
        raw = f.readline(max_line_bytes + 1)
        if not raw:
            return  # the file shrank under us; report what was there
        remaining -= len(raw)
        if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
            skipped = len(raw)
            while True:
                chunk = f.readline(1024 * 1024)
                skipped += len(chunk)
                remaining -= len(chunk)
                if not chunk or chunk.endswith(b"\n"):
                    break
            yield skipped
        else:
            yield raw


def _analyse_range(
    path: str,
    start: int,
    end: int,
    encoding_name: str,
    cap: int,
    max_line_bytes: int,
    progress: Callable[[int], None] | None = None,
) -> _Partial:
    """Analyse bytes [start, end) of ``path``; both must be line starts (or end of file)."""
    analyser = _Analyser(get_encoding(encoding_name), cap)
    reported = 0
    with open(path, "rb") as f:
        f.seek(start)
        first = start == 0
        for raw in _read_lines(f, end - start, max_line_bytes):
            if isinstance(raw, int):
                analyser.too_long(raw)
            else:
                if first and raw.startswith(_BOM):
                    analyser.partial.bytes_read += len(_BOM)
                    raw = raw[len(_BOM) :]
                analyser.feed(raw)
            first = False
            done = analyser.partial.bytes_read
            if progress is not None and done - reported >= _PROGRESS_EVERY_BYTES:
                reported = done
                progress(done)
    return analyser.partial


def _next_line_start(f: BinaryIO, pos: int) -> int:
    """The first offset >= ``pos`` at which a line starts (the file size if none does)."""
    if pos == 0:
        return 0
    f.seek(pos - 1)
    if f.read(1) == b"\n":
        return pos
    while True:
        chunk = f.readline(1024 * 1024)
        if not chunk or chunk.endswith(b"\n"):
            return f.tell()


def _split(path: str, size: int, n_ranges: int) -> list[tuple[int, int]]:
    with open(path, "rb") as f:
        cuts = sorted({_next_line_start(f, size * i // n_ranges) for i in range(n_ranges)})
    ends = [*cuts[1:], size]
    return [(s, min(e, size)) for s, e in zip(cuts, ends, strict=True) if s < min(e, size)]


def _default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _mp_context() -> multiprocessing.context.BaseContext:
    # The service calls this from worker threads; forking a threaded process can deadlock on
    # locks held by other threads, so start workers from a clean forkserver (spawn elsewhere).
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method)


def _analyse_parallel(
    path: str,
    size: int,
    *,
    encoding_name: str,
    cap: int,
    workers: int,
    range_bytes: int,
    max_line_bytes: int,
    progress: Callable[[int, int], None] | None,
) -> _Partial:
    # Several ranges per worker so the last straggler is short and progress moves steadily.
    n_ranges = max(4 * workers, math.ceil(size / range_bytes))
    ranges = _split(path, size, n_ranges)
    n_procs = min(workers, len(ranges))
    logger.debug(
        "analysing %s: %s bytes in %s ranges on %s processes", path, size, len(ranges), n_procs
    )
    merged = _Partial()
    finished: dict[int, _Partial] = {}
    pending: dict[Future[_Partial], int] = {}
    todo = iter(enumerate(ranges))
    next_to_merge = 0
    done_bytes = 0
    # Bounds the results held while waiting for an earlier range (memory stays flat).
    window = 4 * n_procs
    # No pool initializer: an error there (a tampered tokenizer file) would surface only as
    # BrokenProcessPool, while raised inside a task it reaches the caller as itself.
    with ProcessPoolExecutor(max_workers=n_procs, mp_context=_mp_context()) as pool:
        try:
            while True:
                while len(pending) + len(finished) < window:
                    item = next(todo, None)
                    if item is None:
                        break
                    index, (start, end) = item
                    future = pool.submit(
                        _analyse_range, path, start, end, encoding_name, cap, max_line_bytes
                    )
                    pending[future] = index
                if not pending:
                    break
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    index = pending.pop(future)
                    part = future.result()
                    finished[index] = part
                    start, end = ranges[index]
                    done_bytes += end - start
                    if progress is not None:
                        progress(done_bytes, size)
                while next_to_merge in finished:
                    merged.absorb(finished.pop(next_to_merge))
                    next_to_merge += 1
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return merged


def analyse_training_file(
    path: str | os.PathLike[str],
    *,
    encoding_name: str,
    max_tokens_per_example: int,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    parallel_threshold_bytes: int = DEFAULT_PARALLEL_THRESHOLD_BYTES,
    range_bytes: int = DEFAULT_RANGE_BYTES,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> DatasetStats:
    """Validate a JSONL training file and count its tokens, streaming it in bounded memory.

    ``workers`` defaults to the usable CPUs; files smaller than ``parallel_threshold_bytes``
    (or ``workers=1``) are analysed in this process. ``progress(bytes_done, bytes_total)`` is
    called as the work advances and once at the end. Raises :class:`DatasetError` if the file
    is missing, unreadable or empty; format problems are reported in the result, not raised.
    """
    _check_args(encoding_name, max_tokens_per_example)
    if range_bytes < 1 or max_line_bytes < 1:
        raise ValueError("range_bytes and max_line_bytes must be positive")
    name = os.fspath(path)
    try:
        info = os.stat(name)
    except FileNotFoundError:
        raise DatasetError(f"training file not found: {name}") from None
    except OSError as exc:
        raise DatasetError(f"cannot read training file {name}: {exc}") from exc
    if stat.S_ISDIR(info.st_mode):
        raise DatasetError(f"training file is a directory: {name}")
    size = info.st_size
    if size == 0:
        raise DatasetError(f"the training file is empty: {name}")
    n_workers = workers if workers is not None else _default_workers()
    if n_workers < 1:
        raise ValueError("workers must be at least 1")

    try:
        if n_workers > 1 and size >= parallel_threshold_bytes:
            part = _analyse_parallel(
                name,
                size,
                encoding_name=encoding_name,
                cap=max_tokens_per_example,
                workers=n_workers,
                range_bytes=range_bytes,
                max_line_bytes=max_line_bytes,
                progress=progress,
            )
        else:
            report = None if progress is None else (lambda done: progress(done, size))
            part = _analyse_range(
                name, 0, size, encoding_name, max_tokens_per_example, max_line_bytes, report
            )
            if progress is not None:
                progress(size, size)
    except OSError as exc:
        raise DatasetError(f"cannot read training file {name}: {exc}") from exc
    return _finish(part, encoding_name=encoding_name, cap=max_tokens_per_example)
