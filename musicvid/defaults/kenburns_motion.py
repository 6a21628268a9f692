"""Ken Burns motion: an eased, audio-reactive pan/zoom over the keyframe, sub-pixel exact.

The move of a shot (direction, amount, speed, beat pulses, the optional ``shot.motion``
keys) is computed in :mod:`musicvid.defaults.kenburns_moves` (:func:`kenburns_path`); this
module warps the frames along it and is the ``kenburns`` stage.

Rendering: the keyframe is resized once per shot (Lanczos) to ``OVERSCAN`` × the output
and converted once to I420; each frame is then one bilinear affine warp at sub-pixel
positions (nothing is rounded to whole pixels, so slow moves do not jitter): on the CPU
OpenCV's ``warpAffine`` for RGB and, for the I420 frames the encoder takes, a separable
zoom-and-pan warp of each plane with the beat pulse's brightness in the same pass
(:mod:`musicvid._warp`, about 40% less CPU than ``warpAffine``, which leaves more of the
machine to x264); on a GPU batched ``torch.nn.functional.grid_sample``. Frames are
produced lazily, as RGB or directly as I420 for the encoder (no per-frame colour
conversion).

Stage options (``--option kenburns_backend=torch``): ``kenburns_backend`` (auto, opencv,
torch; auto = torch when the render's device is an available CUDA GPU) and
``kenburns_batch`` (frames per torch batch).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._options import parse_stage_options, positive_int, stage_option
from .._video import cover_resize, i420_planes, rgb_to_i420, scale_brightness
from ..hookspecs import hookimpl
from ..protocols import StageContext
from ..stages import MotionGeneratorBase
from ..types import Analysis, Clip, Keyframe, Shot, Storyboard
from .kenburns_moves import (  # noqa: F401 - the move, re-exported
    GOLDEN_ANGLE,
    PULSE_DECAY_S,
    PULSE_GAIN,
    PULSE_ZOOM,
    KenBurnsPath,
    _energy_curve,
    _param,
    ease_in_out,
    kenburns_path,
    pulse_envelope,
    shot_pulses,
)

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = ["KenBurnsMotion", "KenBurnsPath", "KenBurnsRenderer", "cover_resize",
           "ease_in_out", "kenburns_path", "pulse_envelope", "shot_pulses"]

OVERSCAN = 1.25  # the keyframe is scaled once to this much more than the output


@dataclass(frozen=True)
class KenBurnsOptions:
    """``--option kenburns_backend=opencv``, ``kenburns_batch=8``."""

    backend: str = stage_option("auto", choices=("auto", "opencv", "torch"),
                                help="auto: torch on an available CUDA device, else OpenCV")
    batch: int = stage_option(8, positive_int, "a positive integer",
                              help="frames warped per torch call")


class KenBurnsRenderer:
    """Warps one source image along a :class:`KenBurnsPath` to ``width``×``height``.

    ``source`` is the RGB image already scaled to ``overscan`` × the output (it is never
    resized again). ``backend`` is ``"opencv"`` or ``"torch"`` (``device`` picks where).
    """

    def __init__(self, source: np.ndarray, width: int, height: int, *,
                 overscan: float = OVERSCAN, backend: str = "opencv", device: str = "cpu",
                 batch: int = 8):
        self.source = source
        self.width, self.height = width, height
        self.overscan = overscan
        self.backend = backend
        self.device = device
        self.batch = batch
        self._i420: np.ndarray | None = None

    def affines(self, path: KenBurnsPath) -> np.ndarray:
        """``(F, 4)``: ``ax, bx, ay, by`` with source = a·output + b, in pixel-centre units."""
        import numpy as np

        sh, sw = self.source.shape[:2]
        s = self.overscan * path.zoom
        win_w, win_h = sw / s, sh / s
        x0 = np.clip(path.cx * sw - win_w / 2, 0.0, sw - win_w)
        y0 = np.clip(path.cy * sh - win_h / 2, 0.0, sh - win_h)
        ax, ay = win_w / self.width, win_h / self.height
        return np.stack([ax, x0 + 0.5 * ax - 0.5, ay, y0 + 0.5 * ay - 0.5], axis=1)

    @staticmethod
    def chroma_affines(aff: np.ndarray) -> np.ndarray:
        """The same warp for the half-size chroma planes (chroma centred between luma)."""
        out = aff.copy()
        out[:, 1] = (0.5 * aff[:, 0] + aff[:, 1] - 0.5) / 2
        out[:, 3] = (0.5 * aff[:, 2] + aff[:, 3] - 0.5) / 2
        return out

    def source_i420(self) -> np.ndarray:
        if self._i420 is None:
            self._i420 = rgb_to_i420(self.source)
        return self._i420

    # -- OpenCV --------------------------------------------------------------------------
    def _cv_rgb(self, path: KenBurnsPath) -> Iterator[np.ndarray]:
        import cv2
        import numpy as np

        w, h = self.width, self.height
        for (ax, bx, ay, by), g in zip(self.affines(path), path.gain):
            m = np.array([[ax, 0.0, bx], [0.0, ay, by]])
            frame = cv2.warpAffine(self.source, m, (w, h),
                                   flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                   borderMode=cv2.BORDER_REFLECT)
            yield scale_brightness(frame, float(g), "rgb")

    def _cv_i420(self, path: KenBurnsPath) -> Iterator[np.ndarray]:
        import numpy as np

        from .._warp import brightness_lut, warp_plane

        w, h = self.width, self.height
        sh, sw = self.source.shape[:2]
        ys, us, vs = i420_planes(self.source_i420(), sw, sh)
        aff = self.affines(path)
        caff = self.chroma_affines(aff)
        for (ax, bx, ay, by), (cax, cbx, cay, cby), g in zip(aff, caff, path.gain):
            g = float(g)
            # below half a code value the rounded frame is unchanged (as scale_brightness)
            g = 1.0 if abs(g - 1.0) * 239.0 < 0.5 else g
            ly, lc = (None, None) if g == 1.0 else (brightness_lut(g, "y"),
                                                    brightness_lut(g, "c"))
            buf = np.empty((h * 3 // 2, w), np.uint8)
            yo, uo, vo = i420_planes(buf, w, h)
            warp_plane(ys, ax, bx, ay, by, ly, yo)
            warp_plane(us, cax, cbx, cay, cby, lc, uo)
            warp_plane(vs, cax, cbx, cay, cby, lc, vo)
            yield buf

    # -- torch -----------------------------------------------------------------------------
    def _torch_frames(self, path: KenBurnsPath, layout: str) -> Iterator[np.ndarray]:
        from .._torch import require_torch

        torch = require_torch("motion", "kenburns")
        import torch.nn.functional as F

        dev = torch.device(self.device)
        w, h = self.width, self.height
        aff_all = self.affines(path)
        if layout == "rgb":
            src = torch.from_numpy(self.source).to(dev).permute(2, 0, 1)[None].float()
            planes = [(src, w, h, aff_all, "rgb")]
        else:
            sh, sw = self.source.shape[:2]
            ys, us, vs = i420_planes(self.source_i420(), sw, sh)
            y_t = torch.from_numpy(ys).to(dev)[None, None].float()
            uv_t = torch.stack([torch.from_numpy(us), torch.from_numpy(vs)]).to(dev)[None].float()
            planes = [(y_t, w, h, aff_all, "y"), (uv_t, w // 2, h // 2,
                                                  self.chroma_affines(aff_all), "uv")]
        gains = torch.as_tensor(path.gain, dtype=torch.float32, device=dev)
        with torch.inference_mode():
            for b0 in range(0, len(path), self.batch):
                g = gains[b0:b0 + self.batch].view(-1, 1, 1, 1)
                outs = []
                for src, ow, oh, aff, kind in planes:
                    a = torch.as_tensor(aff[b0:b0 + self.batch], dtype=torch.float64, device=dev)
                    n = a.shape[0]
                    sh_p, sw_p = src.shape[-2:]
                    xs = torch.arange(ow, device=dev, dtype=torch.float64)
                    ys_ = torch.arange(oh, device=dev, dtype=torch.float64)
                    gx = (2 * (a[:, 0:1] * xs[None] + a[:, 1:2]) + 1) / sw_p - 1
                    gy = (2 * (a[:, 2:3] * ys_[None] + a[:, 3:4]) + 1) / sh_p - 1
                    grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]),
                                       dim=-1).float()
                    out = F.grid_sample(src.expand(n, -1, -1, -1), grid, mode="bilinear",
                                        padding_mode="reflection", align_corners=False)
                    if kind == "rgb":
                        out = out * g
                    elif kind == "y":
                        out = torch.where(g != 1, (16 + g * (out - 16)).clamp(max=235), out)
                    else:
                        out = torch.where(g != 1, (128 + g * (out - 128)).clamp(16, 240), out)
                    outs.append(out.round_().clamp_(0, 255).to(torch.uint8))
                if layout == "rgb":
                    batch = outs[0].permute(0, 2, 3, 1).contiguous().cpu().numpy()
                else:
                    n = outs[0].shape[0]
                    flat = torch.cat([outs[0].reshape(n, -1), outs[1].reshape(n, -1)], dim=1)
                    batch = flat.cpu().numpy().reshape(n, h * 3 // 2, w)
                yield from batch

    # -- public ----------------------------------------------------------------------------
    def rgb(self, path: KenBurnsPath) -> Iterator[np.ndarray]:
        if self.backend == "torch":
            return self._torch_frames(path, "rgb")
        return self._cv_rgb(path)

    def i420(self, path: KenBurnsPath) -> Iterator[np.ndarray]:
        if self.backend == "torch":
            return self._torch_frames(path, "i420")
        return self._cv_i420(path)


def overscanned_size(width: int, height: int, overscan: float = OVERSCAN) -> tuple[int, int]:
    """The even source size for an output of width×height."""
    return (max(2, int(round(width * overscan / 2)) * 2),
            max(2, int(round(height * overscan / 2)) * 2))


def choose_backend(ctx: StageContext) -> tuple[str, str]:
    """``(backend, device)`` for this render: torch on a CUDA GPU, else OpenCV."""
    backend = parse_stage_options(ctx.config.options, "kenburns", KenBurnsOptions).backend
    device = ctx.config.device
    if backend == "opencv":
        return "opencv", "cpu"
    if backend == "auto":
        if not device.startswith("cuda"):
            return "opencv", "cpu"
        try:
            import torch
        except ImportError:
            return "opencv", "cpu"
        if not torch.cuda.is_available():
            return "opencv", "cpu"
        return "torch", device
    from .._torch import resolve_device

    return "torch", resolve_device(device)


class KenBurnsMotion(MotionGeneratorBase):
    """Sub-pixel, audio-reactive pan/zoom over a once-upscaled keyframe."""

    name = "kenburns"
    version = 2
    cacheable = False  # recomputing is faster than reading frames back
    Options = KenBurnsOptions

    def __init__(self) -> None:
        # the last upscaled keyframe: consecutive shots of one picture share it
        self._last: tuple[tuple[Any, ...], Any, KenBurnsRenderer] | None = None
        self._lock = threading.Lock()

    def _renderer(self, image: Any, w: int, h: int, backend: str, device: str,
                  batch: int) -> KenBurnsRenderer:
        key = (id(image), w, h, backend, device, batch)
        with self._lock:
            last = self._last
            if last is not None and last[0] == key and last[1] is image:
                return last[2]
        sw, sh = overscanned_size(w, h)
        r = KenBurnsRenderer(cover_resize(image, sw, sh), w, h, backend=backend,
                             device=device, batch=batch)
        with self._lock:
            self._last = (key, image, r)  # holding the image keeps its id from being reused
        return r

    def animate(self, keyframe: Keyframe, shot: Shot, storyboard: Storyboard,
                analysis: Analysis, ctx: StageContext) -> Clip:
        w, h = storyboard.width, storyboard.height
        path = kenburns_path(shot, analysis, storyboard)
        backend, device = choose_backend(ctx)
        batch = self.options(ctx).batch
        state: dict[str, KenBurnsRenderer] = {}

        def renderer() -> KenBurnsRenderer:
            if "r" not in state:  # the keyframe is upscaled on first use (once per picture)
                state["r"] = self._renderer(keyframe.image, w, h, backend, device, batch)
            return state["r"]

        def frames() -> Iterator[np.ndarray]:
            yield from renderer().rgb(path)

        def yuv420() -> Iterator[np.ndarray]:
            yield from renderer().i420(path)

        return Clip(shot.frame_count, w, h, frames,
                    meta={"motion": self.name, "backend": backend}, yuv420=yuv420)


@hookimpl
def register_motion_generators(register):  # type: ignore[no-untyped-def]
    register(KenBurnsMotion)
