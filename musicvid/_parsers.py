"""Value parsers behind :class:`~musicvid.config.RenderConfig`: frame rates, section
prompts, caption modes, yes/no environment switches and the reshaping of sizes to an
aspect ratio. Each raises :class:`~musicvid.errors.InvalidOptionError` naming the option.
:mod:`musicvid.config` re-exports the public ones.
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Any

from ._options import parse_bool
from ._vocab import CAPTION_MODES
from .errors import InvalidOptionError

__all__ = ["caption_mode", "parse_fps", "parse_section_prompts", "reframe",
           "section_prompt_value"]


def caption_mode(value: object) -> str:
    """Check a ``captions`` value: soft, burn, both or none (docs/lyrics.md)."""
    text = str(value if value is not None else "soft").strip().lower()
    if text not in CAPTION_MODES:
        raise InvalidOptionError("captions", value, list(CAPTION_MODES))
    return text


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
    if not 1 <= fps <= 240:  # the documented range; 0.001 fps would be one frame a quarter-hour
        raise InvalidOptionError("fps", value, hint="between 1 and 240")
    return fps


def section_prompt_value(text: str) -> dict[str, str]:
    """One ``--section-prompt`` or form value: ``chorus="dancing in the rain"``, or a JSON
    object ``{"chorus": "...", "verse": "..."}``."""
    text = text.strip()
    if text.startswith("{"):
        import json

        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise ValueError(text) from None
        if not isinstance(value, dict):
            raise ValueError(text)
        return value
    return parse_section_prompts([text])


def parse_section_prompts(items: list[Any] | tuple[Any, ...]) -> dict[str, str]:
    """``['chorus=dancing in the rain', {...}, ...]`` -> ``{"chorus": "dancing in the rain"}``."""
    out: dict[str, str] = {}
    for item in items:
        if isinstance(item, dict):
            out.update(item)
            continue
        key, sep, value = str(item).partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        if not sep or not key.strip() or not value.strip():
            raise InvalidOptionError("section-prompt", item,
                                     hint='SECTION="text", e.g. chorus="dancing in the rain"')
        out[key.strip().lower()] = value
    return out


def _env_flag(name: str) -> bool | None:
    """The yes/no environment variable ``name``; None when unset or empty."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        return parse_bool(raw)
    except ValueError:
        raise InvalidOptionError(name, raw, ["1", "0"]) from None


def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


def reframe(aspect: str, width: int, height: int, keyframe_width: int, keyframe_height: int
            ) -> tuple[str, int, int, int, int]:
    """Sizes for ``aspect`` ("W:H"): the output keeps its short side, the keyframes their
    area, both take the new shape. Returns ``("W:H", width, height, keyframe_width,
    keyframe_height)``."""
    try:
        a, b = (int(x) for x in aspect.replace("/", ":").split(":"))
        if a <= 0 or b <= 0 or max(a / b, b / a) > 4:
            raise ValueError(aspect)
    except ValueError:
        raise InvalidOptionError("aspect", aspect,
                                 hint="W:H such as 16:9, 9:16, 1:1 or 4:5") from None
    short = min(width, height)
    if a >= b:
        width, height = _even(short * a / b), short
    else:
        width, height = short, _even(short * b / a)
    area = keyframe_width * keyframe_height
    kw = (area * a / b) ** 0.5
    keyframe_width = max(64, int(round(kw / 8)) * 8)
    keyframe_height = max(64, int(round(kw * b / a / 8)) * 8)
    for name, size in (("width", width), ("height", height)):
        if size > 8192:
            raise InvalidOptionError("aspect", aspect, hint=f"makes the {name} over 8192")
    return f"{a}:{b}", width, height, keyframe_width, keyframe_height
