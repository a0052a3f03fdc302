"""Network helpers shared by the tests that start real servers on loopback."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A loopback port nothing listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
