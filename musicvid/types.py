"""The data that flows between stages: pure dataclasses, serialisable to JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import parse_fps
from .errors import MusicVidError, OutputError, StoryboardError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from PIL import Image

__all__ = [
    "Analysis",
    "Clip",
    "Keyframe",
    "Section",
    "Shot",
    "Storyboard",
    "frame_count_for",
]


SEED_MAX = 2**32 - 1
MAX_SIDE = 8192  # as RenderConfig: even, 16..8192 pixels
TRANSITIONS = ("cut", "crossfade")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_size(where: str, name: str, v: Any) -> int:
    if not _is_int(v) or not 16 <= v <= MAX_SIDE or v % 2:
        raise StoryboardError(f"{where}{name} must be an even number of pixels from 16 to "
                              f"{MAX_SIDE}, not {v!r}")
    return int(v)


def _field(where: str, name: str, v: Any, kind: str, lo: float | None = None,
           hi: float | None = None) -> Any:
    """``v`` if it is of ``kind`` ("int", "number", "str", "object", "list") in [lo, hi];
    else a :class:`StoryboardError` naming the field."""
    ok = {"int": _is_int(v),
          "number": (isinstance(v, (int, float)) and not isinstance(v, bool)
                     and v == v and v not in (float("inf"), float("-inf"))),
          "str": isinstance(v, str), "object": isinstance(v, dict),
          "list": isinstance(v, list)}[kind]
    if ok and lo is not None and v < lo:
        ok = False
    if ok and hi is not None and v > hi:
        ok = False
    if not ok:
        what = {"int": "an integer", "number": "a number", "str": "a string",
                "object": "a JSON object", "list": "a list"}[kind]
        span = ""
        if lo is not None and hi is not None:
            span = f" from {lo:g} to {hi:g}"
        elif lo is not None:
            span = f" of at least {lo:g}"
        shown = repr(v) if len(repr(v)) <= 40 else repr(v)[:37] + "..."
        raise StoryboardError(f"{where}{name} must be {what}{span}, not {shown}")
    return v


# Shot fields: (kind, low, high); None: no bound
SHOT_FIELDS: dict[str, tuple[str, float | None, float | None]] = {
    "index": ("int", 0, None), "start_frame": ("int", 0, None), "end_frame": ("int", 0, None),
    "prompt": ("str", None, None), "seed": ("int", 0, SEED_MAX),
    "negative_prompt": ("str", None, None), "section": ("str", None, None),
    "section_index": ("int", 0, None), "group": ("int", None, None),
    "motion": ("object", None, None), "transition": ("str", None, None),
    "transition_frames": ("int", 0, None), "energy": ("number", 0.0, 1.0),
    "lyric": ("str", None, None),
}


def frame_count_for(duration: float, fps: Fraction) -> int:
    """N = round(duration × fps): the number of video frames a song of ``duration`` gets."""
    return max(1, int(round(Fraction(duration) * fps)))


@dataclass
class Section:
    """A stretch of the song: ``label`` is its role, ``group`` is shared by repeats."""

    start: float
    end: float
    label: str = "verse"
    group: int = 0
    energy: float = 0.5

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class Analysis:
    """What the analyzer heard. Times in seconds; curves sampled at ``curve_fps``."""

    duration: float
    sample_rate: int
    tempo: float
    beats: list[float]
    tempo_confidence: float = 0.0
    downbeats: list[float] = field(default_factory=list)
    meter: int = 4
    curve_fps: float = 30.0
    energy: list[float] = field(default_factory=list)
    onset: list[float] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    key: str | None = None
    mode: str | None = None
    descriptors: dict[str, float] = field(default_factory=dict)
    audio_sha256: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Analysis:
        """An analysis from its JSON form; a :class:`MusicVidError` names a field of the
        wrong type (a cache entry or a file edited by hand)."""
        if not isinstance(data, dict):
            raise MusicVidError(f"an analysis is a JSON object, not {type(data).__name__}")
        where = "the analysis's "
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise MusicVidError(f"the analysis has unknown fields: {', '.join(sorted(unknown))}")
        for name in ("duration", "sample_rate", "tempo", "beats"):
            if name not in data:
                raise MusicVidError(f"{where}{name} is missing")
        _field(where, "duration", data["duration"], "number", 0)
        _field(where, "sample_rate", data["sample_rate"], "int", 1)
        _field(where, "tempo", data["tempo"], "number", 0)
        for name in ("tempo_confidence", "curve_fps"):
            if name in data:
                _field(where, name, data[name], "number", 0)
        if "meter" in data:
            _field(where, "meter", data["meter"], "int", 1)
        for name in ("beats", "downbeats", "energy", "onset"):
            for i, v in enumerate(_field(where, name, data.get(name, []), "list")):
                _field(where, f"{name}[{i}]", v, "number")
        for name in ("key", "mode", "audio_sha256"):
            if data.get(name) is not None:
                _field(where, name, data[name], "str")
        if "descriptors" in data:
            _field(where, "descriptors", data["descriptors"], "object")
        data = dict(data)
        sections = []
        for i, raw in enumerate(_field(where, "sections", data.get("sections", []), "list")):
            sw = f"the analysis's section {i}: "
            _field(sw, "section", raw, "object")
            for name in ("start", "end"):
                _field(sw, name, raw.get(name), "number")
            for name, kind in (("label", "str"), ("group", "int"), ("energy", "number")):
                if name in raw:
                    _field(sw, name, raw[name], kind)
            try:
                sections.append(Section(**raw))
            except TypeError as exc:
                raise MusicVidError(f"{sw}{exc}") from None
        data["sections"] = sections
        return cls(**data)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def energy_at(self, t: float) -> float:
        """Energy (0..1) at time ``t``, or 0.5 when no curve was computed."""
        if not self.energy:
            return 0.5
        i = min(len(self.energy) - 1, max(0, int(t * self.curve_fps)))
        return float(self.energy[i])

    def section_at(self, t: float) -> Section | None:
        for s in self.sections:
            if s.start <= t < s.end:
                return s
        return self.sections[-1] if self.sections else None


@dataclass
class Shot:
    """One shot: frames [start_frame, end_frame) of the video, made from one keyframe."""

    index: int
    start_frame: int
    end_frame: int
    prompt: str
    seed: int
    negative_prompt: str = ""
    section: str = "verse"
    section_index: int = 0
    group: int = 0
    motion: dict[str, Any] = field(default_factory=lambda: {"kind": "auto"})
    transition: str = "cut"  # how this shot begins: "cut" or "crossfade"
    transition_frames: int = 0  # crossfade length into this shot, in frames
    energy: float = 0.5
    lyric: str = ""  # the line sung over this shot (docs/lyrics.md), "" when none
    lyric_line: int | None = None  # its index in the storyboard's meta["lyrics"]["lines"]

    @property
    def frame_count(self) -> int:
        return self.end_frame - self.start_frame


@dataclass
class Storyboard:
    """Shots that tile frames [0, frame_count) exactly, at ``fps``."""

    fps: Fraction
    frame_count: int
    shots: list[Shot]
    width: int = 1280
    height: int = 720
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.fps = parse_fps(self.fps)

    def validate(self) -> None:
        """Raise :class:`StoryboardError` unless the size is one a render can make (even,
        16 to 8192 pixels) and the shots tile [0, frame_count)."""
        _check_size("the storyboard's ", "width", self.width)
        _check_size("the storyboard's ", "height", self.height)
        if not self.shots:
            raise StoryboardError("the storyboard has no shots")
        expected = 0
        for shot in self.shots:
            if shot.start_frame != expected or shot.end_frame <= shot.start_frame:
                raise StoryboardError(
                    f"shot {shot.index} covers frames [{shot.start_frame}, {shot.end_frame}) but"
                    f" must start at frame {expected} and be at least one frame long"
                )
            expected = shot.end_frame
        if expected != self.frame_count:
            raise StoryboardError(
                f"shots end at frame {expected} but the song has {self.frame_count} frames"
            )

    def time_of(self, frame: int) -> float:
        return float(Fraction(frame) / self.fps)

    def to_dict(self) -> dict[str, Any]:
        shots = []
        for s in self.shots:
            d = asdict(s)
            d["start"] = round(self.time_of(s.start_frame), 6)
            d["end"] = round(self.time_of(s.end_frame), 6)
            shots.append(d)
        fps_num = float(self.fps) if self.fps.denominator != 1 else int(self.fps)
        return {
            "fps": fps_num,
            "fps_rational": f"{self.fps.numerator}/{self.fps.denominator}",
            "frame_count": self.frame_count,
            "width": self.width,
            "height": self.height,
            "meta": self.meta,
            "shots": shots,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Storyboard:
        """A storyboard from its JSON form, every field checked: a
        :class:`StoryboardError` names the first one that is missing or wrong."""
        if not isinstance(data, dict):
            raise StoryboardError(f"a storyboard is a JSON object, not {type(data).__name__}")
        if "fps" not in data and "fps_rational" not in data:
            raise StoryboardError("the storyboard has no fps")
        try:
            fps = parse_fps(data.get("fps_rational") or data["fps"])
        except MusicVidError as exc:
            raise StoryboardError(f"the storyboard's fps: {exc}") from None
        raw_shots = _field("the storyboard's ", "shots", data.get("shots"), "list")
        shots = []
        for i, raw in enumerate(raw_shots):
            where = f"shot {i}: "
            if not isinstance(raw, dict):
                raise StoryboardError(f"shot {i} must be a JSON object, not "
                                      f"{type(raw).__name__}")
            for name in ("start_frame", "end_frame", "prompt", "seed"):
                if name not in raw:
                    raise StoryboardError(f"{where}{name} is missing")
            kw = {}
            for name, (kind, lo, hi) in SHOT_FIELDS.items():
                if name in raw:
                    kw[name] = _field(where, name, raw[name], kind, lo, hi)
            if kw.get("transition", "cut") not in TRANSITIONS:
                raise StoryboardError(f"{where}transition must be one of "
                                      f"{', '.join(TRANSITIONS)}, not {kw['transition']!r}")
            if raw.get("lyric_line") is not None:  # null: no line sung over the shot
                kw["lyric_line"] = _field(where, "lyric_line", raw["lyric_line"], "int", 0)
            kw.setdefault("index", i)
            shots.append(Shot(**kw))
        frame_count = data.get("frame_count") or (shots[-1].end_frame if shots else 0)
        frame_count = _field("the storyboard's ", "frame_count", frame_count, "int", 1)
        width = _check_size("the storyboard's ", "width", data.get("width", 1280))
        height = _check_size("the storyboard's ", "height", data.get("height", 720))
        meta = _field("the storyboard's ", "meta", data.get("meta", {}), "object")
        board = cls(fps=fps, frame_count=frame_count, shots=shots, width=width, height=height,
                    meta=dict(meta))
        board.validate()
        return board

    @classmethod
    def load(cls, path: str | Path) -> Storyboard:
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StoryboardError(f"storyboard file not found: {p}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise StoryboardError(f"{p} is not valid JSON: {exc}") from None
        return cls.from_dict(data)


@dataclass
class Keyframe:
    """The still a shot is made from, and what made it."""

    image: Image.Image
    prompt: str = ""
    seed: int = 0
    model: str = ""
    key: str = ""


@dataclass
class Clip:
    """A lazy stream of exactly ``frame_count`` frames (H×W×3 uint8) for one shot.

    ``frames`` is called once per iteration, so a clip can be replayed. Iterating checks
    the count and shape, so a motion stage that drifts by a frame fails loudly.
    """

    frame_count: int
    width: int
    height: int
    frames: Callable[[], Iterator[np.ndarray]]
    meta: dict[str, Any] = field(default_factory=dict)
    # Optional: the same frames in I420 layout ((H*3/2)×W uint8, BT.601 limited range; see
    # musicvid._video). A compositor that encodes YUV 4:2:0 takes these and skips a
    # colour conversion per frame. Stages that can render in YUV directly offer it.
    yuv420: Callable[[], Iterator[np.ndarray]] | None = None

    def __len__(self) -> int:
        return self.frame_count

    def __iter__(self) -> Iterator[np.ndarray]:
        return self._checked(self.frames(), (self.height, self.width, 3), "frame")

    def _checked(self, frames: Iterator[np.ndarray], shape: tuple[int, ...],
                 what: str) -> Iterator[np.ndarray]:
        """``frames``, failing loudly unless exactly ``frame_count`` of ``shape`` come."""
        n = 0
        for frame in frames:
            if n >= self.frame_count:
                raise OutputError(f"clip produced more than its {self.frame_count} frames",
                                  stage="motion")
            if frame.shape != shape:
                raise OutputError(f"clip {what} has shape {frame.shape}, expected {shape}",
                                  stage="motion")
            n += 1
            yield frame
        if n != self.frame_count:
            raise OutputError(f"clip produced {n} frames, expected {self.frame_count}",
                              stage="motion")

    def iter_yuv420(self) -> Iterator[np.ndarray]:
        """The frames in I420 layout: from ``yuv420`` when offered, else converted from RGB.

        Checked like ``__iter__``: exactly ``frame_count`` frames of the right shape.
        """
        if self.yuv420 is None:
            from ._video import rgb_to_i420

            for frame in self:
                yield rgb_to_i420(frame)
            return
        yield from self._checked(self.yuv420(), (self.height * 3 // 2, self.width), "I420 frame")
