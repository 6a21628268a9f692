"""A content-addressed on-disk cache for stage results.

Keys are SHA-256 hashes of canonical JSON of everything that decides a result (audio
hash, options, model id, prompt, seed...). Writes go to a temporary file, flushed to
disk (fsync) and renamed into place, so a crash never leaves a half-written entry and
concurrent writers are safe. Entries are checked when read: an empty file, a picture
that does not decode or JSON that does not parse (or that the caller's ``parse``
refuses) is deleted and counts as a miss, so it is made again instead of failing every
job that needs it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import OutputError

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
        if self._usable(p):
            return p
        return None

    def has(self, kind: str, key: str, suffix: str) -> bool:
        """Whether a valid entry is there (pictures are verified); an invalid one is
        deleted."""
        p = self.lookup(kind, key, suffix)
        if p is None or suffix != ".png":
            return p is not None
        from PIL import Image

        try:
            with Image.open(p) as im:
                im.verify()
        except Exception as exc:  # noqa: BLE001 - PIL raises many kinds here
            self.discard(p, f"not a picture ({exc})")
            return False
        return True

    def _usable(self, p: Path) -> bool:
        try:
            size = p.stat().st_size
        except OSError:
            return False
        if not p.is_file():
            return False
        if size == 0:
            self.discard(p, "empty")
            return False
        return True

    def discard(self, p: Path, why: str) -> None:
        """Delete a bad entry so that it is made again."""
        log.warning("deleting the invalid cache entry %s: %s", p, why)
        try:
            p.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not delete %s: %s", p, exc)

    @contextmanager
    def writing(self, kind: str, key: str, suffix: str) -> Iterator[Path]:
        """Yield a temporary path to write; on success it is renamed to the entry."""
        final = self.path(kind, key, suffix)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=final.parent)
            os.close(fd)
        except OSError as exc:
            raise OutputError(f"cannot write to the cache directory {self.root}: "
                             f"{exc.strerror or exc}; pass a writable --cache-dir (or set "
                             "MUSICVID_CACHE_DIR)") from None
        tmp_path = Path(tmp)
        try:
            yield tmp_path
            try:
                with open(tmp_path, "rb") as f:  # on disk before the rename makes it visible
                    os.fsync(f.fileno())
                os.replace(tmp_path, final)
            except OSError as exc:
                raise OutputError(f"cannot write the cache entry {final}: "
                                 f"{exc.strerror or exc}") from None
        finally:
            if tmp_path.exists():
                tmp_path.unlink()

    # JSON
    def get_json(self, kind: str, key: str,
                 parse: Callable[[Any], Any] | None = None) -> Any | None:
        """The entry's JSON (through ``parse`` when given), or None when there is none;
        an entry that does not read, decode or parse is deleted."""
        p = self.lookup(kind, key, ".json")
        if p is None:
            return None
        try:
            value = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            self.discard(p, f"unreadable JSON ({exc})")
            return None
        if parse is None:
            return value
        try:
            return parse(value)
        except Exception as exc:  # noqa: BLE001 - whatever the parser refuses
            self.discard(p, f"{type(exc).__name__}: {exc}")
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
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
            self.discard(p, f"unreadable picture ({exc})")
            return None

    def put_image(self, kind: str, key: str, image: Image.Image) -> None:
        with self.writing(kind, key, ".png") as tmp:
            image.save(tmp, format="PNG", compress_level=1)
