"""Spectral features computed once per song and shared by every analysis step.

Two STFTs run block by block, so memory holds only the reduced features, never a full
spectrogram (a 15-minute song costs a few tens of MB here):

- short window (1024 points, hop 256 at 22.05 kHz: 11.6 ms frames) for the onset
  envelopes and RMS energy;
- long window (4096 points, hop 1024: 46 ms frames) for chroma, MFCC and spectral
  centroid.

Nothing here runs HPSS (31 s for a 3-minute song on a small CPU).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.fft

__all__ = ["Features", "compute_features", "ONSET_HOP", "SLOW_HOP"]

ONSET_NFFT = 1024
ONSET_HOP = 256
SLOW_NFFT = 4096
SLOW_HOP = 1024
LOW_BAND_HZ = 200.0
ONSET_MELS = 64
SLOW_MELS = 40
BLOCK_FRAMES = 1024
PERC_BAND_HZ = 1000.0  # percussive onsets: bands below this (hi-hat spill sits above)
PERC_FLOOR_DB = 50.0  # ... rising from at most this far under the loudest of those bands
PERC_TOP = 3
PERC_FALL = 0.3  # ... counted in full once they fall 6 dB in 70 ms, not at all under 3 dB
N_GROUPS = 8  # mel-band groups of band_flux / band_decay
NET_GROUPS = 16  # mel-band groups of net_level / net_flux
DECAY_FRAMES = 6  # 70 ms
FLOOR_DB = 80.0  # per band: power this far under the band's loudest frame is silence


@dataclass
class Features:
    """Frame-wise features of one song.

    ``onset`` (broadband), ``onset_low`` (bands below 200 Hz) and ``onset_high`` are
    half-wave-rectified log-mel flux at ``onset_fps``, as is ``rms``. ``chroma`` (12, m),
    ``mfcc`` (13, m) and ``centroid`` (m,, Hz) are at ``slow_fps``. ``onset_perc`` is
    the flux below 1 kHz that also decays within 70 ms (drum hits, not held notes).
    ``band_flux``
    (8, frames) is the flux in eight groups of mel bands, low to high, and ``band_decay``
    (8, frames) how far each group falls within the next 70 ms (a drum hit decays, a
    held note does not): the inputs of the learned beat activation. ``net_level`` and
    ``net_flux`` (``NET_GROUPS``, frames) are the log-mel level (relative to the song's
    loudest band-frame, log10 power) and the flux in sixteen groups of mel bands: with
    ``chroma`` the inputs of the beat and downbeat network (:mod:`.netbeats`).
    """

    sr: int
    n_samples: int
    onset_fps: float
    onset: np.ndarray
    onset_low: np.ndarray
    onset_high: np.ndarray
    rms: np.ndarray
    slow_fps: float
    chroma: np.ndarray
    mfcc: np.ndarray
    centroid: np.ndarray
    peak: float
    onset_perc: np.ndarray | None = None
    band_flux: np.ndarray | None = None
    band_decay: np.ndarray | None = None
    net_level: np.ndarray | None = None
    net_flux: np.ndarray | None = None

    @property
    def duration(self) -> float:
        return self.n_samples / self.sr


def _stft_blocks(y: np.ndarray, n_fft: int, hop: int) -> Iterator[tuple[int, np.ndarray]]:
    """(first frame, power spectrum block of shape (n_fft//2+1, frames)) of centred Hann
    frames, zero-padded at both ends."""
    pad = n_fft // 2
    yp = np.pad(y, (pad, pad))
    n_frames = 1 + max(0, len(yp) - n_fft) // hop
    frames = np.lib.stride_tricks.as_strided(
        yp, shape=(n_frames, n_fft), strides=(yp.strides[0] * hop, yp.strides[0]),
        writeable=False)
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    for i in range(0, n_frames, BLOCK_FRAMES):
        spec = scipy.fft.rfft(frames[i:i + BLOCK_FRAMES] * window, axis=1)
        power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32).T
        yield i, power


def _hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """Slaney's mel scale (linear below 1 kHz, logarithmic above), as librosa's default."""
    f = np.asarray(f, dtype=np.float64)
    lin = f / (200.0 / 3)
    log = 15.0 + np.log(np.maximum(f, 1e-9) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log, lin)


def _mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    lin = m * (200.0 / 3)
    log = 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0))
    return np.where(m >= 15.0, log, lin)


def mel_filters(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """Triangular, area-normalised (Slaney) mel filterbank (n_mels, n_fft//2+1) and the
    band centre frequencies."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    lower = (freqs[None, :] - edges[:-2, None]) / np.diff(edges)[:-1, None]
    upper = (edges[2:, None] - freqs[None, :]) / np.diff(edges)[1:, None]
    fb = np.maximum(0.0, np.minimum(lower, upper))
    fb *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return fb.astype(np.float32), edges[1:-1]


def chroma_filters(sr: int, n_fft: int, fmin: float = 55.0, fmax: float = 5000.0
                   ) -> np.ndarray:
    """(12, n_fft//2+1): each bin between ``fmin`` and ``fmax`` shared between the pitch
    classes within a semitone of it (triangular in log frequency), C first."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    fb = np.zeros((12, len(freqs)))
    ok = (freqs >= fmin) & (freqs <= fmax)
    midi = 69.0 + 12.0 * np.log2(np.maximum(freqs[ok], 1e-9) / 440.0)
    for pc in range(12):
        d = (midi - pc) % 12.0
        d = np.minimum(d, 12.0 - d)  # semitones to the nearest pitch of this class
        fb[pc, ok] = np.maximum(0.0, 1.0 - d)
    return fb.astype(np.float32)


def _mfcc(mel_power: np.ndarray, n_mfcc: int = 13) -> np.ndarray:
    """MFCC: orthonormal DCT-II of the log mel power (dB, 80 dB range under the peak)."""
    from scipy.fft import dct

    db = 10.0 * np.log10(np.maximum(mel_power, 1e-10))
    db = np.maximum(db, db.max(initial=-100.0) - 80.0)
    return dct(db, type=2, axis=0, norm="ortho")[:n_mfcc]


def _n_frames(n_samples: int, n_fft: int, hop: int) -> int:
    return 1 + max(0, n_samples + 2 * (n_fft // 2) - n_fft) // hop


def _flux(logmel: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """SuperFlux-style positive flux per band: each band is compared with the previous
    frame's maximum over itself and its neighbours, so vibrato does not read as onsets.
    Silence (``floor``) precedes the first frame, so a note at 0 s is an onset."""
    prev = np.empty_like(logmel)
    prev[:, 1:] = logmel[:, :-1]
    prev[:, 0] = floor[:, 0]
    widened = prev.copy()
    widened[1:] = np.maximum(widened[1:], prev[:-1])
    widened[:-1] = np.maximum(widened[:-1], prev[1:])
    return np.maximum(logmel - widened, 0.0)


def _decay(logmel: np.ndarray) -> np.ndarray:
    """Per band: the level now minus the lowest level over the next ``DECAY_FRAMES``
    frames (log10 power), clipped at 0."""
    from scipy.ndimage import minimum_filter1d

    k = DECAY_FRAMES
    ahead = np.empty_like(logmel)
    ahead[:, :-1] = logmel[:, 1:]
    ahead[:, -1] = logmel[:, -1]
    # minimum over [t+1, t+k]: a window of k centred at t + (k+1)/2
    low = minimum_filter1d(ahead, k, axis=1, mode="nearest", origin=-(k // 2))
    return np.maximum(logmel - low, 0.0)


def compute_features(y: np.ndarray, sr: int) -> Features:
    """All frame features of mono float32 samples ``y`` at rate ``sr``."""
    y = np.asarray(y, dtype=np.float32)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 0:
        y = y * np.float32(1.0 / peak)  # level-independent features
    fmax = min(11025.0, sr / 2)
    # -- onset envelopes and RMS --------------------------------------------------------
    n_on = _n_frames(len(y), ONSET_NFFT, ONSET_HOP)
    mel_fb, centers = mel_filters(sr, ONSET_NFFT, ONSET_MELS, 30.0, fmax)
    logmel = np.empty((ONSET_MELS, n_on), dtype=np.float32)
    rms = np.empty(n_on, dtype=np.float32)
    win_energy = float(np.sum(np.hanning(ONSET_NFFT + 1)[:-1] ** 2))
    for i, power in _stft_blocks(y, ONSET_NFFT, ONSET_HOP):
        k = power.shape[1]
        logmel[:, i:i + k] = mel_fb @ power
        # Parseval: sum over the one-sided spectrum ~ half the frame energy
        rms[i:i + k] = np.sqrt(2.0 * power.sum(axis=0) / (ONSET_NFFT * win_energy))
    # percussive onsets: a rise that also falls away within 70 ms (kick, snare, a struck
    # chord) in the bands a drum kit's body sits in, against one floor for all of them
    # (so the faint low spill of a hi-hat is not a rise from silence); a held bass note
    # rises and stays
    body = centers < PERC_BAND_HZ
    pb = logmel[body]
    top = max(float(pb.max(initial=0.0)), 1e-12)
    fall = np.log10(pb + np.float32(top * 10 ** (-PERC_FLOOR_DB / 10)))
    fall = np.clip(_decay(fall) / PERC_FALL - 1.0, 0.0, 1.0)
    # the rise itself on a compressed power scale common to the bands: loud attacks count,
    # a faint spill does not, however far above silence it is
    pb = (pb * np.float32(1.0 / top)) ** np.float32(0.3)
    pf = _flux(pb, np.zeros((pb.shape[0], 1), np.float32)) * fall
    # the strongest few bands (a kick or a snare body), not the count of bands a broadband
    # hit spills into
    k = min(PERC_TOP, pf.shape[0])
    onset_perc = np.partition(pf, pf.shape[0] - k, axis=0)[-k:].mean(axis=0)
    del pb, fall
    # each band's floor sits FLOOR_DB under its own loudest frame: the faint low-frequency
    # spill of a hi-hat is not read as a bass onset, a quiet band still has onsets
    floor = (np.maximum(logmel.max(axis=1, keepdims=True), 1e-12)
             * 10 ** (-FLOOR_DB / 10)).astype(np.float32)
    np.log10(logmel + floor, out=logmel)
    flux = _flux(logmel, np.log10(floor))
    band_flux = flux.reshape(N_GROUPS, ONSET_MELS // N_GROUPS, -1).mean(axis=1)
    band_decay = _decay(logmel).reshape(N_GROUPS, ONSET_MELS // N_GROUPS, -1).mean(axis=1)
    net_level = logmel.reshape(NET_GROUPS, ONSET_MELS // NET_GROUPS, -1).mean(axis=1)
    net_level -= np.float32(net_level.max(initial=0.0))
    net_flux = flux.reshape(NET_GROUPS, ONSET_MELS // NET_GROUPS, -1).mean(axis=1)
    del logmel
    low = centers < LOW_BAND_HZ
    onset = flux.mean(axis=0)
    onset_low = flux[low].mean(axis=0) if low.any() else onset
    onset_high = flux[~low].mean(axis=0)
    del flux
    # -- chroma, MFCC, centroid ---------------------------------------------------------
    n_slow = _n_frames(len(y), SLOW_NFFT, SLOW_HOP)
    chroma_fb = chroma_filters(sr, SLOW_NFFT, fmax=min(5000.0, fmax))
    smel_fb, _ = mel_filters(sr, SLOW_NFFT, SLOW_MELS, 30.0, fmax)
    freqs = np.fft.rfftfreq(SLOW_NFFT, 1.0 / sr).astype(np.float32)
    chroma = np.empty((12, n_slow), dtype=np.float32)
    smel = np.empty((SLOW_MELS, n_slow), dtype=np.float32)
    centroid = np.empty(n_slow, dtype=np.float32)
    for i, power in _stft_blocks(y, SLOW_NFFT, SLOW_HOP):
        k = power.shape[1]
        chroma[:, i:i + k] = chroma_fb @ power
        smel[:, i:i + k] = smel_fb @ power
        mag = np.sqrt(power)
        tot = mag.sum(axis=0)
        centroid[i:i + k] = np.where(tot > 1e-6, (freqs @ mag) / np.maximum(tot, 1e-6), 0.0)
    cmax = chroma.max(axis=0, keepdims=True)
    chroma = np.where(cmax > 0, chroma / np.maximum(cmax, 1e-12), 0.0).astype(np.float32)
    mfcc = _mfcc(smel).astype(np.float32)
    return Features(sr=sr, n_samples=len(y), onset_fps=sr / ONSET_HOP,
                    onset=onset.astype(np.float32), onset_low=onset_low.astype(np.float32),
                    onset_high=onset_high.astype(np.float32),
                    onset_perc=onset_perc.astype(np.float32), rms=rms * np.float32(peak),
                    slow_fps=sr / SLOW_HOP, chroma=chroma, mfcc=mfcc,
                    centroid=centroid, peak=peak, band_flux=band_flux.astype(np.float32),
                    band_decay=band_decay.astype(np.float32),
                    net_level=net_level.astype(np.float32),
                    net_flux=net_flux.astype(np.float32))
