"""Signed links for the places a browser cannot send ``Authorization`` (a ``<video>``
source, an ``EventSource``), and redaction of secrets in access logs.

With an API key, the status JSON carries ``result_url`` and ``events_url`` with a
``token=EXPIRES.SIGNATURE`` parameter: an HMAC-SHA256, keyed by the API key, of the job
id and the expiry time. A token opens only those two endpoints, for that one job, until
it expires (``--signed-url-ttl-min``); it never reveals the key. Access logs show
``token=`` and ``access_token=`` values as ``REDACTED``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import time
from typing import Any

__all__ = ["RedactSecrets", "install_redaction", "sign", "verify"]

SIGNED_PATHS = ("/api/generate/result", "/api/generate/events")
_SECRET_PARAM = re.compile(r"((?:access_)?token=)[^&\s\"']*", re.IGNORECASE)


def _mac(key: str, job_id: str, expires: int) -> str:
    msg = f"musicvid-signed-url\0{job_id}\0{expires}".encode()
    digest = hmac.new(key.encode(), msg, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")


def sign(key: str, job_id: str, ttl_s: float, now: float | None = None) -> str:
    """A token for ``job_id`` valid ``ttl_s`` seconds from ``now``."""
    expires = int((time.time() if now is None else now) + ttl_s)
    return f"{expires}.{_mac(key, job_id, expires)}"


def verify(key: str, job_id: str, token: str, now: float | None = None) -> bool:
    expires_text, _, mac = token.partition(".")
    if not expires_text.isascii() or not expires_text.isdigit() or len(expires_text) > 12:
        return False
    expires = int(expires_text)
    if expires < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(mac.encode(), _mac(key, job_id, expires).encode())


def redact(text: str) -> str:
    return _SECRET_PARAM.sub(r"\1REDACTED", text)


class RedactSecrets(logging.Filter):
    """Rewrites ``token=`` and ``access_token=`` values in a record's message and
    arguments (uvicorn's access log passes the path with its query as an argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v
                           for k, v in record.args.items()}
        return True


def install_redaction(*names: str) -> None:
    """Add :class:`RedactSecrets` to the named loggers (once each)."""
    for name in names or ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())


def signed_urls(key: str | None, ttl_s: float, job_id: str, data: dict[str, Any]) -> None:
    """Give a status JSON its ``events_url`` and, with a key, signed links."""
    events = f"/api/generate/events?job_id={job_id}"
    if key:
        token = sign(key, job_id, ttl_s)
        events += f"&token={token}"
        if data.get("result_url"):
            data["result_url"] += f"&token={token}"
    data["events_url"] = events
