"""The default analyzer: beats, downbeats, sections, key and curves (see
:mod:`musicvid.analysis`).

Registered as ``librosa``, the name it has always had; its features follow librosa's
conventions (Slaney mel bands, MFCC) but are computed in numpy/scipy with numba kernels,
so a cold start does not pay for importing librosa."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ..audio import load_audio
from ..hookspecs import hookimpl
from ..protocols import StageContext
from ..stages import AnalyzerBase
from ..types import Analysis

log = logging.getLogger(__name__)

SAMPLE_RATE = 22050


class LibrosaAnalyzer(AnalyzerBase):
    """Tempo (several candidates, local tempo, DP beats), meter and downbeats, sections
    with repetition groups and labels, key/mode, energy and onset curves at the video
    frame rate, and scalar descriptors for prompts."""

    name = "librosa"
    version = 12  # part of the analysis cache key: bump when results change

    def analyze(self, audio: Path, ctx: StageContext) -> Analysis:
        from ..analysis import analyze_samples, start_warm_up

        start_warm_up()  # numba's compile (or cache load) overlaps the decode and features
        t0 = time.perf_counter()
        # decoded straight to mono float32 at the analysis rate (never native stereo)
        y, sr = load_audio(audio, sr=SAMPLE_RATE, mono=True)
        total = 6
        ctx.progress(1, total, f"decoded {len(y) / sr:.1f}s")
        ctx.check_cancelled()
        analysis = analyze_samples(
            y, sr, curve_fps=float(ctx.config.fps),
            step=lambda done, _n, message: ctx.progress(done + 1, total, message),
            check=ctx.check_cancelled)
        log.info("analyzed %s in %.2fs: %.1f BPM (confidence %.2f), %d/4, %d beats, "
                 "%d sections, key %s %s", Path(audio).name, time.perf_counter() - t0,
                 analysis.tempo, analysis.tempo_confidence, analysis.meter,
                 len(analysis.beats), len(analysis.sections), analysis.key, analysis.mode)
        return analysis


@hookimpl
def register_analyzers(register):  # type: ignore[no-untyped-def]
    register(LibrosaAnalyzer)
