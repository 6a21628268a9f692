"""The move of a Ken Burns shot: an eased, audio-reactive pan/zoom path, one entry per
output frame (the frames themselves are warped by
:class:`musicvid.defaults.kenburns_motion.KenBurnsRenderer`).

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
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import StoryboardError
from ..types import Analysis, Shot, Storyboard

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = ["GOLDEN_ANGLE", "PULSE_DECAY_S", "PULSE_GAIN", "PULSE_ZOOM", "KenBurnsPath",
           "ease_in_out", "kenburns_path", "pulse_envelope", "shot_pulses"]

GOLDEN_ANGLE = 137.50776405  # degrees
PULSE_ZOOM = 0.015  # zoom punch at a full-strength pulse
PULSE_GAIN = 0.07  # brightening at a full-strength pulse
PULSE_DECAY_S = 0.15  # pulse decay time constant


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
