"""The dashboard's own files (one style sheet), served by the service: nothing from a CDN."""

from __future__ import annotations

from importlib.resources import files

from fastapi import Response

from service.errors import NotFound

_TYPES = {".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


def static_file(name: str) -> Response:
    # A fixed folder and plain names only: no path from the URL reaches the file system.
    suffix = name[name.rfind(".") :] if "." in name else ""
    if "/" in name or "\\" in name or name.startswith(".") or suffix not in _TYPES:
        raise NotFound(f"no file {name!r}")
    resource = files("service.ui").joinpath("static", name)
    if not resource.is_file():
        raise NotFound(f"no file {name!r}")
    return Response(
        resource.read_bytes(),
        media_type=_TYPES[suffix],
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
