"""Test helpers for musicvid and its plugins: tiny real models, click tracks, fake stages,
small render sizes, a CLI runner, and the stage contract kit (:mod:`.contract`).

``python -m musicvid.testing tiny-models DIR`` writes ``DIR/sdxl`` and ``DIR/svd``.
"""

from __future__ import annotations

from .audio import click_track, structured_song, write_click_track, write_wav
from .fakes import FakeAnalyzer, FakeStagesPlugin, SolidKeyframes
from .helpers import SMALL, TINY, TINY_SVD_OPTIONS, run_cli
from .tiny_models import build_tiny_sdxl, build_tiny_svd, write_tiny_models

__all__ = ["SMALL", "TINY", "TINY_SVD_OPTIONS", "FakeAnalyzer", "FakeStagesPlugin",
           "SolidKeyframes", "build_tiny_sdxl", "build_tiny_svd", "click_track", "run_cli",
           "structured_song", "write_click_track", "write_tiny_models", "write_wav"]
