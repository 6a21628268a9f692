"""Server settings: command-line options and environment variables -> :class:`ServerSettings`.

Only the standard library and :mod:`musicvid.config` are imported here, so ``musicvid
--help`` can list the ``serve`` options without loading Starlette.

=============================  ==================================  =====================
option                         environment variable                default
=============================  ==================================  =====================
``--host``                                                         ``127.0.0.1``
``--port``                                                         ``8000``
``--data-dir``                 ``MUSICVID_DATA_DIR``               the user data folder
``--workers``                  ``MUSICVID_WORKERS``                ``1``
``--max-upload-mb``            ``MUSICVID_MAX_UPLOAD_MB``          ``200``
``--max-attempts``             ``MUSICVID_MAX_ATTEMPTS``           ``3``
``--result-ttl-hours``         ``MUSICVID_RESULT_TTL_HOURS``       ``24``
``--allowed-host`` (repeat)    ``MUSICVID_ALLOWED_HOSTS`` (comma)  from ``--host``
(none: keep it off ``ps``)     ``MUSICVID_API_KEY``                none
=============================  ==================================  =====================

plus every model option of ``musicvid render`` (``--profile``, ``--sdxl-model``, ...; not
the per-job genre/style/palette/seed), honouring the same variables (``SOTA_CPU_ONLY``,
``MUSICVID_SDXL_MODEL``, ...).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from musicvid.config import Profile
from musicvid.errors import InvalidOptionError
from musicvid.options import add_options, overrides_from_args
from musicvid.paths import default_data_dir

__all__ = ["ServerSettings", "add_server_options", "default_data_dir", "is_loopback",
           "settings_from_args"]

MB = 1024 * 1024
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")  # Host headers bracket IPv6

def is_loopback(host: str) -> bool:
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _env_number(name: str, kind: type, default: Any) -> Any:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return kind(raw.strip())
    except ValueError:
        raise InvalidOptionError(name, raw, hint=f"a number, such as {default}") from None


@dataclass
class ServerSettings:
    """Everything the app factory needs. Build from the command line with
    :func:`settings_from_args`, or directly in Python and tests."""

    data_dir: Path = field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    max_upload_bytes: int = 200 * MB
    max_attempts: int = 3
    result_ttl_s: float = 24 * 3600.0
    api_key: str | None = None
    allowed_hosts: list[str] | None = None  # None: derived from ``host``
    profile: str | None = None
    render_options: dict[str, Any] = field(default_factory=dict)
    min_duration_s: float = 1.0
    max_duration_s: float = 30 * 60.0
    cleanup_interval_s: float = 600.0

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser()
        if self.profile is not None:
            self.profile = Profile.parse(self.profile).value
        if self.api_key is not None and not self.api_key.strip():
            self.api_key = None
        checks = (("workers", self.workers, 1, 64), ("max_attempts", self.max_attempts, 1, 100),
                  ("port", self.port, 0, 65535))
        for name, value, lo, hi in checks:
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise InvalidOptionError(name, value, hint=f"an integer from {lo} to {hi}")
        if self.max_upload_bytes < 1024:
            raise InvalidOptionError("max_upload_bytes", self.max_upload_bytes,
                                     hint="at least 1024 bytes")
        if self.result_ttl_s <= 0:
            raise InvalidOptionError("result_ttl", self.result_ttl_s, hint="a positive duration")

    @property
    def trusted_hosts(self) -> list[str]:
        """Host header values accepted (DNS-rebinding protection)."""
        if self.allowed_hosts:
            return list(self.allowed_hosts)
        host = self.host.strip().lower()
        if is_loopback(host):
            return list(LOOPBACK_NAMES)
        if host in ("0.0.0.0", "::", "[::]", ""):
            return ["*"]  # every interface: the API key is the guard
        bare = host.strip("[]")
        return [f"[{bare}]" if ":" in bare else bare, *LOOPBACK_NAMES]

    def check_binding(self) -> None:
        """Refuse to listen beyond this machine without an API key."""
        if not is_loopback(self.host) and not self.api_key:
            raise InvalidOptionError(
                "host", self.host,
                hint="listening on an address other than 127.0.0.1/localhost needs an API key: "
                     "set MUSICVID_API_KEY to a long random string; clients send it as "
                     "'Authorization: Bearer <key>'")

    def render_config_kwargs(self) -> dict[str, Any]:
        out = {k: v for k, v in self.render_options.items() if v is not None}
        if "cache_dir" not in out and not os.environ.get("MUSICVID_CACHE_DIR"):
            out["cache_dir"] = self.data_dir / "cache"
        return out

    @property
    def owns_cache(self) -> bool:
        """Whether the stage cache is the server's own (then it is pruned with results)."""
        return self.render_config_kwargs().get("cache_dir") == self.data_dir / "cache"


def add_server_options(p: argparse.ArgumentParser) -> None:
    """The options of ``musicvid serve`` and ``python -m musicvid_server``."""
    g = p.add_argument_group("server")
    g.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; any other needs "
                        "MUSICVID_API_KEY)")
    g.add_argument("--port", type=int, default=8000)
    g.add_argument("--data-dir", type=Path, default=None,
                   help="jobs database, uploads and results (env MUSICVID_DATA_DIR)")
    g.add_argument("--workers", type=int, default=None,
                   help="jobs rendered at once (env MUSICVID_WORKERS, default 1)")
    g.add_argument("--max-upload-mb", type=float, default=None,
                   help="largest accepted upload (env MUSICVID_MAX_UPLOAD_MB, default 200)")
    g.add_argument("--max-attempts", type=int, default=None,
                   help="tries per job before giving up (env MUSICVID_MAX_ATTEMPTS, default 3)")
    g.add_argument("--result-ttl-hours", type=float, default=None,
                   help="delete finished videos after this long (env "
                        "MUSICVID_RESULT_TTL_HOURS, default 24)")
    g.add_argument("--allowed-host", action="append", default=None, metavar="HOST",
                   help="a Host header to accept; repeat for several (env "
                        "MUSICVID_ALLOWED_HOSTS, comma-separated)")
    m = p.add_argument_group("models: the options of musicvid render, for every job")
    add_options(m, scopes=("model",))  # each job sets its own genre, style, palette, seed


def settings_from_args(args: argparse.Namespace) -> ServerSettings:
    """Options first, then environment variables, then defaults."""
    env_hosts = [h.strip() for h in os.environ.get("MUSICVID_ALLOWED_HOSTS", "").split(",")
                 if h.strip()]
    upload_mb = args.max_upload_mb if args.max_upload_mb is not None else _env_number(
        "MUSICVID_MAX_UPLOAD_MB", float, 200.0)
    ttl_h = args.result_ttl_hours if args.result_ttl_hours is not None else _env_number(
        "MUSICVID_RESULT_TTL_HOURS", float, 24.0)
    return ServerSettings(
        data_dir=args.data_dir if args.data_dir is not None else default_data_dir(),
        host=args.host,
        port=args.port,
        workers=args.workers if args.workers is not None else _env_number(
            "MUSICVID_WORKERS", int, 1),
        max_upload_bytes=int(upload_mb * MB),
        max_attempts=args.max_attempts if args.max_attempts is not None else _env_number(
            "MUSICVID_MAX_ATTEMPTS", int, 3),
        result_ttl_s=ttl_h * 3600.0,
        api_key=os.environ.get("MUSICVID_API_KEY") or None,
        allowed_hosts=args.allowed_host or env_hosts or None,
        profile=args.profile,
        render_options={k: v for k, v in overrides_from_args(args, ("model",)).items()
                        if k != "profile"},
    )
