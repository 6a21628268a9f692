"""Beats and downbeats from a small temporal convolutional network.

The network (after Böck and Davies's multi-task TCN, 2019/2020) reads, at the onset frame
rate (86 frames/s), the log-mel level and the flux in sixteen mel-band groups and the
chroma (:func:`net_inputs`); a 1x1 input layer, then ``len(DILATIONS)`` residual blocks
(a kernel-3 convolution dilated 1, 2, 4 ... 512 frames, ELU, a 1x1 mix), so each output
frame sees about 24 s of music either side; two sigmoid outputs: "a beat is here" and
"a downbeat is here". It learns what marks the beat and the bar from the whole groove
(kick and snare against off-beat bass, the chord change at the bar line), which a single
onset curve cannot tell.

Trained by ``benchmarks/train_beat_net.py`` on the tuning half of the MMA corpus and on
synthetic grooves (the test half and the dev eight are never read); the weights ship in
``beat_net.npz`` (float32, about 100 kB) and run here in numpy, so analysis needs no
torch.

Decoding: the beat-pointer DBN (:func:`._dbn.beat_viterbi`) turns the beat activation
into one beat sequence at a tempo that may drift or change, each beat then moved to the
activation's peak to a fraction of a frame. Weights with a tempo output (an option of
the training script, not in the shipped recipe) add its log probability to each beat.
The grid ends on the last beat the music still plays (:func:`_last_played`): a ringing
final chord, or the hiss a recording ends on, has no beats. The downbeat output is
trained beside the beats (the two tasks share the network) but the bar lines come from
:func:`.meter.estimate_meter`'s accent statistics over the whole song, which
cross-validated better on the corpus (downbeat F 0.65 and 0.62 on the two tuning folds
against 0.54 and 0.50 decoding the downbeat output); the downbeat output only helps
choose the meter there.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .features import Features

__all__ = ["NetResult", "WEIGHTS", "ensemble", "members", "net_activations", "net_inputs",
           "track_net"]

WEIGHTS = Path(__file__).with_name("beat_net.npz")
MIN_BPM = 50.0
MAX_BPM = 215.0
TRANSITION_LAMBDA = 200.0  # tempo change cost at a beat (2-fold CV: 100 ... 1000)
OBS_DIV = 17.0  # the first 1/17 of a beat interval is the beat region (2-fold CV: 14 ... 24)
PHASE_PERC = 0.5  # weight of the percussive onsets (per their deviation) in the phase check
PHASE_HARM = 1.0  # weight of the harmonic change (per its deviation) in the phase check
# (2-fold CV: 1 ... 3 the same, 0.5 worse; 0 puts 6 tuning files on the off-beat)
PHASE_BAR = 1.0  # weight of the harmonic change at the bar phase it is strongest on
# (2-fold CV: 0.5 ... 2 the same; cuts 95.7% -> 96.2%, downbeat F 0.812 -> 0.820; read
# over the meter's bars of 3 and 4 beats: over 4 alone cuts 95.8%, over 2, 3, 4 the same)
TEMPO_PRIOR = 1.0  # weight of the tempo output's log probability per decoded beat
TEMPO_FLOOR = 1e-3  # the least probability (of the most likely tempo's) the prior gives


@dataclass
class NetResult:
    tempo: float
    confidence: float
    beats: np.ndarray  # seconds
    beat_act: np.ndarray  # per onset frame
    down_act: np.ndarray  # per onset frame (not used for the bar lines: see above)


def net_inputs(f: Features) -> np.ndarray | None:
    """(channels, frames) network inputs: 16 log-mel levels (0 at the song's loudest,
    log10 power / 4), 16 mel fluxes (each over its song deviation, log1p) and 12 chroma
    (the 46 ms chroma frames repeated onto the 11.6 ms onset frames)."""
    if f.net_level is None or f.net_flux is None or f.net_level.shape[1] == 0:
        return None
    n = f.net_level.shape[1]
    level = np.maximum(f.net_level, -8.0) / 4.0 + 1.0
    flux = f.net_flux.astype(np.float64)
    sd = flux.std(axis=1, keepdims=True)
    flux = np.log1p(flux / np.maximum(sd, 1e-6))
    ratio = f.onset_fps / f.slow_fps
    idx = np.clip(((np.arange(n) + 0.5) / ratio).astype(int), 0, max(f.chroma.shape[1] - 1, 0))
    chroma = f.chroma[:, idx] if f.chroma.shape[1] else np.zeros((12, n))
    return np.concatenate([level, flux, chroma]).astype(np.float32)


MEMBER = "net{}."  # key prefix of an ensemble member's arrays in one weights file


def members(z: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
    """The networks in one weights file: a single network's arrays as they are, or an
    ensemble's, each under its ``MEMBER`` prefix (``net0.in_w``, ``net1.in_w`` ...)."""
    if "dilations" in z:
        return [z]
    out: list[dict[str, np.ndarray]] = []
    while any(k.startswith(MEMBER.format(len(out))) for k in z):
        pre = MEMBER.format(len(out))
        out.append({k[len(pre):]: v for k, v in z.items() if k.startswith(pre)})
    return out


def ensemble(nets: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """One weights file's arrays holding ``nets`` (each a single network's arrays), whose
    outputs :func:`net_outputs` averages."""
    return {MEMBER.format(j) + k: v for j, w in enumerate(nets) for k, v in w.items()}


@lru_cache(maxsize=1)
def _weights() -> list[dict[str, np.ndarray]] | None:
    if not WEIGHTS.exists():
        return None
    with np.load(WEIGHTS) as z:
        nets = members({k: z[k] for k in z.files})
    return nets or None


def available() -> bool:
    return _weights() is not None


def _elu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))


def _hidden(w: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The last residual block's output (channels, frames) on inputs ``x``."""
    h = _elu(w["in_w"] @ x + w["in_b"][:, None])  # (C, T)
    n = h.shape[1]
    dil = [int(d) for d in w["dilations"]]
    for i, d in enumerate(dil):
        k = w[f"c{i}_w"]  # (C, C, 3)
        pad = np.zeros((h.shape[0], n + 2 * d), dtype=h.dtype)
        pad[:, d:d + n] = h
        z = (k[:, :, 0] @ pad[:, 0:n] + k[:, :, 1] @ h + k[:, :, 2] @ pad[:, 2 * d:2 * d + n]
             + w[f"c{i}_b"][:, None])
        h = h + w[f"m{i}_w"] @ _elu(z) + w[f"m{i}_b"][:, None]
    return h


def _outputs(w: dict[str, np.ndarray], h: np.ndarray) -> np.ndarray:
    out = w["out_w"] @ h + w["out_b"][:, None]
    return 1.0 / (1.0 + np.exp(-out))


def forward(w: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The network on inputs ``x`` (channels, frames): (2, frames) probabilities."""
    return _outputs(w, _hidden(w, x))


def tempo_probs(w: dict[str, np.ndarray], h: np.ndarray) -> np.ndarray | None:
    """The tempo output on a hidden state ``h`` (channels, frames): a probability per
    class of ``w["tempo_bpm"]``, from the state averaged over all frames; None for
    weights without a tempo output."""
    if "tempo_w" not in w:
        return None
    z = w["tempo_w"] @ h.mean(axis=1) + w["tempo_b"]
    e = np.exp(z - z.max())
    return (e / e.sum()).astype(np.float64)


def net_outputs(f: Features) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """(beat, downbeat) activations per onset frame and the tempo class probabilities
    (None for weights without a tempo output), or None without shipped weights. An
    ensemble's outputs are the mean of its members'."""
    nets = _weights()
    x = net_inputs(f)
    if nets is None or x is None:
        return None
    acts: list[np.ndarray] = []
    tempi: list[np.ndarray] = []
    for w in nets:
        h = _hidden(w, x)
        acts.append(_outputs(w, h))
        t = tempo_probs(w, h)
        if t is not None:
            tempi.append(t)
    p = np.mean(acts, axis=0)
    tp = np.mean(tempi, axis=0) if len(tempi) == len(nets) else None
    return p[0].astype(np.float64), p[1].astype(np.float64), tp


def net_activations(f: Features) -> tuple[np.ndarray, np.ndarray] | None:
    """(beat, downbeat) activations per onset frame, or None without shipped weights."""
    out = net_outputs(f)
    return None if out is None else (out[0], out[1])


def tempo_prior(probs: np.ndarray | None, bpm: np.ndarray | None, min_iv: int, max_iv: int,
                fps: float) -> np.ndarray:
    """The decoder's log tempo prior per beat interval ``min_iv .. max_iv`` (frames):
    ``TEMPO_PRIOR`` times the log of the tempo output's probability at that interval's
    tempo (interpolated over log tempo; floored at ``TEMPO_FLOOR``); zeros without one."""
    n = max_iv - min_iv + 1
    if probs is None or bpm is None or not TEMPO_PRIOR:
        return np.zeros(n)
    at = 60.0 * fps / np.arange(min_iv, max_iv + 1)
    p = np.interp(np.log(at), np.log(bpm), probs)
    return TEMPO_PRIOR * np.log(np.maximum(p / p.max(), TEMPO_FLOOR))


def _peak_near(curve: np.ndarray, frames: np.ndarray, r: int = 2) -> np.ndarray:
    out = np.empty(len(frames))
    n = len(curve)
    for j, i in enumerate(frames):
        out[j] = curve[max(0, i - r):min(n, i + r + 1)].max(initial=0.0)
    return out


SILENCE_DB = 50.0  # quieter than this under the song's loudest frame: no music


def _audible_start(f: Features) -> float:
    """The first time (s) the RMS is within ``SILENCE_DB`` of the loudest frame."""
    rms = np.asarray(f.rms, dtype=np.float64)
    if len(rms) == 0 or rms.max() <= 0:
        return 0.0
    loud = np.flatnonzero(rms > rms.max() * 10 ** (-SILENCE_DB / 20))
    return float(loud[0] / f.onset_fps)


PLAYED_SHARE = 0.4  # a beat is played where its interval's strongest onset is this share
# of the song's typical one


OVER_FLOOR_DB = 6.0  # a beat is played only this far above the level the song ends on
FLOOR_GAP_DB = 12.0  # ... where the song's beats are this much louder than that level


def _span_levels(f: Features, spans: list[tuple[int, int]]) -> np.ndarray | None:
    """The median RMS level (dB) of each span of onset frames, None without levels."""
    rms = np.asarray(f.rms, dtype=np.float64)
    if len(rms) == 0 or rms.max() <= 0:
        return None
    db = 20 * np.log10(np.maximum(rms / rms.max(), 1e-6))
    return np.array([float(np.median(db[a:max(b, a + 1)])) if a < len(db) else -120.0
                     for a, b in spans])


def _end_floor(f: Features, seconds: float = 1.0) -> float | None:
    """The level (dB, as :func:`_span_levels`) the song ends on: the median over its last
    ``seconds`` (silence, or the noise floor of a recording)."""
    n = len(f.rms)
    k = max(1, int(round(seconds * f.onset_fps)))
    if n < 2 * k:
        return None
    return float(_span_levels(f, [(n - k, n)])[0])  # type: ignore[index]


def _last_played(f: Features, times: np.ndarray, k: int = 8) -> float:
    """The time (s) of the last beat of ``times`` that the music still plays: a played
    beat (the strongest broadband onset between it and the next beat at least
    ``PLAYED_SHARE`` of the median over all beats) with at least half of the ``k`` beats
    up to it played too (so one click where the file stops is not music). After it the
    song rings out (a decaying or held final chord, reverb): no beat is played there, so
    the grid stops, and a video holds its last shot rather than cutting on beats nobody
    plays.

    The hiss or room noise a recording ends on flickers on the log-mel flux about as
    much as soft music does, and the network hears faint beats in it; so where the beats
    are clearly louder than the level the file ends on (:func:`_end_floor`; the median
    level of the beats above ``floor + OVER_FLOOR_DB`` at least ``FLOOR_GAP_DB`` over
    it), a beat whose span's median level is under ``floor + OVER_FLOOR_DB`` is not
    played either. A song that plays to the end of the file has no such floor."""
    from .beats import _detrend

    on = _detrend(f.onset, f.onset_fps)
    frames = np.round(times * f.onset_fps).astype(np.int64) - 2
    bounds = np.append(np.clip(frames, 0, len(on)), len(on))
    spans = list(zip(bounds, bounds[1:]))
    peak = np.array([on[a:max(b, a + 1)].max(initial=0.0) for a, b in spans])
    played = peak >= PLAYED_SHARE * float(np.median(peak))
    # the level of each beat's span, the last one's a beat long
    beat = int(np.median(np.diff(bounds[:-1]))) if len(bounds) > 2 else len(on)
    level = _span_levels(f, [(a, min(b, a + beat)) for a, b in spans])
    floor = _end_floor(f)
    if level is not None and floor is not None:
        # the noise a recording ends on (hiss, a noisy room) has onsets of its own on a
        # log scale: a beat no louder than that floor is not played, where the song
        # plays well above it
        over = level >= floor + OVER_FLOOR_DB
        if over.any() and float(np.median(level[over])) - floor >= FLOOR_GAP_DB:
            played &= over
    run = np.convolve(played.astype(np.float64), np.ones(k), mode="full")[:len(played)]
    ok = np.flatnonzero(played & (run >= np.minimum(k, np.arange(1, len(played) + 1)) / 2))
    return float(times[ok[-1]]) if len(ok) else float(times[-1])


def _bridge(times: np.ndarray, heard: np.ndarray, k: int = 4) -> np.ndarray:
    """``times`` with each run of two or more beats the network does not hear (a break,
    a beatless bridge) replaced by beats evenly spaced between the heard beats around it,
    at about the period of the ``k`` heard intervals either side: the grid a listener
    counting through the break keeps, where the decoder would wander."""
    idx = np.flatnonzero(heard)
    out = [times[idx[0]]]
    for a, b in zip(idx, idx[1:]):
        if b - a > 2:
            around = np.concatenate([np.diff(times[max(idx[0], a - k):a + 1]),
                                     np.diff(times[b:b + k + 1])])
            period = float(np.median(around)) if len(around) else (times[b] - times[a]) / (b - a)
            n = max(1, int(round((times[b] - times[a]) / period)))
            out.extend(times[a] + (times[b] - times[a]) * np.arange(1, n) / n)
        else:
            out.extend(times[a + 1:b])
        out.append(times[b])
    return np.asarray(out, dtype=np.float64)


def _count_in(times: np.ndarray, start: float, k: int = 8) -> np.ndarray:
    """``times`` continued backwards to ``start`` at the median period of their first
    ``k`` beats."""
    head = float(np.median(np.diff(times[:k + 1])))
    before = times[0] - head * np.arange(1, int((times[0] - start) / head + 0.5) + 1)
    before = before[before >= start - 0.5 * head]
    return np.concatenate([before[::-1], times])


def _refine(curve: np.ndarray, frames: np.ndarray, r: int = 2) -> np.ndarray:
    """Each decoded beat moved to the activation's peak within ``r`` frames, to a fraction
    of a frame (a parabola through the peak and its neighbours): the decoder's beats sit
    on whole frames at whole-frame intervals, so a steady tempo drifts by up to a frame
    between its interval changes."""
    n = len(curve)
    out = frames.astype(np.float64)
    for j, f in enumerate(frames):
        lo, hi = max(0, f - r), min(n, f + r + 1)
        i = lo + int(np.argmax(curve[lo:hi]))
        if 0 < i < n - 1:
            a, b, c = curve[i - 1], curve[i], curve[i + 1]
            den = a - 2 * b + c
            off = 0.5 * (a - c) / den if den < 0 else 0.0
            out[j] = i + float(np.clip(off, -0.5, 0.5))
        else:
            out[j] = i
    return out


def _half_beat_check(f: Features, act: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """The beats, or the half-beats between them where those are where the beat is.

    Where the network fires about as strongly on the half-beats (hi-hats, off-beat bass or
    chords) the decoder's choice between the two is close; the fast-decaying low and mid
    onsets (kick, snare: ``onset_perc``) mark the beat, and the chords change on it,
    even in syncopated grooves whose loudest hits fall on the "and"s. One decision per
    song: the mean activation at the beats minus at the half-beats, plus ``PHASE_PERC``
    times the same difference of the percussive onsets and ``PHASE_HARM`` times that of
    the harmonic change (each over its deviation), plus ``PHASE_BAR`` times the
    difference of the harmonic change on the bar phase it is strongest on
    (:func:`_bar_peak`); below zero, the half-beats.

    The bar term: most chords change on the bar line, so on the beats the change peaks on
    one beat of the bar, while a passing tone or a stab on every "and" turns the chroma a
    little on every half-beat alike. The mean over all beats dilutes the bar line's change
    with the beats where nothing changes, and a busy "and" can outweigh it. At the
    annotated beats of the tuning half the check with it points to the half-beats on 2 of
    202 files (5 without; both renders of casio polkafox, where every cue points to the
    "and"s), on the double-tempo stress set on 2 of 182 (5)."""
    from .beats import _detrend, _max3

    if len(frames) < 4 or f.onset_perc is None or len(f.onset_perc) != len(act):
        return frames
    nxt = np.append(frames[1:], 2 * frames[-1] - frames[-2])
    half = (frames + nxt) / 2
    perc = _detrend(f.onset_perc, f.onset_fps)  # over its deviation
    ev = (float(np.mean(_max3(act, frames) - _max3(act, half)))
          + PHASE_PERC * float(np.mean(_max3(perc, frames) - _max3(perc, half))))
    if PHASE_HARM:
        change = _harmonic_change(f)
        if change is not None:
            to_slow = f.slow_fps / f.onset_fps
            on, off = _max3(change, frames * to_slow), _max3(change, half * to_slow)
            ev += PHASE_HARM * float(np.mean(on - off))
            if PHASE_BAR:
                ev += PHASE_BAR * (_bar_peak(on) - _bar_peak(off))
    return frames if ev >= 0 else half


def _bar_peak(v: np.ndarray) -> float:
    """The largest mean of ``v`` (a value per beat) over the beats of one phase of a bar
    of ``m`` beats, of the meters :func:`.meter.estimate_meter` chooses from
    (``meter.METERS``) with two bars or more of beats, or the mean of ``v`` where that is
    larger."""
    from .meter import METERS

    best = float(np.mean(v))
    for m in METERS:
        if len(v) >= 2 * m:
            best = max(best, max(float(np.mean(v[k::m])) for k in range(m)))
    return best


def _harmonic_change(f: Features) -> np.ndarray | None:
    """How far the pitch-class content turns from one chroma frame to the next (one minus
    the cosine of consecutive frames, as :func:`.meter.beat_accents` reads the chord
    change from beat to beat), over its deviation: high where the chord changes, which is
    on a beat even where the loudest hits are syncopated. None without chroma.

    The turn of the whole chroma, not the rise of each pitch class: a chord struck again
    on the "and" over a held bass raises its own pitch classes against the bass, so their
    rise (:func:`chroma_rise`) reads every stab as a change, while the direction of the
    chroma hardly moves. At the annotated beats of the tuning half the turn points to the
    half-beats on 4 of 202 files (the rise on 12), the whole phase check on 5 (9 with the
    rise); on the double-tempo stress set of tuning families on 5 and 5 of 182 (12 and
    10)."""
    return chroma_turn(f.chroma)


def chroma_turn(chroma: np.ndarray) -> np.ndarray | None:
    """:func:`_harmonic_change` of a chroma array (12, frames). Before the first frame is
    silence (a silent frame has no direction: the turn into and out of it is 1)."""
    c = np.asarray(chroma, dtype=np.float64)
    if c.ndim != 2 or c.shape[1] < 4:
        return None
    c = c / np.maximum(np.linalg.norm(c, axis=0, keepdims=True), 1e-9)
    c = np.concatenate([np.zeros((c.shape[0], 1)), c], axis=1)
    turn = 1.0 - np.sum(c[:, 1:] * c[:, :-1], axis=0)
    sd = float(turn.std())
    return turn / sd if sd > 1e-12 else None


def chroma_rise(chroma: np.ndarray) -> np.ndarray | None:
    """How much new pitch class each chroma frame brings (the half-wave-rectified rise of
    the frame-normalised chroma), over its deviation; the phase check's harmonic cue
    before :func:`chroma_turn` (kept for ``benchmarks/phase_cues.py``)."""
    c = np.asarray(chroma, dtype=np.float64)
    if c.ndim != 2 or c.shape[1] < 4:
        return None
    c = c / np.maximum(c.max(axis=0, keepdims=True), 1e-9)
    rise = np.concatenate([[0.0], np.maximum(np.diff(c, axis=1), 0.0).sum(axis=0)])
    sd = float(rise.std())
    return rise / sd if sd > 1e-12 else None


def track_net(f: Features, duration: float) -> NetResult | None:
    """Beats and tempo of a song from the network, or None (no weights, no frames, or no
    beat the network believes in)."""
    from ._dbn import beat_viterbi

    outs = net_outputs(f)
    if outs is None:
        return None
    beat, down, tempo_p = outs
    fps = f.onset_fps
    if len(beat) < 8 or float(beat.max(initial=0.0)) < 0.1:
        return None
    min_iv = max(2, int(np.floor(60.0 * fps / MAX_BPM)))
    max_iv = int(np.ceil(60.0 * fps / MIN_BPM))
    prior = tempo_prior(tempo_p, (_weights() or [{}])[0].get("tempo_bpm"), min_iv, max_iv,
                        fps)
    frames = beat_viterbi(beat, min_iv, max_iv, TRANSITION_LAMBDA, OBS_DIV, prior)
    if len(frames) < 2:
        return None
    times = _refine(beat, frames) / fps
    # the beats the network hears, counted through breaks it does not hear, up to the
    # last one a note is played on; before the first of them (an intro of held chords, a
    # pad) the grid continues at the next beats' period, as a listener counting in would,
    # as far back as the audio is not silent; after the last played beat the song rings
    # out and has no beats
    heard = _peak_near(beat, frames) > 0.1
    if heard.sum() < 2:
        return None
    times = _bridge(times, heard)
    times = times[times <= _last_played(f, times)]
    if len(times) < 2:
        return None
    times = _count_in(times, _audible_start(f))
    times = _half_beat_check(f, beat, times * fps) / fps
    ok = (times >= 0) & (times < duration)
    times = times[ok]
    if len(times) < 2:
        return None
    frames = np.round(times * fps).astype(np.int64)
    k = min(8, len(times) - 1)
    tempo = 60.0 * k / float(np.median(times[k:] - times[:-k]))
    on = _peak_near(beat, frames)
    mid = ((frames[:-1] + frames[1:]) // 2).astype(np.int64)
    half = _peak_near(beat, mid)
    confidence = float(np.clip(on.mean() - half.mean(), 0.0, 1.0))
    return NetResult(tempo=float(tempo), confidence=confidence, beats=times,
                     beat_act=beat, down_act=down)
