"""The JSON schemas of the server's bodies, the ``components/schemas`` of its OpenAPI
document (:mod:`musicvid_server.openapi`): a job's status, an error, lyrics, the
storyboard, the options, and the upload form of ``/api/generate/start``. The genre /
style / palette vocabularies and the per-job form fields come from :mod:`musicvid.config`
and :mod:`musicvid.options`, so the schema and the validation can never disagree.
"""

from __future__ import annotations

from typing import Any

from musicvid.config import MAX_CONCEPT_CHARS, Genre, Palette, Style
from musicvid.options import form_options, integer

from .direction import MAX_REFERENCE_BYTES, MAX_REFERENCES
from .settings import ServerSettings
from .store import STATES

__all__ = ["component_schemas", "job_option_schemas", "nullable", "ref", "upload_form"]


def ref(name: str) -> dict[str, Any]:
    """A reference to the component schema ``name``."""
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(type_: str, **kw: Any) -> dict[str, Any]:
    return {"type": type_, "nullable": True, **kw}


def job_option_schemas() -> dict[str, Any]:
    """The form fields of the per-job options, from the option schema."""
    out: dict[str, Any] = {}
    for name, spec in form_options().items():
        choices = spec.choice_list()
        if choices is not None:
            schema: dict[str, Any] = {"type": "string", "enum": choices}
        elif spec.type is integer:
            schema = {"type": "integer"}
        elif spec.type is float:
            schema = {"type": "number"}
        else:
            schema = {"type": "string"}
        schema["description"] = spec.help
        if name == "seed":
            schema.update(minimum=0, maximum=2**32 - 1,
                          description=f"{spec.help}; random when left out")
        out[name] = schema
    return out


def upload_form(settings: ServerSettings) -> dict[str, Any]:
    """The multipart form of ``/api/generate/start``, with this server's upload limit."""
    limit_mb = settings.max_upload_bytes / 1024 / 1024
    return {
        "type": "object",
        "required": ["audio", "genre", "style", "palette"],
        "properties": {
            "audio": {"type": "string", "format": "binary",
                      "description": "the song: mp3, wav, flac or m4a (checked by decoding "
                                     f"it, not by its name); at most {limit_mb:g} MB"},
            **job_option_schemas(),
            "concept": {"type": "string", "maxLength": MAX_CONCEPT_CHARS,
                        "description": "your idea (subject, world, story): in every shot's "
                                       "prompt"},
            "section_prompts": {"type": "string",
                                "description": 'what happens in a section: a JSON object of '
                                               'texts, e.g. {"chorus": "dancing in the '
                                               'rain"}, or one chorus="..."'},
            "reference": {"type": "array", "maxItems": MAX_REFERENCES,
                          "items": {"type": "string", "format": "binary"},
                          "description": "pictures of the subject to keep recognisable "
                                         "(IP-Adapter): PNG, JPEG or WebP, checked by "
                                         "decoding, at most "
                                         f"{MAX_REFERENCE_BYTES // 1024 // 1024} MB each"},
            "lyrics": {"type": "string", "format": "binary",
                       "description": "optional: the song's words, .lrc (with word times "
                                      "too), .srt, .vtt or plain text (timed by "
                                      "transcribing the song), UTF-8, at most 256 KB"},
        },
        "additionalProperties": False,
    }


def component_schemas() -> dict[str, Any]:
    """Every schema the document's operations refer to, by name."""
    job = {
        "type": "object",
        "required": ["job_id", "state", "stage", "progress", "message", "eta_s",
                     "queue_position", "error", "created", "updated"],
        "properties": {
            "job_id": {"type": "string", "format": "uuid"},
            "state": {"type": "string", "enum": list(STATES)},
            "stage": nullable("string", description="analyze, plan, keyframes, motion or "
                                                    "composite while running"),
            "progress": {"type": "number", "minimum": 0, "maximum": 1},
            "message": {"type": "string"},
            "eta_s": nullable("number", minimum=0,
                              description="seconds left, estimated while running"),
            "queue_position": nullable("integer", minimum=1,
                                       description="1 = starts next; null unless queued"),
            "error": nullable("string", description="why the job failed (state failed)"),
            "created": {"type": "string", "format": "date-time"},
            "updated": {"type": "string", "format": "date-time"},
            "started": nullable("string", format="date-time"),
            "finished": nullable("string", format="date-time"),
            "attempts": {"type": "integer", "minimum": 0},
            "genre": {"type": "string", "enum": Genre.values()},
            "style": {"type": "string", "enum": Style.values()},
            "palette": {"type": "string", "enum": Palette.values()},
            "seed": {"type": "integer", "minimum": 0, "maximum": 2**32 - 1},
            "filename": {"type": "string"},
            "duration_s": nullable("number"),
            "result_url": nullable("string", description="where to GET the video once "
                                                         "succeeded (signed with a key)"),
            "events_url": {"type": "string",
                           "description": "the job's event stream (signed with a key)"},
            "result_expired": {"type": "boolean"},
            "stats": {"type": "object", "additionalProperties": True},
        },
    }
    error = {
        "type": "object", "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "a machine-readable code"},
            "message": {"type": "string", "description": "what went wrong and what to do"},
            "field": {"type": "string"},
            "valid": {"type": "array", "items": {"type": "string"}},
            "missing": {"type": "array", "items": {"type": "string"}},
            "state": {"type": "string", "enum": list(STATES)},
            "limit_bytes": {"type": "integer"},
            "line": nullable("integer", description="the lyrics file's line at fault"),
        },
        "additionalProperties": True,
    }
    lyric_lines = {
        "type": "object", "required": ["format", "timed", "lines"],
        "properties": {
            "format": {"type": "string", "enum": ["lrc", "srt", "vtt", "text", "transcript"]},
            "timed": {"type": "boolean", "description": "false: plain text, timed later by "
                                                         "transcribing the song"},
            "lines": {"type": "array", "items": {
                "type": "object", "required": ["text", "start", "end"],
                "properties": {"text": {"type": "string"},
                               "start": nullable("number", minimum=0),
                               "end": nullable("number", minimum=0)}}},
        },
    }
    shot_view = {
        "type": "object",
        "required": ["index", "start", "end", "section", "prompt", "keyframe_url"],
        "properties": {
            "index": {"type": "integer", "minimum": 0},
            "start": {"type": "number", "description": "seconds"},
            "end": {"type": "number", "description": "seconds"},
            "section": {"type": "string"},
            "prompt": {"type": "string"},
            "keyframe_url": nullable("string", description="the keyframe's thumbnail once "
                                                           "it is made"),
        },
    }
    storyboard_schema = {
        "type": "object",
        "required": ["job_id", "state", "shots", "keyframes_ready"],
        "properties": {
            "job_id": {"type": "string", "format": "uuid"},
            "state": {"type": "string", "enum": list(STATES)},
            "fps": {"type": "string"},
            "frame_count": {"type": "integer"},
            "keyframes_ready": {"type": "integer", "minimum": 0},
            "concept": nullable("string", description="the concept as used in the "
                                                      "prompts (after any cut)"),
            "prompt_writer": nullable("string"),
            "shots": {"type": "array", "items": shot_view},
        },
    }
    return {
        "Job": job,
        "Storyboard": storyboard_schema,
        "Error": error,
        "Health": {"type": "object", "required": ["status"],
                   "properties": {"status": {"type": "string", "enum": ["ok"]}}},
        "Started": {"type": "object", "required": ["job_id"],
                    "properties": {"job_id": {"type": "string", "format": "uuid"},
                                   "lyrics": ref("Lyrics")}},
        "Lyrics": lyric_lines,
        "JobList": {"type": "object",
                    "required": ["jobs", "total", "limit", "offset", "next_offset"],
                    "properties": {
                        "jobs": {"type": "array", "items": ref("Job")},
                        "total": {"type": "integer", "minimum": 0},
                        "limit": {"type": "integer"},
                        "offset": {"type": "integer"},
                        "next_offset": nullable("integer")}},
        "Options": {"type": "object",
                    "required": ["genre", "style", "palette", "max_upload_bytes"],
                    "properties": {
                        "genre": {"type": "array", "items": {"type": "string"}},
                        "style": {"type": "array", "items": {"type": "string"}},
                        "palette": {"type": "array", "items": {"type": "string"}},
                        "captions": {"type": "array", "items": {"type": "string"}},
                        "max_upload_bytes": {"type": "integer"},
                        "max_lyrics_bytes": {"type": "integer"},
                        "min_duration_s": {"type": "number"},
                        "max_duration_s": {"type": "number"},
                        "min_sample_rate": {"type": "integer"},
                        "api_key_required": {"type": "boolean"},
                        "max_references": {"type": "integer"},
                        "max_reference_bytes": {"type": "integer"},
                        "max_concept_chars": {"type": "integer"}}},
    }
