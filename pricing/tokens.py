"""Offline tiktoken: the shipped BPE rank files, checked against their official sha256.

tiktoken's own ``get_encoding`` downloads the rank files on first use and caches them in a
temp directory; a pricing library must not reach the network, so the files ship inside this
package and the :class:`tiktoken.Encoding` is built here from them. The regex patterns and
special-token ids are the ones ``tiktoken_ext.openai_public`` uses for the same encodings,
so token counts are identical to ``tiktoken.get_encoding(name)``.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import tiktoken

from pricing.errors import TokenizerIntegrityError

__all__ = [
    "ENCODING_NAMES",
    "count_chat_tokens",
    "count_text_tokens",
    "get_encoding",
    "message_tokens",
    "verify_encodings",
]

logger = logging.getLogger(__name__)

ENDOFTEXT = "<|endoftext|>"
FIM_PREFIX = "<|fim_prefix|>"
FIM_MIDDLE = "<|fim_middle|>"
FIM_SUFFIX = "<|fim_suffix|>"
ENDOFPROMPT = "<|endofprompt|>"

_CL100K_PAT = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)

_O200K_PAT = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)


@dataclass(frozen=True)
class _Spec:
    sha256: str
    pat_str: str
    special_tokens: Mapping[str, int]
    n_ranks: int


_SPECS: dict[str, _Spec] = {
    "cl100k_base": _Spec(
        sha256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        pat_str=_CL100K_PAT,
        special_tokens={
            ENDOFTEXT: 100257,
            FIM_PREFIX: 100258,
            FIM_MIDDLE: 100259,
            FIM_SUFFIX: 100260,
            ENDOFPROMPT: 100276,
        },
        n_ranks=100256,
    ),
    "o200k_base": _Spec(
        sha256="446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        pat_str=_O200K_PAT,
        special_tokens={ENDOFTEXT: 199999, ENDOFPROMPT: 200018},
        n_ranks=199998,
    ),
}

ENCODING_NAMES: tuple[str, ...] = tuple(_SPECS)

# Keys whose values are not text the model sees: "weight" is a fine-tuning directive (0 or 1).
_NON_TEXT_KEYS = frozenset({"weight"})

_cache: dict[tuple[str, str | None], tiktoken.Encoding] = {}
# Building an encoding takes a few hundred ms and ~50-100 MB; the lock stops concurrent
# first callers (service threads) from each building their own copy.
_cache_lock = threading.Lock()


def _spec(name: str) -> _Spec:
    try:
        return _SPECS[name]
    except KeyError:
        raise ValueError(
            f"unknown encoding {name!r}; shipped encodings: {', '.join(ENCODING_NAMES)}"
        ) from None


def _read_verified(name: str, data_dir: str | os.PathLike[str] | None) -> bytes:
    """The rank file's bytes, refused unless they hash to the official sha256."""
    spec = _spec(name)
    filename = f"{name}.tiktoken"
    try:
        if data_dir is None:
            data = (resources.files("pricing") / "data" / "encodings" / filename).read_bytes()
        else:
            data = (Path(data_dir) / filename).read_bytes()
    except OSError as exc:
        raise TokenizerIntegrityError(f"tokenizer file {filename} is unreadable: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec.sha256:
        raise TokenizerIntegrityError(
            f"tokenizer file {filename} has sha256 {digest}, expected {spec.sha256}; "
            "refusing to count tokens with a modified vocabulary"
        )
    return data


def _parse_ranks(name: str, data: bytes) -> dict[bytes, int]:
    # "<base64 token> <rank>" per line. Whole-buffer split + map runs about twice as fast as
    # a per-line loop, which matters because every pool worker parses the file on start-up.
    fields = data.split()
    try:
        ranks = dict(
            zip(
                map(binascii.a2b_base64, fields[0::2]),
                map(int, fields[1::2]),
                strict=True,
            )
        )
    except (ValueError, binascii.Error) as exc:
        # Unreachable with the official hash, but a clear error beats a tiktoken panic.
        raise TokenizerIntegrityError(f"tokenizer file {name}.tiktoken is malformed") from exc
    if len(ranks) != _SPECS[name].n_ranks:
        raise TokenizerIntegrityError(
            f"tokenizer file {name}.tiktoken has {len(ranks)} ranks, "
            f"expected {_SPECS[name].n_ranks}"
        )
    return ranks


def get_encoding(name: str, *, data_dir: str | os.PathLike[str] | None = None) -> tiktoken.Encoding:
    """The tiktoken encoding ``name`` built from the shipped rank file, cached per process.

    ``data_dir`` replaces the package's ``data/encodings`` directory (tests point it at a
    tampered copy). Raises :class:`TokenizerIntegrityError` if the file is missing or its
    sha256 is not the official one, ``ValueError`` for an encoding that is not shipped.
    """
    key = (name, None if data_dir is None else os.fspath(data_dir))
    cached = _cache.get(key)
    if cached is not None:
        return cached
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            return cached
        spec = _spec(name)
        ranks = _parse_ranks(name, _read_verified(name, data_dir))
        encoding = tiktoken.Encoding(
            name,
            pat_str=spec.pat_str,
            mergeable_ranks=ranks,
            special_tokens=dict(spec.special_tokens),
        )
        _cache[key] = encoding
        logger.debug("built encoding %s from %s", name, key[1] or "package data")
        return encoding


def verify_encodings(*, data_dir: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Hash every shipped rank file; name -> sha256. Raises TokenizerIntegrityError on mismatch.

    Re-reads the files on each call (a few ms) so a readiness probe reports the disk as it is,
    not as it was when the process started.
    """
    return {
        name: hashlib.sha256(_read_verified(name, data_dir)).hexdigest() for name in ENCODING_NAMES
    }


def _resolve(encoding: tiktoken.Encoding | str) -> tiktoken.Encoding:
    return get_encoding(encoding) if isinstance(encoding, str) else encoding


def count_text_tokens(text: str, encoding: tiktoken.Encoding | str) -> int:
    """Tokens in ``text``; special-token strings such as ``<|endoftext|>`` count as plain text."""
    return len(_resolve(encoding).encode(text, disallowed_special=()))


# Roles repeat on every message; caching their (1-token) lengths saves a tiktoken call each.
_ROLE_CACHE: dict[tuple[str, str], int] = {}
_CACHEABLE_ROLES = frozenset({"system", "user", "assistant", "function", "tool", "developer"})


def _value_tokens(value: object, encoding: tiktoken.Encoding) -> int:
    if isinstance(value, str):
        return len(encoding.encode(value, disallowed_special=()))
    if value is None:
        return 0
    # function_call objects, content-part lists: the API sends them serialised, so count the
    # compact JSON rather than failing the way the cookbook's encode(value) would.
    return len(
        encoding.encode(
            json.dumps(value, ensure_ascii=False, separators=(",", ":")), disallowed_special=()
        )
    )


def message_tokens(message: Mapping[str, object], encoding: tiktoken.Encoding) -> tuple[int, int]:
    """(tokens this message adds to a conversation, tokens of its ``content`` alone).

    The building block of :func:`count_chat_tokens`; the dataset analysis uses it so that
    per-example totals and assistant-token counts come from a single encode per value.
    """
    total = 3
    content_tokens = 0
    for key, value in message.items():
        if key in _NON_TEXT_KEYS:
            continue
        if key == "role" and isinstance(value, str) and value in _CACHEABLE_ROLES:
            cache_key = (encoding.name, value)
            n = _ROLE_CACHE.get(cache_key)
            if n is None:
                n = _ROLE_CACHE[cache_key] = _value_tokens(value, encoding)
        else:
            n = _value_tokens(value, encoding)
            if key == "content":
                content_tokens = n
            elif key == "name":
                n += 1
        total += n
    return total, content_tokens


def count_chat_tokens(
    messages: Iterable[Mapping[str, object]], encoding: tiktoken.Encoding | str
) -> int:
    """Tokens of a chat conversation, counted the OpenAI cookbook way.

    3 per message, plus the tokens of every value, plus 1 per ``name`` key, plus 3 priming the
    reply. Like the cookbook this is an estimate of what the API bills, not an exact figure.
    Non-string values are counted as compact JSON, ``None`` as nothing, and ``weight`` (a
    training directive, never shown to the model) not at all.
    """
    enc = _resolve(encoding)
    return 3 + sum(message_tokens(message, enc)[0] for message in messages)
