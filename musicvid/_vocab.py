"""The words a render is described in: the genre, style, palette and profile choices
(string enums whose ``parse`` lists the valid values) and the fixed choices of other
options. :mod:`musicvid.config` re-exports them; import them from there or ``musicvid``.
"""

from __future__ import annotations

import enum
from typing import Any

from .errors import InvalidOptionError

__all__ = ["CAPTION_MODES", "EXECUTORS", "IMAGE_ORDERS", "OVERLAP_MODES", "TRANSITIONS",
           "Genre", "Palette", "Profile", "Style"]

TRANSITIONS = ("cut", "morph")
CAPTION_MODES = ("soft", "burn", "both", "none")
OVERLAP_MODES = ("auto", "on", "off")
IMAGE_ORDERS = ("order", "energy")
EXECUTORS = ("local", "ray")


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
    CPU_FAST = "cpu-fast"
    GPU = "gpu"
