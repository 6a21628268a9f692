"""Render options: the genre/style/palette vocabularies and the ``cpu``/``gpu`` profiles."""

from __future__ import annotations

import dataclasses
import enum
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from .errors import InvalidOptionError

__all__ = [
    "DEFAULT_SDXL_MODEL",
    "DEFAULT_SVD_MODEL",
    "Genre",
    "Palette",
    "Profile",
    "RenderConfig",
    "Style",
    "default_cache_dir",
    "parse_fps",
]

DEFAULT_SDXL_MODEL = "stabilityai/stable-diffusion-xl-base-1.0"
DEFAULT_SVD_MODEL = "stabilityai/stable-video-diffusion-img2vid-xt-1-1"


class _Choice(str, enum.Enum):
    """A string enum whose ``parse`` raises an error listing the valid values."""

    @classmethod
    def parse(cls, value: object) -> Any:
        if isinstance(value, cls):
            return value
        text = str(value).strip().lower().replace("_", "-") if value is not None else ""
        for member in cls:
            if member.value == text:
                return member
        raise InvalidOptionError(cls._option_name(), value, cls.values())

    @classmethod
    def values(cls) -> list[str]:
        return [m.value for m in cls]

    @classmethod
    def _option_name(cls) -> str:
        return cls.__name__.lower()

    def __str__(self) -> str:
        return str(self.value)


class Genre(_Choice):
    POP = "pop"
    ROCK = "rock"
    HIP_HOP = "hip-hop"
    ELECTRONIC = "electronic"
    COUNTRY = "country"
    JAZZ = "jazz"
    CLASSICAL = "classical"
    CHRISTIAN = "christian"
    BLUES = "blues"
    FOLK = "folk"


class Style(_Choice):
    CINEMATIC = "cinematic"
    ENERGETIC = "energetic"
    MINIMALIST = "minimalist"
    ARTISTIC = "artistic"
    VINTAGE = "vintage"
    FUTURISTIC = "futuristic"
    DRAMATIC = "dramatic"
    PLAYFUL = "playful"


class Palette(_Choice):
    WARM = "warm"
    COOL = "cool"
    MONOCHROME = "monochrome"
    VIBRANT = "vibrant"


class Profile(_Choice):
    CPU = "cpu"
    GPU = "gpu"


def parse_fps(value: object) -> Fraction:
    """``30``, ``"29.97"``, ``"30000/1001"`` or a Fraction -> an exact positive Fraction.

    ``29.97``/``23.976``/``59.94`` are read as the NTSC rationals they stand for.
    """
    ntsc = {"29.97": Fraction(30000, 1001), "23.976": Fraction(24000, 1001),
            "59.94": Fraction(60000, 1001), "119.88": Fraction(120000, 1001)}
    try:
        if isinstance(value, Fraction):
            fps = value
        elif isinstance(value, float):
            fps = ntsc.get(f"{value:.3f}".rstrip("0").rstrip("."), None) or Fraction(value).limit_denominator(1001)
        else:
            text = str(value).strip()
            fps = ntsc[text] if text in ntsc else Fraction(text).limit_denominator(1001)
    except (ValueError, ZeroDivisionError, TypeError):
        raise InvalidOptionError("fps", value, hint="a positive number such as 30, 29.97 or 30000/1001") from None
    if fps <= 0 or fps > 240:
        raise InvalidOptionError("fps", value, hint="between 1 and 240")
    return fps


def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


def default_cache_dir() -> Path:
    """``MUSICVID_CACHE_DIR``, else the platform's user cache folder."""
    env = os.environ.get("MUSICVID_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    if os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "musicvid" / "Cache"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "musicvid"


def _env_flag(name: str) -> bool | None:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    text = raw.strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise InvalidOptionError(name, raw, ["1", "0"])


# What each profile sets; anything passed explicitly wins.
_PROFILES: dict[Profile, dict[str, Any]] = {
    Profile.CPU: dict(width=1280, height=720, keyframe_width=768, keyframe_height=432,
                      steps=18, guidance_scale=6.0, motion="kenburns", device="cpu",
                      dtype="float32"),
    Profile.GPU: dict(width=1920, height=1080, keyframe_width=1344, keyframe_height=768,
                      steps=30, guidance_scale=6.0, motion="auto", device="cuda",
                      dtype="float16"),
}


@dataclass
class RenderConfig:
    """Everything that decides what a render produces.

    Build one with :meth:`RenderConfig.create`, which applies the profile (``cpu`` by
    default, or from ``SOTA_CPU_ONLY``) and environment variables, then your overrides.
    """

    genre: Genre = Genre.POP
    style: Style = Style.CINEMATIC
    palette: Palette = Palette.VIBRANT
    seed: int = 0
    profile: Profile = Profile.CPU
    fps: Fraction = Fraction(30)
    width: int = 1280
    height: int = 720
    keyframe_width: int = 768
    keyframe_height: int = 432
    steps: int = 18
    guidance_scale: float = 6.0
    device: str = "cpu"
    dtype: str = "float32"
    sdxl_model: str = DEFAULT_SDXL_MODEL
    svd_model: str = DEFAULT_SVD_MODEL
    analyzer: str = "librosa"
    keyframes: str = "sdxl"
    motion: str = "kenburns"
    compositor: str = "pyav"
    cache_dir: Path | None = None
    use_cache: bool = True
    # encoding: the compositor checks codec/pix_fmt against what this machine can open
    codec: str = "libx264"  # libx264, libx265, h264_nvenc, hevc_nvenc (h264/hevc aliases)
    pix_fmt: str = "yuv420p"
    aspect: str | None = None  # "16:9", "9:16", "1:1"...: reframes width×height (and keyframes)
    crf: int = 20
    preset: str = "veryfast"
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.genre = Genre.parse(self.genre)
        self.style = Style.parse(self.style)
        self.palette = Palette.parse(self.palette)
        self.profile = Profile.parse(self.profile)
        self.fps = parse_fps(self.fps)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            try:
                self.seed = int(str(self.seed), 10)
            except ValueError:
                raise InvalidOptionError("seed", self.seed, hint="an integer") from None
        if not 0 <= self.seed < 2**32:
            raise InvalidOptionError("seed", self.seed, hint="an integer from 0 to 4294967295")
        for name in ("width", "height", "keyframe_width", "keyframe_height"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 16 or v > 8192 or v % 2:
                raise InvalidOptionError(name, v, hint="an even number of pixels from 16 to 8192")
        if not isinstance(self.steps, int) or not 1 <= self.steps <= 200:
            raise InvalidOptionError("steps", self.steps, hint="an integer from 1 to 200")
        if self.aspect is not None:
            self._reframe(str(self.aspect))
        if self.cache_dir is not None:
            self.cache_dir = Path(self.cache_dir)

    def _reframe(self, aspect: str) -> None:
        """Apply ``aspect`` ("W:H"): the output keeps its short side, the keyframes their
        area, both take the new shape. The cover crop does the rest: no letterbox."""
        try:
            a, b = (int(x) for x in aspect.replace("/", ":").split(":"))
            if a <= 0 or b <= 0 or max(a / b, b / a) > 4:
                raise ValueError(aspect)
        except ValueError:
            raise InvalidOptionError("aspect", aspect,
                                     hint="W:H such as 16:9, 9:16, 1:1 or 4:5") from None
        self.aspect = f"{a}:{b}"
        short = min(self.width, self.height)
        if a >= b:
            self.width, self.height = _even(short * a / b), short
        else:
            self.width, self.height = short, _even(short * b / a)
        area = self.keyframe_width * self.keyframe_height
        kw = (area * a / b) ** 0.5
        self.keyframe_width = max(64, int(round(kw / 8)) * 8)
        self.keyframe_height = max(64, int(round(kw * b / a / 8)) * 8)
        for name in ("width", "height"):
            if getattr(self, name) > 8192:
                raise InvalidOptionError("aspect", aspect, hint=f"makes the {name} over 8192")

    @classmethod
    def create(cls, profile: str | Profile | None = None, **overrides: Any) -> RenderConfig:
        """A config for ``profile`` with environment defaults, then ``overrides``.

        Profile: the argument, else ``SOTA_CPU_ONLY`` (``1`` -> cpu, ``0`` -> gpu), else
        cpu. ``MUSICVID_SDXL_MODEL`` / ``MUSICVID_SVD_MODEL`` choose the models and
        ``MUSICVID_CACHE_DIR`` the cache. ``None`` overrides are ignored.
        """
        if profile is None:
            cpu_only = _env_flag("SOTA_CPU_ONLY")
            profile = Profile.GPU if cpu_only is False else Profile.CPU
        prof = Profile.parse(profile)
        values: dict[str, Any] = dict(_PROFILES[prof], profile=prof)
        if os.environ.get("MUSICVID_SDXL_MODEL"):
            values["sdxl_model"] = os.environ["MUSICVID_SDXL_MODEL"]
        if os.environ.get("MUSICVID_SVD_MODEL"):
            values["svd_model"] = os.environ["MUSICVID_SVD_MODEL"]
        known = {f.name for f in dataclasses.fields(cls)}
        for key, value in overrides.items():
            if key not in known:
                raise InvalidOptionError("option", key, sorted(known))
            if value is not None:
                values[key] = value
        return cls(**values)

    def replace(self, **changes: Any) -> RenderConfig:
        return dataclasses.replace(self, **changes)

    def cache_root(self) -> Path:
        return self.cache_dir if self.cache_dir is not None else default_cache_dir()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, enum.Enum):
                v = v.value
            elif isinstance(v, Fraction):
                v = str(v)
            elif isinstance(v, Path):
                v = str(v)
            out[f.name] = v
        return out
