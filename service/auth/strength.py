"""How strong an API key must be: as strong as the ones ratecard generates.

Generated keys are ``rc_`` and 32 random bytes (256 bits) in URL-safe base64. A key an operator
supplies (RATECARD_ADMIN_API_KEY) is held to the same bar by an estimate: its length times the
bits per character of the character classes it uses, refused outright when it repeats itself.
"""

from __future__ import annotations

import math
import string

KEY_PREFIX = "rc_"
SECRET_BYTES = 32
REQUIRED_BITS = SECRET_BYTES * 8
MIN_DISTINCT_CHARACTERS = 12  # a random 43-character key has ~31, 64 random hex digits ~16

_CLASSES = (
    frozenset(string.ascii_lowercase),
    frozenset(string.ascii_uppercase),
    frozenset(string.digits),
    frozenset(string.punctuation),
)
REQUIREMENT = (
    f"{KEY_PREFIX!r} followed by random characters worth {REQUIRED_BITS} bits, as generated keys "
    f"are: e.g. {KEY_PREFIX}$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
)


def estimated_bits(secret: str) -> float:
    """Length x log2(size of the character classes used); 0 for repetitive or non-ASCII text."""
    body = secret.removeprefix(KEY_PREFIX)
    if not body or not all(c in string.printable and not c.isspace() for c in body):
        return 0.0
    if len(set(body)) < MIN_DISTINCT_CHARACTERS or _repeats(body):
        return 0.0
    pool = sum(len(chars) for chars in _CLASSES if chars & set(body))
    return len(body) * math.log2(pool)


def _repeats(body: str, *, width: int = 6) -> bool:
    """A stretch of `width` characters seen twice: typed or patterned, not drawn at random
    (in 64 random hex digits that happens about once in 10,000 keys)."""
    seen: set[str] = set()
    for i in range(len(body) - width + 1):
        if body[i : i + width] in seen:
            return True
        seen.add(body[i : i + width])
    return False


def weakness(secret: str) -> str | None:
    """Why `secret` is too weak to be an admin key, or None."""
    if not secret.startswith(KEY_PREFIX):
        return f"must start with {KEY_PREFIX!r}; required: {REQUIREMENT}"
    bits = estimated_bits(secret)
    if bits < REQUIRED_BITS:
        return f"has about {bits:.0f} bits of entropy; required: {REQUIREMENT}"
    return None
