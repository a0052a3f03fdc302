"""Reading a training file: streamed line by line, and for large files split into byte ranges
aligned on newlines and analysed in a process pool.

tiktoken's thread-based ``encode_batch`` measured slower than a plain loop on 2-core machines,
hence processes. Each range reports line numbers relative to itself, and ranges are merged in
file order, which makes them global.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import stat
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import BinaryIO

from pricing.dataset_format import DatasetStats
from pricing.dataset_methods import Method
from pricing.dataset_tokens import BOM, Analyser, Partial, check_args, finish
from pricing.errors import DatasetError
from pricing.tokens import get_encoding

logger = logging.getLogger(__name__)

# No model's context comes near this many bytes per example; refusing longer lines keeps one
# pathological line (a 1 GB file without newlines) from being read into memory whole.
DEFAULT_MAX_LINE_BYTES = 32 * 1024 * 1024
DEFAULT_PARALLEL_THRESHOLD_BYTES = 8 * 1024 * 1024
DEFAULT_RANGE_BYTES = 2 * 1024 * 1024
_PROGRESS_EVERY_BYTES = 4 * 1024 * 1024


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
    method: Method = "supervised",
) -> Partial:
    """Analyse bytes [start, end) of ``path``; both must be line starts (or end of file)."""
    analyser = Analyser(get_encoding(encoding_name), cap, method)
    reported = 0
    with open(path, "rb") as f:
        f.seek(start)
        first = start == 0
        for raw in _read_lines(f, end - start, max_line_bytes):
            if isinstance(raw, int):
                analyser.too_long(raw)
            else:
                if first and raw.startswith(BOM):
                    analyser.partial.bytes_read += len(BOM)
                    raw = raw[len(BOM) :]
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


def split_ranges(path: str, size: int, n_ranges: int) -> list[tuple[int, int]]:
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
    method: Method,
) -> Partial:
    # Several ranges per worker so the last straggler is short and progress moves steadily.
    n_ranges = max(4 * workers, math.ceil(size / range_bytes))
    ranges = split_ranges(path, size, n_ranges)
    n_procs = min(workers, len(ranges))
    logger.debug(
        "analysing %s: %s bytes in %s ranges on %s processes", path, size, len(ranges), n_procs
    )
    merged = Partial()
    finished: dict[int, Partial] = {}
    pending: dict[Future[Partial], int] = {}
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
                        _analyse_range,
                        path,
                        start,
                        end,
                        encoding_name,
                        cap,
                        max_line_bytes,
                        None,
                        method,
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
    method: Method = "supervised",
) -> DatasetStats:
    """Validate a JSONL training file and count its tokens, streaming it in bounded memory.

    ``method`` picks the file format: chat or prompt/completion for supervised, preference
    pairs for preference (DPO), prompt items for reinforcement.

    ``workers`` defaults to the usable CPUs; files smaller than ``parallel_threshold_bytes``
    (or ``workers=1``) are analysed in this process. ``progress(bytes_done, bytes_total)`` is
    called as the work advances and once at the end. Raises :class:`DatasetError` if the file
    is missing, unreadable or empty; format problems are reported in the result, not raised.
    """
    check_args(encoding_name, max_tokens_per_example, method)
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
                method=method,
            )
        else:
            report = None if progress is None else (lambda done: progress(done, size))
            part = _analyse_range(
                name,
                0,
                size,
                encoding_name,
                max_tokens_per_example,
                max_line_bytes,
                report,
                method,
            )
            if progress is not None:
                progress(size, size)
    except OSError as exc:
        raise DatasetError(f"cannot read training file {name}: {exc}") from exc
    return finish(part, encoding_name=encoding_name, cap=max_tokens_per_example, method=method)
