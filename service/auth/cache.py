"""Keys that authenticated recently, so a hot endpoint can skip the key lookup.

A hit is a candidate, not a verdict: it lets key_first_route refuse an anonymous client before
the body is read, and the endpoint's own key dependency then reads the api_keys table, so a key
revoked on any replica, or by hand in the database, is refused.
Only keys that authenticated are kept, so unknown secrets cannot grow the cache.
"""

from __future__ import annotations

import threading

from service.auth.service import Principal, key_digest


class KeyCache:
    def __init__(self, *, max_entries: int = 4096) -> None:
        self._entries: dict[str, Principal] = {}
        self._max_entries = max_entries
        self._lock = threading.Lock()

    def get(self, secret: str) -> Principal | None:
        return self._entries.get(key_digest(secret))

    def put(self, secret: str, principal: Principal) -> None:
        with self._lock:
            if len(self._entries) >= self._max_entries:
                self._entries.clear()  # far more keys than any organisation has: start over
            self._entries[key_digest(secret)] = principal

    def forget(self, secret: str) -> None:
        with self._lock:
            self._entries.pop(key_digest(secret), None)

    def forget_key(self, key_id: int) -> None:
        """Drop a key by id (this replica revoked it: its next request is a 401 at once)."""
        with self._lock:
            for digest in [d for d, p in self._entries.items() if p.key_id == key_id]:
                del self._entries[digest]
