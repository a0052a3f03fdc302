"""`host:port` settings: a bind address written the way operators write one."""

from __future__ import annotations

import ipaddress


def parse_address(text: str) -> tuple[str, int]:
    """``127.0.0.1:9101``, ``0.0.0.0:9101``, ``[::1]:9101`` or ``localhost:9101``; port 0 binds
    a free port (tests). ValueError with the reason otherwise."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host:
        raise ValueError(f"{text!r} is not host:port, e.g. 127.0.0.1:9101")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not an IPv6 address") from None
    elif ":" in host:
        raise ValueError(f"write an IPv6 address in brackets: [{host}]:{port_text}")
    if not (port_text.isascii() and port_text.isdigit() and int(port_text) <= 65535):
        raise ValueError(f"the port of {text!r} is not 0-65535")
    return host, int(port_text)
