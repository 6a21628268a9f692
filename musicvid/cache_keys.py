"""The cache-key recipes: what each cached result depends on, as pure functions.

A key changes exactly when the result could: the input content (audio hash, keyframe
key), the stage (name, version, parsed options, its own ``cache_key_parts``) and the
shot's own inputs. Every function returns the hex key :func:`musicvid.cache.cache_key`
makes of a JSON-ready dict, so keys are stable across processes and machines.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from .cache import cache_key

__all__ = ["analysis_key", "calibration_key", "clip_key", "keyframe_key", "stage_parts",
           "transcript_key"]


def stage_parts(name: str, version: int | str, options: dict[str, Any],
                parts: dict[str, Any]) -> dict[str, Any]:
    """A stage's identity in a key: its name, version, parsed options and own parts."""
    out = {"stage": name, "version": version, **parts}
    if options:
        out["options"] = options
    return out


def analysis_key(audio_sha256: str, analyzer: dict[str, Any], fps: Fraction) -> str:
    return cache_key("analysis", {"audio": audio_sha256, "analyzer": analyzer, "fps": fps})


def transcript_key(audio_sha256: str, transcriber: dict[str, Any]) -> str:
    return cache_key("transcript", {"audio": audio_sha256, "transcriber": transcriber})


def keyframe_key(generator: dict[str, Any], shot_parts: dict[str, Any], prompt: str,
                 negative_prompt: str, seed: int) -> str:
    return cache_key("keyframe", {"generator": generator, **shot_parts, "prompt": prompt,
                                  "negative": negative_prompt, "seed": seed})


def clip_key(motion: dict[str, Any], *, keyframe: str, grade: Any, frames: tuple[int, int],
             params: dict[str, Any], energy: float, size: tuple[int, int], fps: Fraction,
             audio_sha256: str) -> str:
    return cache_key("clip", {"motion": motion, "keyframe": keyframe, "grade": grade,
                              "frames": list(frames), "params": params, "energy": energy,
                              "size": list(size), "fps": fps, "audio": audio_sha256})


def calibration_key(generator: dict[str, Any], device: str, threads: int | None) -> str:
    return cache_key("calibration", {"generator": generator, "device": device,
                                     "threads": threads})
