"""Reading a request: the job it names, its integer query parameters, and the upload
form's job options and lyrics, each checked so that a bad value answers 422 (or 404 for
a job id) naming what is wrong. Also the JSON of parsed lyrics, which the start and
lyrics routes answer with."""

from __future__ import annotations

import re
import secrets
from typing import Any

from starlette.requests import Request

from musicvid import RenderConfig
from musicvid.errors import InvalidOptionError
from musicvid.options import form_options

from .errors import ApiError
from .state import server_state
from .store import parse_job_id

__all__ = ["FORM_FIELDS", "JOB_OPTIONS", "LYRICS_MAX_BYTES", "MAX_OFFSET", "REQUIRED_FIELDS",
           "SEED_MAX", "check_lyrics", "get_job", "int_param", "job_id", "lyrics_json",
           "parse_job_fields", "parse_lyrics_upload"]

JOB_OPTIONS = form_options()  # the per-job options a form may set: genre, style, ...
FORM_FIELDS = set(JOB_OPTIONS)
REQUIRED_FIELDS = ("genre", "style", "palette")  # besides the audio file
LYRICS_MAX_BYTES = 256 * 1024
SEED_MAX = 2**32 - 1
MAX_OFFSET = 2**31 - 1


# -- query parameters ---------------------------------------------------------------------
def job_id(request: Request) -> str:
    """The canonical ``job_id`` query parameter: 422 when missing, 404 when no job id."""
    raw = request.query_params.get("job_id")
    if raw is None:
        raise ApiError(422, "missing_field", "the query parameter job_id is required",
                       missing=["job_id"])
    canonical = parse_job_id(raw)
    if canonical is None:
        raise ApiError(404, "not_found", "no job with this id")
    return canonical


def get_job(request: Request) -> Any:
    """The job the request names, from the store: 404 when there is none."""
    job = server_state(request).store.get(job_id(request))
    if job is None:
        raise ApiError(404, "not_found", "no job with this id")
    return job


def int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    """The query parameter ``name`` as an integer in [lo, hi], ``default`` when absent."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,10}", raw.strip()) or not lo <= int(raw) <= hi:
        raise ApiError(422, "invalid_option", f"{name} must be an integer from {lo} to {hi}",
                       field=name)
    return int(raw)


# -- the upload form ----------------------------------------------------------------------
def parse_job_fields(fields: dict[str, str]) -> dict[str, Any]:
    """The form's job options (the ``job`` scope of :mod:`musicvid.options`), parsed and
    checked one by one, so a bad value answers 422 naming its field. A missing seed is
    drawn at random."""
    out: dict[str, Any] = {}
    for name, spec in JOB_OPTIONS.items():
        raw = fields.get(name, "").strip()
        if raw == "" and name not in REQUIRED_FIELDS:
            continue
        try:  # the config's own checks and normalisation ("Hip_Hop" -> "hip-hop")
            value = getattr(RenderConfig(**{name: spec.parse(raw)}), name)
            value = getattr(value, "value", value)
        except InvalidOptionError as exc:
            raise ApiError(422, "invalid_option", exc.message, field=name,
                           **({"valid": spec.choice_list()} if spec.choices else {})) from None
        out[name] = value
    if "seed" not in out:
        out["seed"] = secrets.randbelow(SEED_MAX + 1)
    return out


def lyrics_error(exc: Any) -> ApiError:
    """The 422 of a :class:`musicvid.errors.LyricsError`, naming the line at fault."""
    return ApiError(422, "invalid_lyrics", exc.message, field="lyrics", line=exc.line)


def parse_lyrics_upload(upload: Any) -> tuple[bytes, Any] | None:
    """The ``lyrics`` file part, parsed (None when none was chosen): 422 when it is not
    lyrics."""
    from musicvid.errors import LyricsError
    from musicvid.lyrics import decode_text, parse_lyrics

    if "lyrics" not in upload.blobs:
        return None
    name, data = upload.blobs["lyrics"]
    if not data and not name:
        return None  # a form with an empty file input
    try:
        return data, parse_lyrics(decode_text(data, name or "lyrics"), name or "lyrics")
    except LyricsError as exc:
        raise lyrics_error(exc) from None


def check_lyrics(lyrics: Any, duration: float) -> None:
    """422 when a timed line starts past the end of the song (``duration`` seconds)."""
    from musicvid.errors import LyricsError

    try:
        lyrics.check(duration)
    except LyricsError as exc:
        raise lyrics_error(exc) from None


def lyrics_json(lyrics: Any) -> dict[str, Any]:
    return {"format": lyrics.format, "timed": lyrics.timed,
            "lines": [{"text": ln.text, "start": round(ln.start, 3) if lyrics.timed else None,
                       "end": round(ln.end, 3) if lyrics.timed else None}
                      for ln in lyrics.lines]}
