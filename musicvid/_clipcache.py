"""Motion clips on disk: lossless RGB H.264 (libx264rgb, qp 0) in Matroska."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from .cache import Cache
from .types import Clip

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np


def read_clip(path: Path, frame_count: int, width: int, height: int) -> Clip:
    def frames() -> Iterator[np.ndarray]:
        import av

        with av.open(str(path)) as c:
            for f in c.decode(video=0):
                yield f.to_ndarray(format="rgb24")

    return Clip(frame_count, width, height, frames, meta={"cached": True})


def recording(clip: Clip, cache: Cache, key: str, fps: Fraction) -> Clip:
    """``clip``, also written to the cache as it streams (committed only when complete)."""

    def frames() -> Iterator[np.ndarray]:
        import av

        with cache.writing("clip", key, ".mkv") as tmp:
            with av.open(str(tmp), mode="w", format="matroska") as out:
                vs = out.add_stream("libx264rgb", rate=fps)
                vs.width, vs.height, vs.pix_fmt = clip.width, clip.height, "rgb24"
                vs.options = {"qp": "0", "preset": "ultrafast"}
                for i, rgb in enumerate(clip):
                    vf = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                    vf.pts = i
                    out.mux(vs.encode(vf))
                    yield rgb
                out.mux(vs.encode(None))

    return Clip(clip.frame_count, clip.width, clip.height, frames, meta=dict(clip.meta))
