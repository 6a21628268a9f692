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
``--allowed-origin`` (repeat)  ``MUSICVID_ALLOWED_ORIGINS`` (comma) the server's own
``--max-queued``               ``MUSICVID_MAX_QUEUED``             ``50``
``--min-free-mb``              ``MUSICVID_MIN_FREE_MB``            ``512``
``--min-sample-rate``          ``MUSICVID_MIN_SAMPLE_RATE``        ``8000``
``--max-duration-min``         ``MUSICVID_MAX_DURATION_MIN``       ``30``
``--max-concurrent-uploads``   ``MUSICVID_MAX_CONCURRENT_UPLOADS`` ``4``
``--upload-min-rate-kb``       ``MUSICVID_UPLOAD_MIN_RATE_KB``     ``16``
``--upload-grace-s``           ``MUSICVID_UPLOAD_GRACE_S``         ``10``
``--limit-concurrency``        ``MUSICVID_LIMIT_CONCURRENCY``      ``64``
``--signed-url-ttl-min``       ``MUSICVID_SIGNED_URL_TTL_MIN``     ``120``
``--cancel-wait-s``            ``MUSICVID_CANCEL_WAIT_S``          ``5``
(none: keep it off ``ps``)     ``MUSICVID_API_KEY``                none
=============================  ==================================  =====================

plus every model option of ``musicvid render`` (``--profile``, ``--sdxl-model``, ...; not
the per-job genre/style/palette/seed), honouring the same variables (``SOTA_CPU_ONLY``,
``MUSICVID_SDXL_MODEL``, ...).
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from musicvid.config import Profile
from musicvid.errors import InvalidOptionError
from musicvid.options import add_options, overrides_from_args
from musicvid.paths import default_data_dir

__all__ = ["ServerSettings", "add_server_options", "default_data_dir", "is_loopback",
           "settings_from_args"]

MB = 1024 * 1024
MIN_API_KEY_LENGTH = 16
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
        value = kind(raw.strip())
    except ValueError:
        raise InvalidOptionError(name, raw, hint=f"a number, such as {default}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidOptionError(name, raw, hint=f"a finite number, such as {default}")
    return value


def _number(value: Any, name: str, lo: float, hi: float = math.inf, *,
            integer: bool = False) -> Any:
    """``value`` if it is a finite number (an int when ``integer``) in [lo, hi]."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float))
    if ok and integer:
        ok = isinstance(value, int)
    if ok:
        ok = math.isfinite(value) and lo <= value <= hi
    if not ok:
        kind = "an integer" if integer else "a number"
        span = f"of at least {lo:g}" if hi == math.inf else f"from {lo:g} to {hi:g}"
        raise InvalidOptionError(name, value, hint=f"{kind} {span}")
    return value


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
    allowed_origins: list[str] = field(default_factory=list)  # besides the server's own
    max_queued: int = 50  # jobs waiting at once; more answer 503
    min_free_bytes: int = 512 * MB  # free space the data directory keeps; below: 507
    min_sample_rate: int = 8000  # Hz
    max_concurrent_uploads: int = 4  # uploads received at once; more answer 503
    upload_min_rate: float = 16 * 1024.0  # bytes/s an upload must average after the grace
    upload_grace_s: float = 10.0
    limit_concurrency: int = 64  # uvicorn: connections at once; more answer 503
    signed_url_ttl_s: float = 120 * 60.0  # links to a job's video and events (with a key)
    cancel_wait_s: float = 5.0  # how long a cancel waits for the running job to stop
    reconcile_interval_s: float = 2.0  # how often stranded running jobs are looked for

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
        _number(self.max_upload_bytes, "max_upload_bytes", 1024, integer=True)
        if not (isinstance(self.result_ttl_s, (int, float)) and math.isfinite(self.result_ttl_s)
                and self.result_ttl_s > 0):
            raise InvalidOptionError("result_ttl", self.result_ttl_s,
                                     hint="a positive, finite duration")
        _number(self.max_queued, "max_queued", 1, 100_000, integer=True)
        _number(self.min_free_bytes, "min_free_bytes", 0, integer=True)
        _number(self.min_sample_rate, "min_sample_rate", 1, 768_000, integer=True)
        _number(self.min_duration_s, "min_duration", 0)
        _number(self.max_duration_s, "max_duration", max(1.0, self.min_duration_s))
        _number(self.max_concurrent_uploads, "max_concurrent_uploads", 1, 10_000, integer=True)
        _number(self.upload_min_rate, "upload_min_rate", 0)
        _number(self.upload_grace_s, "upload_grace", 0)
        _number(self.limit_concurrency, "limit_concurrency", 1, 1_000_000, integer=True)
        _number(self.signed_url_ttl_s, "signed_url_ttl", 1)
        _number(self.cancel_wait_s, "cancel_wait", 0, 3600)
        _number(self.reconcile_interval_s, "reconcile_interval", 0.01)

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
        """Refuse to listen beyond this machine without an API key of at least
        :data:`MIN_API_KEY_LENGTH` characters."""
        if not is_loopback(self.host) and not self.api_key:
            raise InvalidOptionError(
                "host", self.host,
                hint="listening on an address other than 127.0.0.1/localhost needs an API key: "
                     "set MUSICVID_API_KEY to a long random string; clients send it as "
                     "'Authorization: Bearer <key>'")
        if not is_loopback(self.host) and len(self.api_key or "") < MIN_API_KEY_LENGTH:
            raise InvalidOptionError(
                "MUSICVID_API_KEY", "(hidden)",
                hint=f"on {self.host} the API key needs at least {MIN_API_KEY_LENGTH} "
                     "characters; make one with: python -c 'import secrets; "
                     "print(secrets.token_urlsafe(32))'")

    def uvicorn_options(self) -> dict[str, Any]:
        """Options of ``uvicorn.Config`` that enforce this server's connection limits."""
        return {"limit_concurrency": self.limit_concurrency}

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
    g.add_argument("--allowed-origin", action="append", default=None, metavar="ORIGIN",
                   help="another web origin (https://host[:port]) whose pages may start and "
                        "cancel jobs; repeat for several (env MUSICVID_ALLOWED_ORIGINS)")
    lim = p.add_argument_group("limits")
    for limit in LIMITS:
        lim.add_argument(limit.flag, type=limit.kind, default=None,
                         help=f"{limit.help} (env {limit.env}, default {limit.default:g})")
    m = p.add_argument_group("models: the options of musicvid render, for every job")
    add_options(m, scopes=("model",))  # each job sets its own genre, style, palette, seed


class Limit(NamedTuple):
    """A numeric limit: the option ``flag`` and the variable ``MUSICVID_<FLAG>`` (named
    after it) set the settings ``field``, given in the option's unit (``scale`` of them
    make one of the field's: MB -> bytes, minutes -> seconds)."""

    flag: str
    kind: type
    default: float
    field: str
    help: str
    scale: float = 1

    @property
    def dest(self) -> str:
        return self.flag[2:].replace("-", "_")

    @property
    def env(self) -> str:
        return "MUSICVID_" + self.dest.upper()


LIMITS = (
    Limit("--max-queued", int, 50, "max_queued",
          "jobs waiting at once; more are refused with 503"),
    Limit("--min-free-mb", float, 512, "min_free_bytes",
          "free space to keep in the data directory; uploads are refused (507) below it", MB),
    Limit("--min-sample-rate", int, 8000, "min_sample_rate",
          "lowest accepted sample rate of a song, in Hz"),
    Limit("--max-duration-min", float, 30, "max_duration_s",
          "longest accepted song, in minutes", 60),
    Limit("--max-concurrent-uploads", int, 4, "max_concurrent_uploads",
          "uploads received at once; more are refused with 503"),
    Limit("--upload-min-rate-kb", float, 16, "upload_min_rate",
          "slowest average upload speed in KiB/s after the grace time (408)", 1024),
    Limit("--upload-grace-s", float, 10, "upload_grace_s",
          "seconds an upload may take before its speed is checked"),
    Limit("--limit-concurrency", int, 64, "limit_concurrency",
          "connections served at once (uvicorn); more are answered 503"),
    Limit("--signed-url-ttl-min", float, 120, "signed_url_ttl_s",
          "lifetime of the signed video and event links (with an API key)", 60),
    Limit("--cancel-wait-s", float, 5, "cancel_wait_s",
          "how long a cancel waits for a running job to stop before answering 202"),
)


def _option(args: argparse.Namespace, dest: str, env: str, kind: type, default: Any,
            lo: float, hi: float = math.inf) -> Any:
    """The option, else the environment variable, else ``default``; checked to be a
    finite number in [lo, hi] (``nan`` and ``inf`` are refused)."""
    value = getattr(args, dest, None)
    name = "--" + dest.replace("_", "-")
    if value is None:
        value, name = _env_number(env, kind, default), env
    try:
        return _number(value, name, lo, hi, integer=kind is int)
    except InvalidOptionError:
        raise InvalidOptionError(name, value, hint=f"a finite number from {lo:g}"
                                 + ("" if hi == math.inf else f" to {hi:g}")) from None


def _list_env(name: str) -> list[str]:
    return [h.strip() for h in os.environ.get(name, "").split(",") if h.strip()]


def settings_from_args(args: argparse.Namespace) -> ServerSettings:
    """Options first, then environment variables, then defaults."""
    env_hosts = _list_env("MUSICVID_ALLOWED_HOSTS")
    upload_mb = _option(args, "max_upload_mb", "MUSICVID_MAX_UPLOAD_MB", float, 200.0,
                        1024 / MB, 1024 * 1024)
    # at least a minute: a shorter TTL would run the janitor many times a second
    ttl_h = _option(args, "result_ttl_hours", "MUSICVID_RESULT_TTL_HOURS", float, 24.0,
                    1 / 60, 24 * 365 * 100)
    limits: dict[str, Any] = {}
    for limit in LIMITS:
        value = _option(args, limit.dest, limit.env, limit.kind, limit.default,
                        1 if limit.kind is int else 0)
        scale = limit.scale
        limits[limit.field] = int(value * scale) if limit.field == "min_free_bytes" else (
            value * scale if scale != 1 else value)
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
        allowed_origins=getattr(args, "allowed_origin", None)
        or _list_env("MUSICVID_ALLOWED_ORIGINS"),
        **limits,
        profile=args.profile,
        render_options={k: v for k, v in overrides_from_args(args, ("model",)).items()
                        if k != "profile"},
    )
