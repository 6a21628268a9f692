"""Request guards that sit in front of the routes: the API key, security headers, and
cross-site request forgery.

- :class:`ApiKeyMiddleware`: with a key set, ``/api/*`` needs it (or, for a job's video,
  events and keyframes, the signed token of its status JSON: :mod:`musicvid_server.tokens`).
- :class:`SecurityHeadersMiddleware`: ``nosniff``, no framing, no referrer and a strict
  Content-Security-Policy on every response.
- :class:`OriginCheckMiddleware`: a web page on another site can make the browser send
  a "simple" request (a multipart ``POST`` with no custom header) to a server on
  127.0.0.1 without any CORS preflight, so without an API key any page the user visits
  could start or cancel jobs. Browsers say where such a request comes from (``Origin``,
  and ``Sec-Fetch-Site`` in current ones); a state-changing request is refused with 403
  when

  - ``Sec-Fetch-Site`` is ``cross-site``, or
  - ``Origin`` is present and is not this server's own origin (the ``Host`` it was
    reached by, already checked against the allowed hosts) nor one of the configured
    ``allowed_origins``. ``Origin: null`` (sandboxed frames, ``file:`` pages, some
    redirects) is refused too.

  Requests without these headers (curl, scripts, other servers) are not from a browser
  page and pass, as do safe methods (GET, HEAD, OPTIONS).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import ApiError, error_response
from .store import parse_job_id
from .tokens import SIGNED_PATHS, verify

__all__ = ["SECURITY_HEADERS", "ApiKeyMiddleware", "OriginCheckMiddleware",
           "SecurityHeadersMiddleware", "normalise_origin"]

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data:; media-src 'self'; "
     b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
DEFAULT_PORTS = {"http": 80, "https": 443}


class ApiKeyMiddleware:
    """With a key set, /api/* (but /api/health and /api/options) needs
    ``Authorization: Bearer KEY`` or ``?access_token=KEY`` (RFC 6750 §2.1, §2.3); a
    job's video and events also open with the signed ``?token=`` of its status JSON."""

    OPEN = ("/api/health", "/api/options")

    def __init__(self, app: ASGIApp, api_key: str | None):
        self.app = app
        self.key = api_key.encode() if api_key else None
        self.text_key = api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (self.key is None or scope["type"] != "http" or not path.startswith("/api/")
                or path in self.OPEN):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        token = request.query_params.get("token")
        if token is not None and path in SIGNED_PATHS and self.text_key:
            job_id = parse_job_id(request.query_params.get("job_id"))
            if job_id is not None and verify(self.text_key, job_id, token):
                await self.app(scope, receive, send)
                return
        given = ""
        auth = request.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            given = auth[7:].strip()
        elif "access_token" in request.query_params:
            given = request.query_params["access_token"]
        if given and hmac.compare_digest(given.encode(), self.key):
            await self.app(scope, receive, send)
            return
        err = ApiError(401, "unauthorized",
                       "this server needs its API key: send 'Authorization: Bearer <key>'",
                       headers={"WWW-Authenticate": 'Bearer realm="musicvid"'})
        await error_response(err)(scope, receive, send)


class SecurityHeadersMiddleware:
    """Add :data:`SECURITY_HEADERS` to every response that does not set them itself."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in SECURITY_HEADERS if k not in names]
            await send(message)

        await self.app(scope, receive, send_with_headers)


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
