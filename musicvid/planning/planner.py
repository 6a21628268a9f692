"""Analysis + options -> Storyboard. See docs/storyboard.md for the format and the rules."""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from ..config import RenderConfig
from ..types import Analysis, Section, Shot, Storyboard, frame_count_for
from .beats import BeatGrid, beat_grid
from .cuts import Segment, energy_scorer, faded_frame, section_segments, shot_cuts
from .prompts import VisualIdentity, choose_identity, derive_seed, negative_prompt, role_of
from .writers import MOTION_PARAMS, ShotBrief, write_prompts

__all__ = ["MAX_SHOT_SECONDS", "MIN_SHOT_SECONDS", "PLANNER_VERSION", "crossfade_frames",
           "min_shot_frames", "plan"]

log = logging.getLogger(__name__)

PLANNER_VERSION = 5
MIN_SHOT_SECONDS = 1.0  # nothing shorter: faster cutting reads as flicker
MAX_SHOT_SECONDS = 8.0  # a soft limit: only a short leftover at a section's end exceeds it
CROSSFADE_SECONDS = 1 / 6  # the default crossfade at section changes ("a few frames")
PULSE_MIN = 0.05  # weaker downbeat pulses are left out


@dataclass(frozen=True)
class _Family:
    """Shots of one section role and repeat group share prompts and seeds."""

    label: str
    group: int
    energy: float


def crossfade_frames(config: RenderConfig) -> int:
    """The crossfade length at section changes: the config's, or about 1/6 s."""
    if config.crossfade_frames is not None:
        return int(config.crossfade_frames)
    return max(2, int(round(config.fps * Fraction(CROSSFADE_SECONDS))))


def min_shot_frames(config: RenderConfig) -> int:
    """The shortest shot the planner makes, in frames."""
    return max(1, int(round(MIN_SHOT_SECONDS * config.fps)))


def _sections(analysis: Analysis) -> list[Section]:
    secs = sorted((s for s in analysis.sections if s.end > s.start), key=lambda s: s.start)
    if secs:
        return secs
    mean = sum(analysis.energy) / len(analysis.energy) if analysis.energy else 0.5
    return [Section(0.0, max(analysis.duration, 0.0), "verse", 0, round(mean, 4))]


def _mean_energy(analysis: Analysis, t0: float, t1: float) -> float:
    if not analysis.energy:
        sec = analysis.section_at(t0)
        return float(sec.energy) if sec else 0.5
    rate = float(analysis.curve_fps) or 30.0
    i0 = min(len(analysis.energy) - 1, max(0, int(t0 * rate)))
    i1 = min(len(analysis.energy), max(i0 + 1, int(round(t1 * rate))))
    chunk = analysis.energy[i0:i1]
    return float(sum(chunk) / len(chunk))


def _allocate(needed: dict[_Family, int], budget: int | None) -> dict[_Family, int]:
    """How many distinct keyframes each family gets: every family one first, then a
    second each, and so on, in order of first appearance, until the budget is spent."""
    if budget is None:
        return dict(needed)
    got = dict.fromkeys(needed, 0)
    left = budget
    rnd = 0
    while left > 0 and any(got[f] < n for f, n in needed.items()):
        for fam, n in needed.items():
            if left and rnd < n:
                got[fam] += 1
                left -= 1
        rnd += 1
    return got


def _stand_in(fam: _Family, got: dict[_Family, int]) -> _Family:
    """A family with keyframes to lend when ``fam`` got none: the same role if any, else
    the closest in energy (earliest on ties)."""
    funded = [f for f, n in got.items() if n > 0]
    same = [f for f in funded if f.label == fam.label]
    if same:
        return same[0]
    return min(funded, key=lambda f: abs(f.energy - fam.energy))


def _pulses(start: int, end: int, bar_frames: list[int], energy_at: Any, fps: Fraction,
            strength: float, skip_first: bool) -> list[list[float]]:
    out: list[list[float]] = []
    for f in bar_frames[bisect.bisect_left(bar_frames, start):bisect.bisect_left(bar_frames, end)]:
        if skip_first and f == start:
            continue
        t = float(f / fps)
        s = round(min(1.0, max(0.0, strength * energy_at(t, t + 0.15))), 3)
        if s >= PULSE_MIN:
            out.append([f - start, s])
    return out


def plan(analysis: Analysis, config: RenderConfig, lyrics: Any = None) -> Storyboard:
    """Plan the shots of a video for ``analysis`` under ``config``; deterministic.

    Cuts land on beat frames (section changes on bar lines); shot lengths follow tempo
    and energy; prompts share one visual identity; repeats of a section reuse their
    prompts and seeds; at most ``config.max_keyframes`` distinct keyframes. The words
    come from the configured prompt writer (:mod:`.writers`), which also gets ``lyrics``.
    """
    fps = config.fps
    n = frame_count_for(analysis.duration, fps)
    min_frames = max(1, int(round(MIN_SHOT_SECONDS * fps)))
    max_frames = max(min_frames, int(round(MAX_SHOT_SECONDS * fps)))
    grid: BeatGrid = beat_grid(analysis)
    sections = _sections(analysis)
    score = energy_scorer(analysis)
    frames = grid.at(fps, n)
    frames = replace(frames, faded=faded_frame(analysis, fps, frames.ending, n))
    segments: list[Segment] = section_segments(sections, frames, fps, n, min_frames)

    # 1. frames: segments, then shots inside each segment
    spans: list[tuple[int, int, int, int]] = []  # (start, end, segment index, shot in segment)
    for si, seg in enumerate(segments):
        cuts = shot_cuts(seg, sections[seg.section], frames, fps, score, min_frames, max_frames)
        bounds = [seg.start, *cuts, seg.end]
        for k, (a, b) in enumerate(zip(bounds, bounds[1:])):
            spans.append((a, b, si, k))

    # 2. prompt and seed families; the keyframe budget
    identity: VisualIdentity = choose_identity(config)
    families: list[_Family] = []
    seg_family: list[_Family] = []
    for seg in segments:
        sec = sections[seg.section]
        fam = next((f for f in families if (f.label, f.group) == (sec.label, sec.group)), None)
        if fam is None:
            fam = _Family(sec.label, int(sec.group), float(sec.energy))
            families.append(fam)
        seg_family.append(fam)
    needed: dict[_Family, int] = {}
    for _, _, si, k in spans:
        fam = seg_family[si]
        needed[fam] = max(needed.get(fam, 0), k + 1)
    got = _allocate(needed, config.max_keyframes)

    def keyframe_of(fam: _Family, variant: int) -> tuple[tuple[_Family, int], int]:
        if got[fam] == 0:
            fam = _stand_in(fam, got)
        v = variant % got[fam]
        family_seed = derive_seed(config.seed, "family", fam.label, fam.group)
        return (fam, v), derive_seed(family_seed, "variant", v)

    # the words: one brief per distinct keyframe, to the prompt writer
    negative = negative_prompt(config)
    brief_of: dict[tuple[_Family, int], int] = {}
    briefs: list[ShotBrief] = []
    for i, (a, b, si, k) in enumerate(spans):
        kf, _ = keyframe_of(seg_family[si], k)
        if kf in brief_of:
            old = briefs[brief_of[kf]]
            briefs[brief_of[kf]] = replace(old, shots=(*old.shots, i))
            continue
        brief_of[kf] = len(briefs)
        briefs.append(ShotBrief(len(briefs), i, (i,), float(a / fps), float(b / fps),
                                kf[0].label, role_of(kf[0].label), kf[0].group, kf[1],
                                kf[0].energy))
    texts, writer_meta = write_prompts(analysis, config, identity, briefs, negative, lyrics)

    # 3. shots, transitions, pulses
    original = {id(sec): i for i, sec in enumerate(analysis.sections)}

    def section_index(seg: Segment) -> int:  # in analysis.sections (0 if the planner made it)
        return original.get(id(sections[seg.section]), 0)

    fade = crossfade_frames(config)
    bar_frames = frames.bars
    shots: list[Shot] = []
    for i, (a, b, si, k) in enumerate(spans):
        seg = segments[si]
        sec = sections[seg.section]
        kf, seed = keyframe_of(seg_family[si], k)
        text = texts[brief_of[kf]]
        prompt = text.prompt
        t0, t1 = float(a / fps), float(b / fps)
        transition, fade_n = "cut", 0
        if si > 0 and k == 0 and fade > 0:
            fade_n = min(fade, shots[-1].frame_count // 2, (b - a) // 2)
            if fade_n > 0:
                transition = "crossfade"
        motion: dict[str, Any] = {"kind": "auto"}
        if text.motion and text.motion != "auto":
            motion["hint"] = text.motion
            motion.update(MOTION_PARAMS.get(text.motion, {}))
        if config.pulse > 0:
            pulses = _pulses(a, b, bar_frames, lambda x, y, s=sec: score(x, y, s), fps,
                             config.pulse, skip_first=transition == "crossfade")
            if pulses:
                motion["pulses"] = pulses
        shots.append(Shot(
            index=i, start_frame=a, end_frame=b, prompt=prompt, seed=seed,
            negative_prompt=text.negative_prompt or negative, section=sec.label,
            section_index=section_index(seg),
            group=int(sec.group), motion=motion, transition=transition,
            transition_frames=fade_n, energy=round(_mean_energy(analysis, t0, t1), 4),
        ))

    meta = {
        "genre": config.genre.value, "style": config.style.value,
        "palette": config.palette.value, "seed": config.seed, "tempo": analysis.tempo,
        "planner": PLANNER_VERSION, "identity": identity.to_dict(),
        "grade": {"palette": config.palette.value, "strength": config.grade},
        "keyframes": len({(s.prompt, s.seed) for s in shots}),
        "max_keyframes": config.max_keyframes,
        "sections": [{"index": section_index(seg), "label": sections[seg.section].label,
                      "group": int(sections[seg.section].group),
                      "start_frame": seg.start, "end_frame": seg.end} for seg in segments],
        "filled_beats": sum(1 for d in grid.detected if not d),
        **writer_meta,
    }
    board = Storyboard(fps=fps, frame_count=n, shots=shots, width=config.width,
                       height=config.height, meta=meta)
    board.validate()
    log.info("planned %d shots in %d sections, %d distinct keyframes", len(shots),
             len(segments), meta["keyframes"])
    return board
