"""Validation errors in words: what is allowed, never a regex or one of pydantic's union branch
names (`n_epochs.constrained-int`, `literal['auto']`)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

# Loc segments pydantic adds for the branch of a union or a wrapped validator, not for a field.
_BRANCH = re.compile(
    r"^(int|str|float|bool|bytes|decimal|date|datetime|none|list|dict|constrained-[a-z]+"
    r"|[a-z][a-z-]*\[.*\])$"
)

# The patterns this service's fields use, in words.
_PATTERNS = {
    r"^(auto|[1-9]|[1-4][0-9]|50)$": '"auto" or a whole number from 1 to 50',
    r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$": (
        "up to 100 letters, digits, spaces, '.', '_' or '-', starting with a letter or digit"
    ),
    r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$": (
        "an id of letters, digits, '_', '.', ':' or '-', starting with a letter or digit"
    ),
    r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$": (
        "letters, digits, '_', '.', ':' or '-', starting with a letter or digit"
    ),
    r"^ftjob-[A-Za-z0-9_-]{1,100}$": "an OpenAI job id: ftjob- then letters, digits, '_' or '-'",
    r"^(job_|ftjob-)[A-Za-z0-9_-]{1,94}$": "a job id: job_... or ftjob-...",
    r"^[A-Za-z0-9_.@ -]+$": "letters, digits, spaces, '_', '.', '@' or '-'",
    r"^\d{1,9}(\.\d{1,9})?$": 'a decimal string such as "8.00" (up to 9 digits each side)',
    r"^\d{4}-(0[1-9]|1[0-2])$": "a month written YYYY-MM, e.g. 2024-03",
    r"^[a-z0-9][a-z0-9._-]{0,99}$": (
        "a model id: lower-case letters, digits, '.', '_' or '-', starting with a letter or digit"
    ),
    r"^[CGDUW][A-Z0-9]{2,39}$": "a Slack channel or user id, e.g. C0123ABCD",
    r"^\S(.*\S)?$": "text that neither starts nor ends with a space",
    r"^[^\x00-\x1f\x7f]+$": "text without control characters",
    r"^[^\x00-\x1f\x7f]*$": "text without control characters",
}
_ALTERNATIVES = re.compile(r"^\^\(([\w-]+(?:\|[\w-]+)+)\)\$$")


def _pattern(pattern: str) -> str:
    if pattern in _PATTERNS:
        return _PATTERNS[pattern]
    words = _ALTERNATIVES.match(pattern)
    if words:
        return "one of " + ", ".join(f'"{w}"' for w in words.group(1).split("|"))
    return "text in the form the field's description in /docs gives"


def _message(error: Mapping[str, Any]) -> str:
    kind = error.get("type", "")
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    msg = str(error.get("msg", ""))
    words: dict[str, str] = {
        "missing": "is required",
        "extra_forbidden": "is not a field of this request",
        "greater_than_equal": f"must be at least {ctx.get('ge')}",
        "greater_than": f"must be more than {ctx.get('gt')}",
        "less_than_equal": f"must be at most {ctx.get('le')}",
        "less_than": f"must be less than {ctx.get('lt')}",
        "literal_error": f"must be {ctx.get('expected')}",
        "enum": f"must be {ctx.get('expected')}",
        "int_type": "must be a whole number",
        "int_parsing": "must be a whole number",
        "int_from_float": "must be a whole number",
        "int_parsing_size": "must be a whole number within the maximum /docs gives",
        "finite_number": "must be a finite number",
        "float_type": "must be a number",
        "float_parsing": "must be a number",
        "decimal_type": "must be a decimal number",
        "decimal_parsing": "must be a decimal number",
        "bool_type": "must be true or false",
        "bool_parsing": "must be true or false",
        "string_type": "must be a string",
        "string_too_short": f"must be at least {ctx.get('min_length')} character(s) long",
        "string_too_long": f"must be at most {ctx.get('max_length')} characters long",
        "too_short": f"must have at least {ctx.get('min_length')} item(s)",
        "too_long": f"must have at most {ctx.get('max_length')} item(s)",
        "list_type": "must be a list",
        "dict_type": "must be an object",
        "model_type": "must be an object",
        "model_attributes_type": "must be an object",
        "json_invalid": "is not valid JSON",
        "url_parsing": "must be a URL",
        "url_scheme": f"must be a URL starting with {ctx.get('expected_schemes')}",
        "string_pattern_mismatch": f"must be {_pattern(str(ctx.get('pattern', '')))}",
    }
    if kind in words:
        return words[kind]
    if kind in ("value_error", "assertion_error"):
        return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return msg


def plain_errors(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One entry per field: the alternatives of a union joined with "or"."""
    grouped: dict[tuple[str | int, ...], list[Mapping[str, Any]]] = {}
    for error in errors:
        loc = tuple(
            part
            for part in error.get("loc", ())
            if not (isinstance(part, str) and _BRANCH.match(part))
        )
        grouped.setdefault(loc, []).append(error)
    plain = []
    for loc, group in grouped.items():
        messages = list(dict.fromkeys(_message(e) for e in group))
        plain.append({"loc": list(loc), "msg": ", or ".join(messages), "type": group[0]["type"]})
    return plain
