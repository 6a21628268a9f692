"""Small shared helpers for tests: render sizes that keep tests fast, and the CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

__all__ = ["SMALL", "TINY", "TINY_SVD_OPTIONS", "run_cli"]

#: a small render for stages without weights (fake keyframes, Ken Burns): 160×90 video
#: from 64×32 keyframes
SMALL: dict[str, Any] = dict(width=160, height=90, keyframe_width=64, keyframe_height=32)

#: a render with the tiny SDXL (``musicvid_tiny_models``): 64×64 keyframes in 2 steps
TINY: dict[str, Any] = dict(width=160, height=96, keyframe_width=64, keyframe_height=64,
                            steps=2)

#: stage options that make the tiny SVD quick: 4 frames of 64×64 in 2 steps
TINY_SVD_OPTIONS: dict[str, str] = {"svd_steps": "2", "svd_frames": "4", "svd_width": "64",
                                    "svd_height": "64"}


def run_cli(*args: Any, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m musicvid ARGS...`` in a subprocess, output captured as text.

    Torch runs one thread (``OMP_NUM_THREADS=1``) unless ``env`` says otherwise: tiny
    models on a small shared machine run many times faster that way.
    """
    full = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "musicvid", *map(str, args)],
                          capture_output=True, text=True, env=full)
