"""The OpenAPI 3.0 description of the server, served as JSON at ``/openapi.json``.

Written out by hand (every endpoint, parameter, response and error); the body schemas
it refers to are in :mod:`musicvid_server.schemas`, built from :mod:`musicvid.config`
and :mod:`musicvid.options`, so the schema and the validation can never disagree. A
test checks that every route is described.
"""

from __future__ import annotations

from typing import Any

from musicvid import __version__

from .schemas import component_schemas, job_option_schemas, ref, upload_form
from .settings import ServerSettings
from .store import STATES

__all__ = ["build_openapi", "job_option_schemas"]


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(ref("Error"), description)


JOB_ID_PARAM = {
    "name": "job_id", "in": "query", "required": True,
    "description": "The id returned by /api/generate/start (a UUID). Anything else is "
                   "answered with 404.",
    "schema": {"type": "string", "format": "uuid"},
}

COMMON_ERRORS = {
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "500": {"$ref": "#/components/responses/InternalError"},
}

TOKEN_PARAM = {
    "name": "token", "in": "query", "required": False,
    "description": "the signed token of the job's result_url/events_url (with an API "
                   "key): opens this endpoint for this job until it expires",
    "schema": {"type": "string"},
}

CROSS_ORIGIN = _error("sent by a page on another origin (cross-site request forgery "
                      "protection)")


def build_openapi(settings: ServerSettings) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "musicvid server",
            "version": __version__,
            "description": (
                "Turn a song into a music video. Upload with POST /api/generate/start, "
                "follow GET /api/generate/status (or /events), fetch GET "
                "/api/generate/result. Every error is JSON {error, message, ...} except "
                "400 'Invalid host header' (a Host not in the server's allowed hosts) and "
                "uvicorn's 503 beyond its connection limit, which are text."),
            "license": {"name": "Apache-2.0"},
        },
        "servers": [{"url": "/"}],
        "paths": _paths(settings),
        "security": [{"bearer": []}] if settings.api_key else [],
        "components": {
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "MUSICVID_API_KEY; required when the server listens beyond "
                               "localhost. Where headers cannot be set (video, "
                               "EventSource), use the signed result_url/events_url of the "
                               "job's status; ?access_token= (RFC 6750) also works but puts "
                               "the key in URLs."}},
            "responses": {
                "Unauthorized": _error("missing or wrong API key (only when the server has "
                                       "one)"),
                "InternalError": _error("a bug: the server log has the details"),
            },
            "schemas": component_schemas(),
        },
    }


def _paths(settings: ServerSettings) -> dict[str, Any]:
    """Every route: its parameters, request body and responses (errors included)."""
    limit_mb = settings.max_upload_bytes / 1024 / 1024
    return {
        "/api/health": {"get": {
            "operationId": "health", "summary": "Liveness check", "security": [],
            "responses": {"200": _json(ref("Health"), "the server is up"),
                          "500": COMMON_ERRORS["500"]}}},
        "/api/options": {"get": {
            "operationId": "options", "summary": "Valid genres, styles, palettes and limits",
            "security": [],
            "responses": {"200": _json(ref("Options"), "the choices a request may use"),
                          "500": COMMON_ERRORS["500"]}}},
        "/api/generate/start": {"post": {
            "operationId": "start", "summary": "Upload a song and queue a video",
            "requestBody": {"required": True,
                            "content": {"multipart/form-data": {"schema": upload_form(settings)}}},
            "responses": {
                "200": {**_json(ref("Started"), "queued; poll the status or stream events"),
                        "links": {op: {"operationId": op,
                                       "parameters": {"job_id": "$response.body#/job_id"}}
                                  for op in ("status", "events", "result", "cancel",
                                             "lyrics")}},
                "400": _error("malformed multipart body"),
                "413": _error(f"the upload is larger than {limit_mb:g} MB, or a reference "
                              "picture larger than its limit"),
                "415": _error("not multipart/form-data, the file is not audio, or a "
                              "reference is not a PNG, JPEG or WebP picture"),
                "403": CROSS_ORIGIN,
                "408": _error("the upload was slower than the server's minimum rate"),
                "422": _error("a missing, unknown or invalid field (the body lists the valid "
                              "values), audio that is corrupt, too short or too long, "
                              "or sampled too low (limit names which), or a lyrics file "
                              "that is not text, is empty or malformed (the body names the "
                              "line), overlaps or runs past the song's end"),
                "503": _error("the queue is full, or too many uploads at once (see "
                              "Retry-After)"),
                "507": _error("the server is out of disk space"),
                **COMMON_ERRORS}}},
        "/api/generate/status": {"get": {
            "operationId": "status", "summary": "A job's state, stage, progress and ETA",
            "parameters": [JOB_ID_PARAM],
            "responses": {"200": _json(ref("Job"), "the job"),
                          "404": _error("no job with this id"),
                          "422": _error("job_id missing"), **COMMON_ERRORS}}},
        "/api/generate/result": {"get": {
            "operationId": "result", "summary": "The finished video (supports Range)",
            "parameters": [
                JOB_ID_PARAM,
                {"name": "download", "in": "query", "required": False,
                 "description": "1: send as an attachment (Save As) instead of inline",
                 "schema": {"type": "integer", "enum": [0, 1]}},
                {"name": "Range", "in": "header", "required": False,
                 "description": "bytes=START-END, as browsers send for seeking",
                 "schema": {"type": "string"}},
                TOKEN_PARAM,
            ],
            "responses": {
                "200": {"description": "the MP4 (H.264 + AAC)",
                        "headers": {"Accept-Ranges": {"schema": {"type": "string"}}},
                        "content": {"video/mp4": {"schema": {"type": "string",
                                                             "format": "binary"}}}},
                "206": {"description": "the requested byte range",
                        "headers": {"Content-Range": {"schema": {"type": "string"}}},
                        "content": {"video/mp4": {"schema": {"type": "string",
                                                             "format": "binary"}},
                                    "multipart/byteranges": {"schema": {"type": "string"}}}},
                "400": _error("malformed Range header"),
                "404": _error("no job with this id"),
                "409": _error("the job has not succeeded (yet): see state"),
                "410": _error("the video was deleted after the result TTL"),
                "416": _error("the range is outside the file"),
                "422": _error("job_id missing or download not 0/1"),
                **COMMON_ERRORS}}},
        "/api/generate/storyboard": {"get": {
            "operationId": "storyboard",
            "summary": "The job's shots (time, section, prompt, keyframe thumbnail as it is "
                       "made), from planning on, before the render finishes",
            "parameters": [JOB_ID_PARAM],
            "responses": {"200": _json(ref("Storyboard"), "the planned shots"),
                          "404": _error("no job with this id"),
                          "409": _error("the job is not planned yet (or failed before)"),
                          "422": _error("job_id missing"), **COMMON_ERRORS}}},
        "/api/generate/keyframe": {"get": {
            "operationId": "keyframe", "summary": "A shot's keyframe thumbnail (PNG)",
            "parameters": [JOB_ID_PARAM,
                           {"name": "shot", "in": "query", "required": True,
                            "schema": {"type": "integer", "minimum": 0,
                                       "maximum": 1_000_000}}],
            "responses": {"200": {"description": "a PNG, at most 256 pixels wide",
                                  "content": {"image/png": {"schema": {
                                      "type": "string", "format": "binary"}}}},
                          "404": _error("no job with this id, or no keyframe for this shot "
                                        "yet"),
                          "422": _error("job_id or shot missing or out of range"),
                          **COMMON_ERRORS}}},
        "/api/generate/cancel": {"post": {
            "operationId": "cancel",
            "summary": "Cancel a queued job, or stop a running one at its next unit of work",
            "parameters": [JOB_ID_PARAM],
            "responses": {"200": _json(ref("Job"), "the job in the state it ended in"),
                          "202": _json(ref("Job"), "still running: it stops at its next "
                                                    "unit of work"),
                          "403": CROSS_ORIGIN,
                          "404": _error("no job with this id"),
                          "409": _error("the job already succeeded or failed"),
                          "507": _error("the server is out of disk space"),
                          "422": _error("job_id missing"), **COMMON_ERRORS}}},
        "/api/generate/lyrics": {"get": {
            "operationId": "lyrics",
            "summary": "The lyrics a finished video used, with their times, or its captions "
                       "as WebVTT / SubRip",
            "parameters": [
                JOB_ID_PARAM,
                {"name": "format", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": ["json", "vtt", "srt"],
                            "default": "json"}}],
            "responses": {"200": {"description": "the lines (json), or caption text",
                                  "content": {
                                      "application/json": {"schema": ref("Lyrics")},
                                      "text/vtt": {"schema": {"type": "string"}},
                                      "application/x-subrip": {"schema": {"type": "string"}}}},
                          "404": _error("no job with this id, or its video has no lyrics"),
                          "409": _error("the job has not succeeded (yet)"),
                          "422": _error("job_id missing or format not json/vtt/srt"),
                          **COMMON_ERRORS}}},
        "/api/generate/events": {"get": {
            "operationId": "events",
            "summary": "Server-Sent Events: an event 'status' (a Job as JSON) on every "
                       "change, then 'end' when the job is finished",
            "parameters": [JOB_ID_PARAM, TOKEN_PARAM],
            "responses": {"200": {"description": "text/event-stream",
                                  "content": {"text/event-stream": {
                                      "schema": {"type": "string"}}}},
                          "404": _error("no job with this id"),
                          "422": _error("job_id missing"), **COMMON_ERRORS}}},
        "/api/jobs": {"get": {
            "operationId": "jobs", "summary": "Jobs, newest first, a page at a time",
            "parameters": [
                {"name": "limit", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
                {"name": "offset", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1,
                            "default": 0}},
                {"name": "state", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": list(STATES)}},
            ],
            "responses": {"200": _json(ref("JobList"), "one page"),
                          "422": _error("limit, offset or state out of range"),
                          **COMMON_ERRORS}}},
        "/openapi.json": {"get": {
            "operationId": "openapi", "summary": "This document", "security": [],
            "responses": {"200": {"description": "OpenAPI 3.0 as JSON",
                                  "content": {"application/json": {
                                      "schema": {"type": "object"}}}},
                          "500": COMMON_ERRORS["500"]}}},
        "/": {"get": {
            "operationId": "page", "summary": "The web page", "security": [],
            "responses": {"200": {"description": "HTML",
                                  "content": {"text/html": {"schema": {"type": "string"}}}},
                          "500": COMMON_ERRORS["500"]}}},
    }
