"""A content-addressed on-disk cache for stage results.

Keys are SHA-256 hashes of canonical JSON of everything that decides a result (audio
hash, options, model id, prompt, seed...). Writes go to a temporary file renamed into
place, so a crash never leaves a half-written entry and concurrent writers are safe.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

__all__ = ["Cache", "cache_key", "file_sha256"]

log = logging.getLogger(__name__)

CACHE_VERSION = 1


def _default(obj: Any) -> Any:
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, (Fraction, Path)):
        return str(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"cannot hash {type(obj).__name__} in a cache key")


def cache_key(kind: str, parts: dict[str, Any]) -> str:
    """The hex SHA-256 of ``kind`` and ``parts`` as canonical JSON."""
    blob = json.dumps({"v": CACHE_VERSION, "kind": kind, **parts}, sort_keys=True,
                      default=_default, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


class Cache:
    """Entries live at ``root/<kind>/<key[:2]>/<key><suffix>``."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, kind: str, key: str, suffix: str) -> Path:
        return self.root / kind / key[:2] / f"{key}{suffix}"

    def lookup(self, kind: str, key: str, suffix: str) -> Path | None:
        p = self.path(kind, key, suffix)
        return p if p.is_file() else None

    @contextmanager
    def writing(self, kind: str, key: str, suffix: str) -> Iterator[Path]:
        """Yield a temporary path to write; on success it is renamed to the entry."""
        final = self.path(kind, key, suffix)
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=final.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        try:
            yield tmp_path
            os.replace(tmp_path, final)
        finally:
            if tmp_path.exists():
                tmp_path.unlink()

    # JSON
    def get_json(self, kind: str, key: str) -> Any | None:
        p = self.lookup(kind, key, ".json")
        if p is None:
            return None
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            log.warning("ignoring unreadable cache entry %s", p)
            return None

    def put_json(self, kind: str, key: str, value: Any) -> None:
        with self.writing(kind, key, ".json") as tmp:
            tmp.write_text(json.dumps(value, default=_default), encoding="utf-8")

    # images
    def get_image(self, kind: str, key: str) -> Image.Image | None:
        p = self.lookup(kind, key, ".png")
        if p is None:
            return None
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(p) as im:
                return im.convert("RGB")
        except (OSError, UnidentifiedImageError):
            log.warning("ignoring unreadable cache entry %s", p)
            return None

    def put_image(self, kind: str, key: str, image: Image.Image) -> None:
        with self.writing(kind, key, ".png") as tmp:
            image.save(tmp, format="PNG", compress_level=1)
