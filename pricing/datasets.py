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

The work is split by job: :mod:`pricing.dataset_format` (the format rules and the reported
statistics), :mod:`pricing.dataset_tokens` (per-example checks and token counting) and
:mod:`pricing.dataset_files` (streaming a file, in parallel byte ranges when large). This module
is the public face callers import.
"""

from __future__ import annotations

from pricing.dataset_files import (
    DEFAULT_MAX_LINE_BYTES,
    DEFAULT_PARALLEL_THRESHOLD_BYTES,
    DEFAULT_RANGE_BYTES,
    analyse_training_file,
)
from pricing.dataset_format import DatasetStats, FormatProblem
from pricing.dataset_methods import METHODS, Method
from pricing.dataset_tokens import MIN_EXAMPLES, analyse_lines

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "DEFAULT_PARALLEL_THRESHOLD_BYTES",
    "DEFAULT_RANGE_BYTES",
    "METHODS",
    "MIN_EXAMPLES",
    "DatasetStats",
    "FormatProblem",
    "Method",
    "analyse_lines",
    "analyse_training_file",
]
