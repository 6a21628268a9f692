"""Analysis + options -> Storyboard: shots cut on the music, prompts, seeds.

- :mod:`.beats`: the beat grid (detected beats, gaps filled, bar lines).
- :mod:`.cuts`: section cuts on bar lines, shot lengths from tempo and energy.
- :mod:`.prompts`: the video's visual identity, prompt and seed families.
- :mod:`.planner`: :func:`plan`, which puts them together.
"""

from __future__ import annotations

from .beats import BeatGrid, beat_grid
from .planner import MAX_SHOT_SECONDS, MIN_SHOT_SECONDS, crossfade_frames, min_shot_frames, plan
from .prompts import (
                      VisualIdentity,
                      build_prompt,
                      choose_identity,
                      derive_seed,
                      estimate_clip_tokens,
                      negative_prompt,
                      role_of,
                      shot_prompt,
)

__all__ = [
    "MAX_SHOT_SECONDS",
    "MIN_SHOT_SECONDS",
    "BeatGrid",
    "VisualIdentity",
    "beat_grid",
    "build_prompt",
    "choose_identity",
    "crossfade_frames",
    "derive_seed",
    "estimate_clip_tokens",
    "min_shot_frames",
    "negative_prompt",
    "plan",
    "role_of",
    "shot_prompt",
]
