"""Request guards that sit in front of the routes: cross-site request forgery.

A web page on another site can make the browser send a "simple" request (a multipart
``POST`` with no custom header) to a server on 127.0.0.1 without any CORS preflight,
so without an API key any page the user visits could start or cancel jobs. Browsers
say where such a request comes from (``Origin``, and ``Sec-Fetch-Site`` in current
ones); a state-changing request is refused with 403 when

- ``Sec-Fetch-Site`` is ``cross-site``, or
- ``Origin`` is present and is not this server's own origin (the ``Host`` it was
  reached by, already checked against the allowed hosts) nor one of the configured
  ``allowed_origins``. ``Origin: null`` (sandboxed frames, ``file:`` pages, some
  redirects) is refused too.

Requests without these headers (curl, scripts, other servers) are not from a browser
page and pass, as do safe methods (GET, HEAD, OPTIONS).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["OriginCheckMiddleware", "normalise_origin"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
DEFAULT_PORTS = {"http": 80, "https": 443}


def normalise_origin(origin: str) -> str | None:
    """``scheme://host[:port]`` in lower case without a default port, or None."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != DEFAULT_PORTS[parts.scheme]:
        host = f"{host}:{port}"
    return f"{parts.scheme}://{host}"


def _host_of(origin: str) -> str:
    return origin.split("://", 1)[1]


def _strip_default_port(host: str, scheme: str) -> str:
    host = host.strip().lower()
    suffix = f":{DEFAULT_PORTS[scheme]}"
    return host[: -len(suffix)] if host.endswith(suffix) else host


class OriginCheckMiddleware:
    """Refuse state-changing requests that a browser sent from another origin."""

    def __init__(self, app: ASGIApp, allowed_origins: Iterable[str] = ()):
        self.app = app
        self.allowed = {o for o in (normalise_origin(x) for x in allowed_origins) if o}

    def _refusal(self, headers: dict[bytes, bytes]) -> str | None:
        site = headers.get(b"sec-fetch-site", b"").decode("latin-1").strip().lower()
        if site == "cross-site":
            return "a page on another site sent this request (Sec-Fetch-Site: cross-site)"
        raw = headers.get(b"origin")
        if raw is None:
            return None
        text = raw.decode("latin-1")
        origin = normalise_origin(text)
        if origin is None:
            return f"a page with the opaque or invalid origin {text[:64]!r} sent this request"
        if origin in self.allowed:
            return None
        host = headers.get(b"host", b"").decode("latin-1")
        scheme = origin.split("://", 1)[0]
        if host and _strip_default_port(host, scheme) == _host_of(origin):
            return None
        return f"a page on {origin} sent this request; this server only takes them from " \
               "its own page"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method", "GET").upper() in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, bytes] = {}
        for k, v in scope.get("headers", []):
            headers.setdefault(k.lower(), v)
        why = self._refusal(headers)
        if why is None:
            await self.app(scope, receive, send)
            return
        body = json.dumps({"error": "cross_origin",
                           "message": f"refused: {why} (cross-site request forgery "
                                      "protection; scripts and curl send no Origin header)"
                           }).encode()
        await send({"type": "http.response.start", "status": 403,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
