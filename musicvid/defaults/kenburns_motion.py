"""Ken Burns motion: an eased, audio-reactive pan/zoom over the keyframe, sub-pixel exact.

The move of a shot:

- **direction**: zoom in and zoom out alternate from shot to shot, and the pan's angle
  turns by the golden angle from one shot to the next (from an offset drawn from the
  shot's seed), so neighbouring shots never make the same move, even on one keyframe;
- **amount**: zoom and pan grow with the shot's energy;
- **speed**: progress along the move follows the song's energy curve (louder passages
  move faster), eased in and out at the shot's ends;
- **pulses**: a brief zoom punch and brightening on beats: the planner's
  ``shot.motion["pulses"]`` (``[frame offset in the shot, strength 0..1]`` pairs) when it
  set them, else the analysis' beats (downbeats stronger), scaled by the energy there.

Optional ``shot.motion`` keys (a storyboard can be edited by hand): ``zoom`` (total zoom
change, e.g. 0.15), ``zoom_in`` (true/false), ``pan`` (centre travel, fraction of the
frame), ``angle`` (pan direction in degrees), ``pulse`` (scale of the pulses, 0 = off).

Rendering: the keyframe is resized once per shot (Lanczos) to ``OVERSCAN`` × the output
and converted once to I420; each frame is then one bilinear affine warp at sub-pixel
positions (nothing is rounded to whole pixels, so slow moves do not jitter), with
OpenCV on the CPU or batched ``torch.nn.functional.grid_sample`` on a GPU. Frames are
produced lazily, as RGB or directly as I420 for the encoder (no per-frame colour
conversion).

Stage options (``--option kenburns_backend=torch``): ``kenburns_backend`` (auto, opencv,
torch; auto = torch when the render's device is an available CUDA GPU) and
``kenburns_batch`` (frames per torch batch).
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._options import parse_stage_options, positive_int, stage_option
from .._video import cover_resize, i420_planes, rgb_to_i420, scale_brightness
from ..errors import StoryboardError
from ..hookspecs import hookimpl
from ..protocols import StageContext
from ..stages import MotionGeneratorBase
from ..types import Analysis, Clip, Keyframe, Shot, Storyboard

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = ["KenBurnsMotion", "KenBurnsPath", "KenBurnsRenderer", "cover_resize",
           "ease_in_out", "kenburns_path", "pulse_envelope", "shot_pulses"]

OVERSCAN = 1.25  # the keyframe is scaled once to this much more than the output
GOLDEN_ANGLE = 137.50776405  # degrees
PULSE_ZOOM = 0.015  # zoom punch at a full-strength pulse
PULSE_GAIN = 0.07  # brightening at a full-strength pulse
PULSE_DECAY_S = 0.15  # pulse decay time constant

@dataclass(frozen=True)
class KenBurnsOptions:
    """``--option kenburns_backend=opencv``, ``kenburns_batch=8``."""

    backend: str = stage_option("auto", choices=("auto", "opencv", "torch"),
                                help="auto: torch on an available CUDA device, else OpenCV")
    batch: int = stage_option(8, positive_int, "a positive integer",
                              help="frames warped per torch call")


def ease_in_out(u: Any) -> Any:
    """Cubic ease in/out on [0, 1] (scalars or numpy arrays)."""
    return 3 * u * u - 2 * u * u * u


@dataclass(frozen=True)
class KenBurnsPath:
    """Per output frame: ``zoom`` (>= 1), window centre ``cx``/``cy`` (fractions of the
    source) and brightness ``gain`` (>= 1). At zoom 1 the output shows ``1/overscan`` of
    the overscanned source; the window never leaves the source."""

    zoom: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    gain: np.ndarray

    def __len__(self) -> int:
        return len(self.zoom)


def _energy_curve(analysis: Analysis, times: np.ndarray) -> np.ndarray:
    import numpy as np

    if not analysis.energy:
        return np.full(len(times), 0.5)
    curve = np.asarray(analysis.energy, dtype=np.float64)
    idx = np.clip((times * analysis.curve_fps).astype(np.int64), 0, len(curve) - 1)
    return np.clip(curve[idx], 0.0, 1.0)


def shot_pulses(shot: Shot, analysis: Analysis, fps: float) -> list[tuple[int, float]]:
    """``(frame offset in the shot, strength)`` of each pulse in ``shot``.

    The planner's ``shot.motion["pulses"]`` when present (an empty list means none), else
    one per beat of the analysis inside the shot: downbeats ``0.6 + 0.4·energy``, other
    beats ``0.3·energy``.
    """
    raw = shot.motion.get("pulses") if isinstance(shot.motion, dict) else None
    if raw is not None:
        out = []
        try:
            for item in raw:
                offset, strength = item
                out.append((int(offset), min(1.0, max(0.0, float(strength)))))
        except (TypeError, ValueError):
            raise StoryboardError(
                f"shot {shot.index}: motion pulses must be [frame_offset, strength] pairs, "
                f"got {raw!r}") from None
        return out
    start = shot.start_frame / fps
    end = shot.end_frame / fps
    downbeats = {round(t, 3) for t in analysis.downbeats}
    pulses = []
    for t in analysis.beats:
        if start - 1.0 / fps <= t < end:
            e = analysis.energy_at(t)
            strength = 0.6 + 0.4 * e if round(t, 3) in downbeats else 0.3 * e
            pulses.append((int(round(t * fps)) - shot.start_frame, strength))
    return pulses


def pulse_envelope(shot: Shot, analysis: Analysis, fps: float) -> np.ndarray:
    """Per frame of ``shot``, the pulse level 0..1: a one-frame lead-in, a peak on the
    beat's frame and an exponential decay; overlapping pulses take the maximum."""
    import numpy as np

    n = shot.frame_count
    env = np.zeros(n)
    scale = float(shot.motion.get("pulse", 1.0)) if isinstance(shot.motion, dict) else 1.0
    if scale <= 0:
        return env
    tau = max(1e-6, PULSE_DECAY_S * fps)
    idx = np.arange(n, dtype=np.float64)
    for offset, strength in shot_pulses(shot, analysis, fps):
        d = idx - offset
        shape = np.where(d >= 0, np.exp(-np.maximum(d, 0) / tau), np.where(d >= -1, 0.4, 0.0))
        np.maximum(env, strength * shape, out=env)
    return np.clip(env * scale, 0.0, 1.0)


def _param(shot: Shot, key: str, default: Any, parse: Any = float) -> Any:
    value = shot.motion.get(key) if isinstance(shot.motion, dict) else None
    if value is None:
        return default
    try:
        return parse(value)
    except (TypeError, ValueError):
        raise StoryboardError(f"shot {shot.index}: motion {key} {value!r} is not valid") from None


def kenburns_path(shot: Shot, analysis: Analysis, storyboard: Storyboard, *,
                  zoom_in: bool | None = None) -> KenBurnsPath:
    """The move of ``shot``, one entry per output frame (see the module docstring)."""
    import numpy as np

    fps = float(storyboard.fps)
    n = shot.frame_count
    rng = random.Random(f"kenburns:{shot.seed}:{shot.index}")
    energy = min(1.0, max(0.0, float(shot.energy)))
    amount = max(0.0, _param(shot, "zoom", 0.05 + 0.17 * energy))
    if zoom_in is None:
        zoom_in = _param(shot, "zoom_in", shot.index % 2 == 0,
                         lambda v: v if isinstance(v, bool) else str(v).lower() in {"1", "true", "yes"})
    angle = math.radians(_param(shot, "angle",
                                (rng.uniform(0.0, 360.0) + shot.index * GOLDEN_ANGLE) % 360.0))
    pan = max(0.0, _param(shot, "pan", 0.03 + 0.09 * energy))

    # progress along the move: faster where the music is louder, eased at both ends
    times = (shot.start_frame + np.arange(n)) / fps
    speed = 0.35 + _energy_curve(analysis, times)
    if n > 1:
        travelled = np.concatenate([[0.0], np.cumsum(speed[:-1])])
        u = ease_in_out(travelled / travelled[-1])
    else:
        u = np.zeros(1)
    z0, z1 = (1.0, 1.0 + amount) if zoom_in else (1.0 + amount, 1.0)
    pulse = pulse_envelope(shot, analysis, fps)
    zoom = (z0 + (z1 - z0) * u) * (1.0 + PULSE_ZOOM * pulse)
    dx, dy = math.cos(angle) * pan, math.sin(angle) * pan
    return KenBurnsPath(zoom=zoom, cx=0.5 + dx * (u - 0.5), cy=0.5 + dy * (u - 0.5),
                        gain=1.0 + PULSE_GAIN * pulse)


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
        import cv2
        import numpy as np

        w, h = self.width, self.height
        sh, sw = self.source.shape[:2]
        ys, us, vs = i420_planes(self.source_i420(), sw, sh)
        aff = self.affines(path)
        caff = self.chroma_affines(aff)
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        for (ax, bx, ay, by), (cax, cbx, cay, cby), g in zip(aff, caff, path.gain):
            buf = np.empty((h * 3 // 2, w), np.uint8)
            yo, uo, vo = i420_planes(buf, w, h)
            cv2.warpAffine(ys, np.array([[ax, 0.0, bx], [0.0, ay, by]]), (w, h), dst=yo,
                           flags=flags, borderMode=cv2.BORDER_REFLECT)
            mc = np.array([[cax, 0.0, cbx], [0.0, cay, cby]])
            cv2.warpAffine(us, mc, (w // 2, h // 2), dst=uo, flags=flags,
                           borderMode=cv2.BORDER_REFLECT)
            cv2.warpAffine(vs, mc, (w // 2, h // 2), dst=vo, flags=flags,
                           borderMode=cv2.BORDER_REFLECT)
            yield scale_brightness(buf, float(g), "i420", w, h)

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
