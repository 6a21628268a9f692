"""musicvid-plp-analyzer: a musicvid analyzer built on librosa's predominant local pulse.

Installed, it registers the analyzer ``plp`` through the ``musicvid`` entry point group:
``musicvid render song.mp3 -o video.mp4 --analyzer plp``.
"""

from __future__ import annotations

from typing import Any

from musicvid import hookimpl

from .analyzer import PLPAnalyzer

__all__ = ["PLPAnalyzer", "register_analyzers"]
__version__ = "0.1.0"


@hookimpl
def register_analyzers(register: Any) -> None:
    register(PLPAnalyzer)
