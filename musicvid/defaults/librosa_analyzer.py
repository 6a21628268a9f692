"""The default analyzer, built on librosa."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ..audio import load_audio
from ..hookspecs import hookimpl
from ..protocols import StageContext
from ..types import Analysis, Section

log = logging.getLogger(__name__)

SAMPLE_RATE = 22050
HOP = 512


class LibrosaAnalyzer:
    """Tempo, beats, downbeats and energy from librosa's onset envelope."""

    name = "librosa"

    def analyze(self, audio: Path, ctx: StageContext) -> Analysis:
        import librosa
        import numpy as np

        t0 = time.perf_counter()
        y, sr = load_audio(audio, sr=SAMPLE_RATE, mono=True)
        duration = len(y) / sr
        ctx.progress(1, 3, "decoded")
        ctx.check_cancelled()
        onset = librosa.onset.onset_strength(y=y, sr=sr, hop_length=HOP)
        tempo, beat_frames = librosa.beat.beat_track(onset_envelope=onset, sr=sr, hop_length=HOP)
        beats = librosa.frames_to_time(beat_frames, sr=sr, hop_length=HOP).tolist()
        ctx.progress(2, 3, "beats")
        rms = librosa.feature.rms(y=y, hop_length=HOP)[0]
        curve_fps = float(ctx.config.fps)
        n = max(1, int(round(duration * curve_fps)))
        frame_times = np.arange(n) / curve_fps
        env_times = librosa.frames_to_time(np.arange(len(rms)), sr=sr, hop_length=HOP)

        def resample(curve: np.ndarray) -> list[float]:
            c = np.interp(frame_times, env_times[: len(curve)], curve)
            peak = float(np.percentile(c, 99)) if c.size else 0.0
            return np.clip(c / peak, 0, 1).round(4).tolist() if peak > 0 else [0.0] * n

        energy = resample(rms)
        onset_c = resample(onset)
        downbeats = beats[::4]
        mean_e = float(np.mean(energy)) if energy else 0.0
        analysis = Analysis(
            duration=duration, sample_rate=sr, tempo=float(np.atleast_1d(tempo)[0]),
            beats=[round(b, 4) for b in beats], downbeats=[round(b, 4) for b in downbeats],
            curve_fps=curve_fps, energy=energy, onset=onset_c,
            sections=[Section(0.0, duration, "verse", 0, round(mean_e, 4))],
        )
        ctx.progress(3, 3, "done")
        log.info("analyzed %s in %.2fs: %.1f BPM, %d beats", Path(audio).name,
                 time.perf_counter() - t0, analysis.tempo, len(beats))
        return analysis


@hookimpl
def register_analyzers(register):  # type: ignore[no-untyped-def]
    register(LibrosaAnalyzer)
