"""The user's direction on the server: concept and reference fields, the storyboard view.

- ``concept``, ``section_prompts`` and ``ip_adapter_scale`` are job options of the
  option schema (:mod:`musicvid.options`): the form takes and checks them like genre.
- ``reference`` file parts (up to :data:`MAX_REFERENCES`, each at most
  :data:`MAX_REFERENCE_BYTES`) are checked by decoding them with PIL (never by name or
  content type), kept in the job's folder for the render, and deleted with its inputs;
  a bad one fails the request with a 4xx JSON error and nothing is kept.
- After planning, the worker writes the job's storyboard (``storyboard.json``) and its
  keyframe cache keys; ``GET /api/generate/storyboard`` returns each shot's time,
  section and prompt with a thumbnail URL once its keyframe exists, and ``GET
  /api/generate/keyframe`` serves that thumbnail (PNG) — before the render finishes.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

from musicvid import MusicVidError, Storyboard
from musicvid.cache import Cache

from .errors import ApiError

__all__ = ["MAX_REFERENCES", "MAX_REFERENCE_BYTES", "THUMB_WIDTH",
           "keyframe_thumbnail", "storyboard_view", "store_references",
           "validate_reference", "write_storyboard"]

MAX_REFERENCES = 4
MAX_REFERENCE_BYTES = 10 * 1024 * 1024
MAX_REFERENCE_PIXELS = 40_000_000
REFERENCE_FORMATS = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp"}
THUMB_WIDTH = 256
STORYBOARD_FILE = "storyboard.json"
KEYFRAMES_FILE = "keyframes.json"


def validate_reference(path: Path) -> str:
    """Decode the picture at ``path`` fully; its file extension, or a 415/422 ApiError."""
    from PIL import Image, UnidentifiedImageError

    if path.stat().st_size == 0:
        raise ApiError(415, "unsupported_media_type", "a reference picture is empty",
                       field="reference")
    try:
        with Image.open(path) as im:
            fmt = im.format or ""
            if fmt not in REFERENCE_FORMATS:
                raise ApiError(415, "unsupported_media_type",
                               f"a reference picture is {fmt or 'not a picture'}; send PNG, "
                               "JPEG or WebP", field="reference")
            w, h = im.size
            if w < 16 or h < 16 or w * h > MAX_REFERENCE_PIXELS:
                raise ApiError(422, "invalid_reference",
                               f"a reference picture is {w}x{h}; send 16x16 up to "
                               f"{MAX_REFERENCE_PIXELS // 1_000_000} megapixels",
                               field="reference")
            im.load()  # decode every pixel: a truncated file fails here
    except ApiError:
        raise
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError,
            Image.DecompressionBombError):
        raise ApiError(415, "unsupported_media_type",
                       "a reference is not a picture that can be decoded; send PNG, JPEG or "
                       "WebP", field="reference") from None
    return REFERENCE_FORMATS[fmt]


def store_references(uploads: list[tuple[Path, str]], folder: Path) -> list[Path]:
    """Move validated uploads into ``folder/reference``; returns their new paths."""
    target = folder / "reference"
    target.mkdir(parents=True, exist_ok=True)
    out = []
    for i, (path, ext) in enumerate(uploads):
        dest = target / f"{i}{ext}"
        os.replace(path, dest)
        out.append(dest)
    return out


def write_storyboard(folder: Path, board: Storyboard, keys: dict[int, str],
                     cache_root: Path) -> None:
    """What the storyboard view reads: the plan, and where each keyframe will be."""
    for name, text in ((STORYBOARD_FILE, board.to_json()),
                       (KEYFRAMES_FILE, json.dumps({"cache": str(cache_root),
                                                    "keys": {str(k): v for k, v in
                                                             keys.items()}}))):
        tmp = folder / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, folder / name)


def _read(folder: Path) -> tuple[Storyboard, dict[str, Any]] | None:
    try:
        board = Storyboard.load(folder / STORYBOARD_FILE)
        keys = json.loads((folder / KEYFRAMES_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, MusicVidError):
        return None
    return board, keys


def _keyframe_path(keys: dict[str, Any], index: int) -> Path | None:
    key = keys.get("keys", {}).get(str(index))
    if not isinstance(key, str) or not key.isalnum():
        return None
    path = Cache(Path(keys["cache"])).path("keyframe", key, ".png")
    return path if path.is_file() else None


def storyboard_view(folder: Path, job_id: str) -> dict[str, Any] | None:
    """The storyboard JSON of the API (None before the job is planned)."""
    read = _read(folder)
    if read is None:
        return None
    board, keys = read
    fps = float(board.fps)
    shots = []
    for s in board.shots:
        ready = _keyframe_path(keys, s.index) is not None
        shots.append({
            "index": s.index, "start": round(s.start_frame / fps, 3),
            "end": round(s.end_frame / fps, 3), "section": s.section, "prompt": s.prompt,
            "keyframe_url": (f"/api/generate/keyframe?job_id={job_id}&shot={s.index}"
                             if ready else None)})
    return {"job_id": job_id, "fps": str(board.fps), "frame_count": board.frame_count,
            "keyframes_ready": sum(1 for s in shots if s["keyframe_url"]),
            "concept": board.meta.get("concept", {}).get("used"),
            "prompt_writer": board.meta.get("prompt_writer", {}).get("name"),
            "shots": shots}


def keyframe_thumbnail(folder: Path, index: int) -> bytes | None:
    """A PNG thumbnail of shot ``index``'s keyframe, or None if it is not made (yet)."""
    from PIL import Image

    read = _read(folder)
    if read is None:
        return None
    path = _keyframe_path(read[1], index)
    if path is None:
        return None
    with Image.open(path) as im:
        im = im.convert("RGB")
        if im.width > THUMB_WIDTH:
            im = im.resize((THUMB_WIDTH, max(1, round(im.height * THUMB_WIDTH / im.width))),
                           Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        im.save(buf, format="PNG")
    return buf.getvalue()
