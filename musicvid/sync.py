"""The sync report: how close each cut sits to a beat, and whether picture and sound agree.

Written beside every render (``out.mp4`` -> ``out.sync.json``) and summed up in one line
on the command line. For each cut (the first frame of every shot after the first): its
time, the nearest beat the analyzer detected, and the signed offset in milliseconds
(positive: the cut comes after the beat). Then the mean and largest absolute offsets, how
many cuts sit within one frame of a beat, and the difference between the video and the
audio durations in frames. With lyrics, each line's caption on and off times (the frames
it is drawn on, burned or soft) against the lyric timestamps it came from.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .types import Analysis, Storyboard

if TYPE_CHECKING:  # pragma: no cover
    from .protocols import CompositeResult

__all__ = ["SyncReport", "caption_times", "sync_path", "sync_report"]


def caption_times(storyboard: Storyboard) -> list[dict[str, Any]]:
    """Each lyric line's caption: the frames it shows on, their times, and the offsets in
    milliseconds from the line's own start and end ([] without lyrics)."""
    from .captions import caption_events
    from .lyrics.storyboard import lyrics_of

    lyrics = lyrics_of(storyboard)
    if lyrics is None:
        return []
    fps = storyboard.fps
    spans: dict[int, list[int]] = {}
    for ev in caption_events(lyrics, fps, storyboard.frame_count):
        span = spans.setdefault(ev.line, [ev.start, ev.end])
        span[1] = ev.end
    out = []
    for i, line in enumerate(lyrics.lines):
        if i not in spans:
            continue
        on, off = spans[i]
        t_on, t_off = float(Fraction(on) / fps), float(Fraction(off) / fps)
        out.append({"line": i, "text": line.text, "start": round(line.start, 6),
                    "end": round(line.end, 6), "on_frame": on, "off_frame": off,
                    "on_time": round(t_on, 6), "off_time": round(t_off, 6),
                    "on_offset_ms": round((t_on - line.start) * 1000.0, 3),
                    "off_offset_ms": round((t_off - line.end) * 1000.0, 3)})
    return out


def sync_path(output: str | Path) -> Path:
    """Where the report of ``output`` goes: ``out.mp4`` -> ``out.sync.json``."""
    p = Path(output)
    return p.with_name(f"{p.stem}.sync.json")


@dataclass
class SyncReport:
    fps: float
    fps_rational: str
    frame_count: int
    beats: int  # beats the analyzer detected
    cuts: list[dict[str, Any]] = field(default_factory=list)
    mean_abs_offset_ms: float | None = None
    max_abs_offset_ms: float | None = None
    cuts_within_one_frame: int = 0
    video_frames: int | None = None
    video_duration: float | None = None
    audio_duration: float | None = None
    av_delta_frames: float | None = None  # (video - audio) duration, in frames
    song_duration: float = 0.0
    captions: list[dict[str, Any]] = field(default_factory=list)
    captions_within_one_frame: int | None = None  # lines on and off within a frame

    def summary(self) -> str:
        """One line: cuts, offsets to the beat, and the video/audio difference."""
        n = len(self.cuts)
        if not n:
            cuts = "one shot, no cuts"
        elif self.mean_abs_offset_ms is None:
            cuts = f"{n} cuts, no beats detected to compare with"
        else:
            cuts = (f"{n} cuts, offset to nearest beat mean {self.mean_abs_offset_ms:.1f} ms, "
                    f"max {self.max_abs_offset_ms:.1f} ms, {self.cuts_within_one_frame}/{n} "
                    f"within one frame")
        av = ("" if self.av_delta_frames is None
              else f"; video - audio {self.av_delta_frames:+.2f} frames")
        caps = ("" if not self.captions else
                f"; {self.captions_within_one_frame}/{len(self.captions)} captions within one "
                "frame of their lyric times")
        return f"sync: {cuts}{av}{caps}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def write(self, path: str | Path) -> Path:
        p = Path(path)
        p.write_text(self.to_json() + "\n", encoding="utf-8")
        return p


def sync_report(storyboard: Storyboard, analysis: Analysis,
                composite: CompositeResult | None = None) -> SyncReport:
    """Measure ``storyboard``'s cuts against ``analysis``'s beats (and the written video)."""
    fps = storyboard.fps
    beats = sorted(float(b) for b in analysis.beats)
    frame_ms = 1000.0 / float(fps)
    cuts: list[dict[str, Any]] = []
    offsets: list[float] = []
    prev_section: int | None = None
    for shot in storyboard.shots:
        changed = prev_section is not None and shot.section_index != prev_section
        prev_section = shot.section_index
        if shot.start_frame == 0:
            continue
        t = float(Fraction(shot.start_frame) / fps)
        entry: dict[str, Any] = {"shot": shot.index, "frame": shot.start_frame,
                                 "time": round(t, 6), "section": shot.section,
                                 "section_change": changed, "transition": shot.transition,
                                 "beat": None, "offset_ms": None}
        if beats:
            i = bisect.bisect_left(beats, t)
            nearest = min((beats[j] for j in (i - 1, i) if 0 <= j < len(beats)),
                          key=lambda b: abs(b - t))
            off = (t - nearest) * 1000.0
            entry["beat"] = round(nearest, 6)
            entry["offset_ms"] = round(off, 3)
            offsets.append(off)
        cuts.append(entry)
    report = SyncReport(fps=float(fps), fps_rational=f"{fps.numerator}/{fps.denominator}",
                        frame_count=storyboard.frame_count, beats=len(beats), cuts=cuts,
                        song_duration=float(analysis.duration))
    if offsets:
        report.mean_abs_offset_ms = round(sum(abs(o) for o in offsets) / len(offsets), 3)
        report.max_abs_offset_ms = round(max(abs(o) for o in offsets), 3)
        report.cuts_within_one_frame = sum(1 for o in offsets if abs(o) <= frame_ms + 1e-6)
    report.captions = caption_times(storyboard)
    if report.captions:
        report.captions_within_one_frame = sum(
            1 for c in report.captions
            if abs(c["on_offset_ms"]) <= frame_ms + 1e-6 and abs(c["off_offset_ms"]) <= frame_ms + 1e-6)
    if composite is not None:
        report.video_frames = composite.frame_count
        report.video_duration = round(composite.video_duration, 6)
        report.audio_duration = round(composite.audio_duration, 6)
        report.av_delta_frames = round(
            (composite.video_duration - composite.audio_duration) * float(fps), 3)
    return report
