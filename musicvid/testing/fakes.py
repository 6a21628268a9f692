"""Fake stages for tests: fast, deterministic, no weights."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..hookspecs import hookimpl
from ..protocols import StageContext
from ..stages import AnalyzerBase, KeyframeGeneratorBase, stage_option
from ..types import Analysis, Section, Shot

__all__ = ["CrashOnceKeyframes", "FakeAnalyzer", "SolidKeyframes", "FakeStagesPlugin"]


class SolidKeyframes(KeyframeGeneratorBase):
    """A keyframe generator that paints each shot one colour derived from its seed.

    ``calls`` counts the shots it generated, so tests can assert cache behaviour.
    """

    name = "solid"
    batch_size = 4
    calls = 0

    def cache_key_parts(self, ctx: StageContext) -> dict[str, Any]:
        return {"w": ctx.config.keyframe_width, "h": ctx.config.keyframe_height}

    def generate(self, shots: Sequence[Shot], ctx: StageContext) -> list[Any]:
        from PIL import Image, ImageDraw

        out = []
        for s in shots:
            type(self).calls += 1
            c = ((s.seed >> 16) & 255, (s.seed >> 8) & 255, s.seed & 255)
            im = Image.new("RGB", (ctx.config.keyframe_width, ctx.config.keyframe_height), c)
            d = ImageDraw.Draw(im)
            w, h = im.size
            d.rectangle([w // 4, h // 4, 3 * w // 4, 3 * h // 4], outline=(255, 255, 255), width=3)
            out.append(im)
        return out


class CrashOnceKeyframes(SolidKeyframes):
    """Like :class:`SolidKeyframes`, but the first call kills its own process.

    For testing worker failure: the crash happens once per marker file
    (``config.options["crash_marker"]``), so a restarted worker succeeds.
    """

    name = "crash-once"
    batch_size = 1

    @dataclass(frozen=True)
    class CrashOptions:
        marker: str = stage_option("", help="the file that says the crash happened")

    option_prefixes = {"crash": CrashOptions}

    def generate(self, shots: Sequence[Shot], ctx: StageContext) -> list[Any]:
        import os

        marker = Path(self.options(ctx, "crash").marker)
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            os._exit(1)
        return super().generate(shots, ctx)


class FakeAnalyzer(AnalyzerBase):
    """A steady grid: ``tempo`` BPM beats over the file's decoded duration."""

    name = "fake"
    tempo = 120.0

    def analyze(self, audio: Path, ctx: StageContext) -> Analysis:
        from ..audio import load_audio

        y, sr = load_audio(audio, sr=8000)
        duration = len(y) / sr
        step = 60.0 / self.tempo
        beats = [i * step for i in range(int(duration / step) + 1) if i * step < duration]
        return Analysis(duration=duration, sample_rate=sr, tempo=self.tempo, beats=beats,
                        downbeats=beats[::4], curve_fps=float(ctx.config.fps),
                        sections=[Section(0.0, duration, "verse", 0, 0.5)])


class FakeStagesPlugin:
    """Register with ``get_plugin_manager().register(FakeStagesPlugin())``."""

    @hookimpl
    def register_keyframe_generators(self, register: Any) -> None:
        register(SolidKeyframes)
        register(CrashOnceKeyframes)

    @hookimpl
    def register_analyzers(self, register: Any) -> None:
        register(FakeAnalyzer)
