"""Synthetic grooves with known beats and bars: extra training material for the beat net.

    from benchmarks.synthetic_grooves import groove
    y, beats, downbeats = groove(seed, sr=22050)

Each seed is one random ~30 s piece built from scratch in numpy, so the network also
learns from timbres no soundfont has: a drum machine (a kick of random pitch and decay, a
noise snare, hi-hats on eighths or sixteenths at a random, often louder-than-the-kick
level, or on the off-beats only), a bass whose notes may sit on the beats, on the off-beats or on 1 and 3, chords
that change on the bar line (or on the half bar), in 4/4, 3/4, 2/4 or 6/8 (counted in
dotted quarters, three eighths to the beat), at 60-190 BPM, sometimes with a tempo step,
a pickup before the first bar, a drum break or a bar of silence; or a metronome (accented
or not). What marks the beat is the low and mid percussion and the harmony, never one
fixed instrument. Used by ``benchmarks/train_beat_net.py`` beside the tuning half of the
corpus; never scored.
"""

from __future__ import annotations

import numpy as np

# share of pieces whose chords are short stabs on every "and", louder than the quieter
# bass, kick and snare on the beats (a ska or reggae skank, an oom-pah with a soft
# "oom"); 0 keeps every piece as the shipped network was trained on (drawn from a
# second generator, so the other pieces do not change)
SKANK_SHARE = 0.0


def _kick(sr, rng):
    t = np.arange(int(0.2 * sr)) / sr
    f1 = rng.uniform(40, 80)
    f0 = rng.uniform(90, 220) if rng.random() < 0.6 else f1  # swept, or a plain sine
    f = f1 + (f0 - f1) * np.exp(-t / rng.uniform(0.01, 0.04))
    return np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / rng.uniform(0.04, 0.15))


def _snare(sr, rng):
    t = np.arange(int(0.15 * sr)) / sr
    noise = np.diff(rng.standard_normal(len(t) + 1)) * rng.uniform(0.2, 0.5)
    body = rng.uniform(0.1, 0.5) * np.sin(2 * np.pi * rng.uniform(150, 260) * t)
    return (noise + body) * np.exp(-t / rng.uniform(0.03, 0.08))


def _hat(sr, rng):
    t = np.arange(int(0.04 * sr)) / sr
    return np.diff(rng.standard_normal(len(t) + 2), 2) * np.exp(-t / rng.uniform(0.004, 0.015))


def _tone(freq, dur, sr, harmonics, attack, decay):
    t = np.arange(max(1, int(dur * sr))) / sr
    y = sum(np.sin(2 * np.pi * freq * h * t) / h ** 1.2 for h in range(1, harmonics + 1))
    return y * np.minimum(1, t / attack) * np.exp(-t / decay)


def _clicks(rng, sr, seconds):
    from musicvid.testing.audio import click_track

    bpm = float(np.exp(rng.uniform(np.log(60), np.log(190))))
    meter = int(rng.choice([1, 2, 3, 4, 4]))
    offset = float(rng.uniform(0, 60 / bpm))
    y, beats = click_track(bpm, seconds, sr=sr, accent_every=meter, offset=offset,
                           tone=bool(rng.random() < 0.5))
    beats = np.asarray(beats)
    downs = beats[::meter] if meter > 1 else np.array([])
    return np.asarray(y, dtype=np.float32), beats, downs


def groove(seed: int, sr: int = 22050, seconds: float = 30.0
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(samples, beat times, downbeat times) of synthetic piece ``seed``. Downbeats are
    empty where the piece has no bar (an unaccented metronome)."""
    rng = np.random.default_rng(10_000 + seed)
    if rng.random() < 0.15:
        return _clicks(rng, sr, seconds)
    kind = rng.choice(["4", "4", "4", "3", "2", "68"])
    meter = {"4": 4, "3": 3, "2": 2, "68": 2}[str(kind)]
    sub = 3 if kind == "68" else 2  # eighths per beat
    lo, hi = (40, 80) if kind == "68" else (60, 190)
    bpm = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    start = float(rng.uniform(0.05, 1.0))
    # beat times, with a tempo step a fifth of the time
    step_at = rng.uniform(10, 20) if rng.random() < 0.2 else None
    bpm2 = bpm * float(rng.choice([0.8, 0.9, 1.1, 1.25])) if step_at else bpm
    beats = [start]
    while beats[-1] < seconds - 0.5:
        beats.append(beats[-1] + 60.0 / (bpm2 if step_at and beats[-1] > step_at else bpm))
    beats = np.array(beats[:-1])
    pickup = int(rng.integers(0, meter)) if rng.random() < 0.3 else 0
    pos = (np.arange(len(beats)) - pickup) % meter  # bar position of each beat
    downs = beats[pos == 0]
    period = np.diff(beats, append=beats[-1] + 60.0 / bpm2)

    y = np.zeros(int(seconds * sr) + sr)

    def put(t, x, amp):
        i = int(round(t * sr))
        if 0 <= i < len(y):
            k = min(len(x), len(y) - i)
            y[i:i + k] += amp * x[:k]

    kick, snare = _kick(sr, rng), _snare(sr, rng)
    hats = [_hat(sr, rng) for _ in range(4)]
    lv_kick, lv_snare = rng.uniform(0.3, 1.0), rng.uniform(0.2, 0.8)
    lv_hat = rng.uniform(0.05, 1.0)  # often louder than the kick
    lv_bass, lv_chord = rng.uniform(0.0, 1.0), rng.uniform(0.0, 0.3)
    bare = rng.random() < 0.2  # kick and hats only
    hat_sub = sub * (2 if rng.random() < 0.3 and sub == 2 else 1)
    # a fifth of the pieces: hats on the off-beats only (house, disco, ska), often loud
    offbeat_hats = rng.random() < (0.5 if bare else 0.2) and sub == 2
    kick_pat = {4: [(0,), (0, 2), (0, 1, 2, 3), (0, 2.5)], 3: [(0,), (0, 2)],
                2: [(0,), (0, 1)]}[meter]
    kick_pos = kick_pat[int(rng.integers(len(kick_pat)))]
    snare_pos = {4: (1, 3), 3: (1, 2), 2: (1,)}[meter] if rng.random() < 0.85 else ()
    bass_style = rng.choice(["beats", "offbeats", "offbeats", "one-three", "root"])
    if bare:
        snare_pos, lv_bass, lv_chord = (), 0.0, 0.0
    bass_h, bass_dec = int(rng.integers(3, 9)), rng.uniform(0.1, 0.4)
    chord_h = int(rng.integers(2, 7))
    half_bar_chords = rng.random() < 0.25 and meter == 4
    roots = 55.0 * 2 ** (rng.integers(0, 12, 8) / 12.0)
    brk = int(rng.integers(4, 12)) if rng.random() < 0.2 else -1  # a drums-only bar
    rest = int(rng.integers(4, 12)) if rng.random() < 0.15 else -1  # a silent bar
    swing = rng.uniform(0.0, 0.12) if rng.random() < 0.3 and sub == 2 else 0.0
    bar = -1
    beat_root = np.empty(len(beats))  # the chord root under each beat
    for j, (t, p, d) in enumerate(zip(beats, pos, period)):
        if p == 0:
            bar += 1
        root = beat_root[j] = roots[max(bar, 0) % len(roots)]
        if bar == rest:
            continue
        drums_only = bar == brk
        h = 0.0 if drums_only else 1.0
        if (p == 0 or (half_bar_chords and p == 2)) and lv_chord > 0:
            dur = d * (2 if half_bar_chords else meter)
            for r in (2.0, 2.52, 3.0):
                put(t, _tone(root * r, dur, sr, chord_h, 0.01, dur), lv_chord * h * 0.3)
        for e in range(hat_sub):
            frac = e / hat_sub + (swing if e % 2 else 0.0)
            if offbeat_hats and e != hat_sub // 2:
                continue
            put(t + frac * d, hats[(j + e) % 4], lv_hat * rng.uniform(0.7, 1.0))
        if p in kick_pos:
            put(t, kick, lv_kick)
        if meter == 4 and 2.5 in kick_pos and p == 2:
            put(t + 0.5 * d, kick, lv_kick * 0.8)
        if p in snare_pos:
            put(t, snare, lv_snare)
        if lv_bass > 0 and h:
            when = {"beats": [0.0], "offbeats": [0.5], "one-three": [0.0] if p % 2 == 0 else [],
                    "root": [0.0] if p == 0 else []}[str(bass_style)]
            for w in when:
                put(t + w * d, _tone(root, 0.45 * d, sr, bass_h, 0.004, bass_dec),
                    lv_bass * (1.2 if bass_style == "offbeats" else 1.0))
    if sub == 2 and meter in (2, 4) and not bare and SKANK_SHARE > 0:
        alt = np.random.default_rng(20_000 + seed)
        if alt.random() < SKANK_SHARE:
            y *= alt.uniform(0.3, 0.6)  # the beat's own instruments, quieter
            stab_h, lv_stab = int(alt.integers(3, 8)), alt.uniform(0.6, 1.0)
            for t, d, root in zip(beats, period, beat_root):
                for r in (2.0, 2.52, 3.0):
                    put(t + 0.5 * d, _tone(root * r, 0.2 * d, sr, stab_h, 0.003, 0.08),
                        lv_stab * 0.3)
    y = y[:int(seconds * sr)]
    if rng.random() < 0.3:
        y += rng.uniform(0.002, 0.02) * rng.standard_normal(len(y))
    y /= max(1e-6, np.abs(y).max()) / rng.uniform(0.3, 0.95)
    return y.astype(np.float32), beats, downs
