"""musicvid: turn a song into a music video with generative models.

``import musicvid`` is light: torch, diffusers, librosa and PyAV load only when a stage
that needs them runs.
"""

from __future__ import annotations

from .config import (
                     DEFAULT_SDXL_MODEL,
                     DEFAULT_SVD_MODEL,
                     DEFAULT_TINY_VAE,
                     DEFAULT_VIDEO_MODEL,
                     Genre,
                     Palette,
                     Profile,
                     RenderConfig,
                     Style,
                     parse_fps,
)
from .errors import (
                     AudioDecodeError,
                     AudioError,
                     AudioNotFoundError,
                     InvalidOptionError,
                     LyricsError,
                     MissingDependencyError,
                     ModelLoadError,
                     MusicVidError,
                     OutputError,
                     PluginError,
                     RenderCancelled,
                     StageError,
                     StoryboardError,
                     UnknownStageError,
)
from .hookspecs import hookimpl
from .pipeline import Pipeline, RenderResult, analyze, render
from .planning import plan
from .plugins import StageEntry, get_plugin_manager, get_stage, list_stages
from .protocols import (
                     Analyzer,
                     CompositeResult,
                     Compositor,
                     KeyframeGenerator,
                     MotionGenerator,
                     ProgressCallback,
                     StageContext,
                     Transcriber,
)
from .types import Analysis, Clip, Keyframe, Section, Shot, Storyboard, frame_count_for

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_SDXL_MODEL",
    "DEFAULT_SVD_MODEL",
    "DEFAULT_TINY_VAE",
    "DEFAULT_VIDEO_MODEL",
    "Analysis",
    "Analyzer",
    "AudioDecodeError",
    "AudioError",
    "AudioNotFoundError",
    "Clip",
    "CompositeResult",
    "Compositor",
    "Genre",
    "InvalidOptionError",
    "Keyframe",
    "KeyframeGenerator",
    "LyricsError",
    "MissingDependencyError",
    "ModelLoadError",
    "MotionGenerator",
    "MusicVidError",
    "OutputError",
    "PluginError",
    "Palette",
    "Pipeline",
    "Profile",
    "ProgressCallback",
    "RenderCancelled",
    "RenderConfig",
    "RenderResult",
    "Section",
    "Shot",
    "StageContext",
    "StageError",
    "StageEntry",
    "Storyboard",
    "StoryboardError",
    "Style",
    "Transcriber",
    "UnknownStageError",
    "__version__",
    "analyze",
    "frame_count_for",
    "get_plugin_manager",
    "get_stage",
    "hookimpl",
    "list_stages",
    "parse_fps",
    "plan",
    "render",
]
