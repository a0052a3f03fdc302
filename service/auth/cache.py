"""Keys that authenticated recently, so a hot endpoint can skip the key lookup.

A hit is a candidate, not a verdict: whoever uses it must check, in the transaction that makes
the request's write, that the keys revision is still the one the entry was read at (creating or
revoking a key anywhere changes it). Only keys that authenticated are kept, so unknown secrets
cannot grow the cache.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from service.auth.service import Principal, key_digest


@dataclass(frozen=True)
class CachedKey:
    principal: Principal
    keys_revision: int


class KeyCache:
    def __init__(self, *, max_entries: int = 4096) -> None:
        self._entries: dict[str, CachedKey] = {}
        self._max_entries = max_entries
        self._lock = threading.Lock()

    def get(self, secret: str) -> CachedKey | None:
        return self._entries.get(key_digest(secret))

    def put(self, secret: str, principal: Principal, keys_revision: int) -> None:
        with self._lock:
            if len(self._entries) >= self._max_entries:
                self._entries.clear()  # far more keys than any organisation has: start over
            self._entries[key_digest(secret)] = CachedKey(principal, keys_revision)

    def forget(self, secret: str) -> None:
        with self._lock:
            self._entries.pop(key_digest(secret), None)
