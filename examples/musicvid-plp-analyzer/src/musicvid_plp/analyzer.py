"""An analyzer built on predominant local pulse (PLP) instead of dynamic-programming beats.

1. The onset envelope's Fourier tempogram, averaged over the song and weighted by a
   log-normal prior around 120 BPM, gives the tempo (interpolated between tempogram bins)
   and a confidence (how far that peak stands above the rest of the tempo band).
2. ``librosa.beat.plp`` restricted to tempo / 1.45 .. tempo × 1.45 gives the pulse curve;
   its peaks are the beats. The pulse follows tempo changes inside that band but cannot
   jump an octave.
3. Downbeats: of the ``meter`` possible phases, the one whose beats are loudest.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from musicvid import Analysis, Section, StageContext
from musicvid.audio import load_audio

log = logging.getLogger(__name__)

SAMPLE_RATE = 22050
HOP = 512
WIN = 384  # tempogram window in onset frames (~8.9 s), librosa's default for PLP
TEMPO_MIN, TEMPO_MAX = 40.0, 240.0
PRIOR_BPM, PRIOR_OCTAVES = 120.0, 1.0
PULSE_BAND = 1.45  # the pulse may follow the tempo this far either side (not an octave)
PEAK_FLOOR = 0.1  # pulse peaks below this fraction of the strongest are not beats


def tempo_from_tempogram(onset: Any, sr: int = SAMPLE_RATE, hop: int = HOP,
                         win: int = WIN) -> tuple[float, float]:
    """The song's tempo in BPM and a confidence in [0, 1] from the Fourier tempogram."""
    import librosa
    import numpy as np

    gram = np.abs(librosa.feature.fourier_tempogram(onset_envelope=onset, sr=sr,
                                                    hop_length=hop, win_length=win))
    freqs = librosa.fourier_tempo_frequencies(sr=sr, hop_length=hop, win_length=win)
    mean = gram.mean(axis=1)
    band = np.flatnonzero((freqs >= TEMPO_MIN) & (freqs <= TEMPO_MAX))
    if not band.size or not np.any(mean[band] > 0):
        return PRIOR_BPM, 0.0
    prior = np.exp(-0.5 * (np.log2(freqs[band] / PRIOR_BPM) / PRIOR_OCTAVES) ** 2)
    score = mean[band] * prior
    i = int(band[np.argmax(score)])
    tempo = float(freqs[i])
    if 0 < i < len(mean) - 1:  # parabolic interpolation of the log magnitude
        a, b, c = np.log(mean[i - 1:i + 2] + 1e-12)
        denom = a - 2 * b + c
        if denom < 0:
            tempo += float(0.5 * (a - c) / denom) * float(freqs[1] - freqs[0])
    confidence = float(score.max() / (score.sum() + 1e-12))
    # a lone peak over a flat band scores 1; spread energy scores near 1/len(band)
    floor = 1.0 / len(band)
    confidence = float(np.clip((confidence - floor) / (1.0 - floor), 0.0, 1.0))
    return tempo, confidence


def pulse_beats(onset: Any, tempo: float, sr: int = SAMPLE_RATE, hop: int = HOP,
                win: int = WIN) -> Any:
    """Onset-frame indices of the PLP pulse peaks near ``tempo``."""
    import librosa
    import numpy as np

    pulse = librosa.beat.plp(onset_envelope=onset, sr=sr, hop_length=hop, win_length=win,
                             tempo_min=tempo / PULSE_BAND, tempo_max=tempo * PULSE_BAND)
    if pulse.size < 3 or pulse.max() <= 0:
        return np.zeros(0, dtype=int)
    inner = np.flatnonzero((pulse[1:-1] > pulse[:-2]) & (pulse[1:-1] >= pulse[2:])) + 1
    # a pulse already falling at the first frame peaked at (or just before) the start; one
    # still rising at the last frame is cut off by the end of the song, not a beat
    peaks = np.concatenate([[0], inner]) if pulse[0] > pulse[1] else inner
    return peaks[pulse[peaks] >= PEAK_FLOOR * pulse.max()]


def downbeat_phase(frames: Any, rms: Any, meter: int) -> int:
    """Which of the first ``meter`` beats starts a bar: the phase with the loudest beats."""
    import numpy as np

    if len(frames) < 2 * meter:
        return 0
    reach = 3  # a click or a kick peaks in the frames just after the onset
    loud = np.array([rms[f:f + reach].max() if f < len(rms) else 0.0 for f in frames])
    return int(np.argmax([loud[p::meter].mean() for p in range(meter)]))


class PLPAnalyzer:
    """Tempo from the Fourier tempogram, beats from the predominant local pulse."""

    name = "plp"
    version = 1  # part of the analysis cache key: bump when results change
    meter = 4

    def analyze(self, audio: Path, ctx: StageContext) -> Analysis:
        import librosa
        import numpy as np

        t0 = time.perf_counter()
        y, sr = load_audio(audio, sr=SAMPLE_RATE, mono=True)
        duration = len(y) / sr
        ctx.progress(1, 4, "decoded")
        ctx.check_cancelled()
        onset = librosa.onset.onset_strength(y=y, sr=sr, hop_length=HOP)
        tempo, confidence = tempo_from_tempogram(onset, sr)
        ctx.progress(2, 4, f"tempo {tempo:.1f} BPM")
        ctx.check_cancelled()
        frames = pulse_beats(onset, tempo, sr)
        beats = librosa.frames_to_time(frames, sr=sr, hop_length=HOP)
        beats = [round(float(b), 4) for b in beats if b < duration]
        rms = librosa.feature.rms(y=y, hop_length=HOP)[0]
        phase = downbeat_phase(frames[: len(beats)], rms, self.meter)
        ctx.progress(3, 4, f"{len(beats)} beats")
        ctx.check_cancelled()

        curve_fps = float(ctx.config.fps)
        n = max(1, int(round(duration * curve_fps)))
        frame_times = np.arange(n) / curve_fps
        env_times = librosa.frames_to_time(np.arange(len(rms)), sr=sr, hop_length=HOP)

        def resample(curve: Any) -> list[float]:
            c = np.interp(frame_times, env_times[: len(curve)], curve[: len(env_times)])
            peak = float(np.percentile(c, 99)) if c.size else 0.0
            return np.clip(c / peak, 0, 1).round(4).tolist() if peak > 0 else [0.0] * n

        energy = resample(rms)
        mean_e = float(np.mean(energy)) if energy else 0.0
        analysis = Analysis(
            duration=duration, sample_rate=sr, tempo=round(tempo, 3),
            tempo_confidence=round(confidence, 4), beats=beats,
            downbeats=beats[phase::self.meter], meter=self.meter, curve_fps=curve_fps,
            energy=energy, onset=resample(onset),
            sections=[Section(0.0, duration, "verse", 0, round(mean_e, 4))],
            descriptors={"plp_downbeat_phase": float(phase)},
        )
        ctx.progress(4, 4, "done")
        log.info("analyzed %s in %.2fs: %.1f BPM (confidence %.2f), %d beats",
                 Path(audio).name, time.perf_counter() - t0, tempo, confidence, len(beats))
        return analysis
