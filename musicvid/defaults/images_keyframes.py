"""Keyframes from a folder of the user's own pictures: a photo music video cut to the beat.

Pictures are assigned to shots in file-name order, or by brightness to fit each shot's
energy (bright pictures for loud shots). Also used by SDXL img2img (``init_images``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidOptionError, MusicVidError
from ..hookspecs import hookimpl
from ..protocols import StageContext
from ..stages import KeyframeGeneratorBase
from ..types import Shot, Storyboard

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


def list_images(folder: Path | None, option: str = "--images") -> list[Path]:
    """The pictures in ``folder`` (sorted by name), or a clear error."""
    if folder is None:
        raise InvalidOptionError(option, None, hint="a folder of pictures is required")
    p = Path(folder)
    if not p.is_dir():
        raise InvalidOptionError(option, str(p), hint="not a folder")
    files = sorted((f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()),
                   key=lambda f: f.name.lower())
    if not files:
        raise InvalidOptionError(option, str(p), hint="no .jpg/.png/.webp pictures in it")
    return files


@lru_cache(maxsize=4096)
def _fingerprint(path: str, size: int, mtime_ns: int) -> tuple[str, float]:
    """(content hash, mean brightness) of a picture; cached by path/size/mtime."""
    import numpy as np
    from PIL import Image, ImageOps, UnidentifiedImageError

    data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    try:
        with Image.open(path) as im:
            gray = ImageOps.exif_transpose(im).convert("L").resize((64, 64))
            brightness = float(np.asarray(gray, dtype=np.float32).mean() / 255.0)
    except Image.DecompressionBombError as exc:
        raise MusicVidError(f"the picture {Path(path).name} is too large to load safely "
                            f"({exc}); scale it down", stage="keyframes") from None
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise MusicVidError(f"cannot read the picture {Path(path).name}: {exc}",
                            stage="keyframes") from None
    return digest, brightness


def fingerprint(path: Path) -> tuple[str, float]:
    st = path.stat()
    return _fingerprint(str(path), st.st_size, st.st_mtime_ns)


def assign(shots: Sequence[Shot], pictures: Sequence[Path], mode: str) -> dict[int, Path]:
    """Shot index -> picture. ``order``: in turn; ``energy``: brightness rank ~ energy rank.

    Shots of one repeat group that share a prompt and seed (a repeated chorus) get the
    same picture, so a repeated section looks repeated.
    """
    families: dict[tuple[str, int], list[Shot]] = {}
    for s in shots:
        families.setdefault((s.prompt, s.seed), []).append(s)
    reps = [members[0] for members in families.values()]
    if mode == "energy":
        ranked = sorted(pictures, key=lambda p: fingerprint(p)[1])
        by_energy = sorted(range(len(reps)), key=lambda i: (reps[i].energy, i))
        chosen: dict[int, Path] = {}
        n = len(ranked)
        for rank, i in enumerate(by_energy):
            pos = round(rank * (n - 1) / max(1, len(reps) - 1)) if n > 1 else 0
            chosen[i] = ranked[pos]
        picks = [chosen[i] for i in range(len(reps))]
    else:
        picks = [pictures[i % len(pictures)] for i in range(len(reps))]
    out: dict[int, Path] = {}
    for rep, pic in zip(reps, picks):
        for s in families[(rep.prompt, rep.seed)]:
            out[s.index] = pic
    return out


def _assignment(ctx: StageContext, folder: Path, option: str) -> dict[int, Path]:
    board: Storyboard | None = ctx.extra.get("storyboard")
    if board is None:
        raise MusicVidError("the images stage needs the storyboard in its context",
                            stage="keyframes")
    key = ("images-assignment", str(folder), ctx.config.image_order, id(board))
    cached = ctx.extra.get(key)
    if cached is None:
        cached = assign(board.shots, list_images(folder, option), ctx.config.image_order)
        ctx.extra[key] = cached
    return cached


def assigned_image(shot: Shot, ctx: StageContext, folder: Path | None = None,
                   option: str = "--init-images") -> tuple[Image.Image, str]:
    """The picture for ``shot``, cover-cropped to the keyframe size, and its content hash."""
    from PIL import Image as PILImage
    from PIL import ImageOps

    folder = folder or ctx.config.init_images
    if folder is None:
        raise InvalidOptionError(option, None, hint="a folder of pictures is required")
    path = _assignment(ctx, folder, option)[shot.index]
    digest, _ = fingerprint(path)
    w, h = (ctx.config.keyframe_width // 8) * 8, (ctx.config.keyframe_height // 8) * 8
    try:
        with PILImage.open(path) as im:
            fitted = ImageOps.fit(ImageOps.exif_transpose(im).convert("RGB"), (w, h),
                                  PILImage.Resampling.LANCZOS)
    except (OSError, ValueError, PILImage.DecompressionBombError) as exc:
        raise MusicVidError(f"cannot use the picture {path.name} for shot {shot.index}: {exc}",
                            stage="keyframes") from None
    return fitted, digest


class ImageKeyframes(KeyframeGeneratorBase):
    """Keyframes are the user's pictures (``--images DIR``); no model, no weights."""

    name = "images"
    batch_size = 16
    uses_prompt = False  # the picture alone makes the image: one keyframe per picture

    def preflight(self, ctx: StageContext) -> None:
        list_images(ctx.config.images, "--images")

    def cache_key_parts(self, ctx: StageContext) -> dict[str, Any]:
        c = ctx.config
        return {"w": c.keyframe_width, "h": c.keyframe_height, "order": c.image_order}

    def shot_key_parts(self, shot: Shot, ctx: StageContext) -> dict[str, Any]:
        path = _assignment(ctx, ctx.config.images, "--images")[shot.index]  # type: ignore[arg-type]
        return {"picture": fingerprint(path)[0]}

    def generate(self, shots: Sequence[Shot], ctx: StageContext) -> list[Any]:
        out = []
        for s in shots:
            ctx.check_cancelled()
            out.append(assigned_image(s, ctx, ctx.config.images, "--images")[0])
        return out


@hookimpl
def register_keyframe_generators(register):  # type: ignore[no-untyped-def]
    register(ImageKeyframes)
