"""Tempo, beats, meter and downbeats on constructed audio with known answers."""

import numpy as np
import pytest

from musicvid.analysis import analyze_samples
from musicvid.analysis.features import ONSET_HOP
from musicvid.testing.audio import click_track

SR = 22050
FRAME = ONSET_HOP / SR  # one analysis frame: 11.6 ms


def nearest_error(est, ref):
    est = np.asarray(est)
    return np.array([np.min(np.abs(est - r)) for r in ref])


@pytest.mark.parametrize("bpm", [90, 120, 174])
def test_click_track_tempo_within_2_percent_and_beats_within_a_frame(bpm):
    y, ref = click_track(bpm, 16.0, sr=SR, offset=0.3)
    a = analyze_samples(y, SR)
    assert abs(a.tempo - bpm) / bpm < 0.02
    assert len(a.beats) == len(ref)  # no missing or extra beats, start to end
    assert nearest_error(a.beats, ref).max() <= FRAME
    assert a.tempo_confidence > 0


@pytest.mark.parametrize("bpm", [90, 120, 174])
def test_unaccented_clicks_are_not_halved(bpm):
    y, ref = click_track(bpm, 12.0, sr=SR, accent_every=1, offset=0.1)
    a = analyze_samples(y, SR)
    assert abs(a.tempo - bpm) / bpm < 0.02


@pytest.mark.parametrize("first, second, hits", [(100, 120, 0.95), (90, 140, 0.9),
                                                  (140, 90, 0.9)])
def test_follows_a_tempo_change(first, second, hits):
    y, ref = click_track([(0.0, first), (14.0, second)], 30.0, sr=SR, offset=0.2)
    a = analyze_samples(y, SR)
    err = nearest_error(a.beats, ref)
    assert np.mean(err < 0.035) >= hits  # nearly every beat on both sides of the change
    before = np.diff([b for b in a.beats if 2 < b < 11])
    after = np.diff([b for b in a.beats if 19 < b < 29])
    assert abs(60 / np.median(before) - first) < 2
    assert abs(60 / np.median(after) - second) < 2


@pytest.mark.parametrize("meter", [3, 4])
def test_meter_and_downbeats_from_accents(meter):
    y, ref = click_track(110, 18.0, sr=SR, accent_every=meter, offset=0.25)
    a = analyze_samples(y, SR)
    assert a.meter == meter
    truth = ref[::meter]
    assert len(a.downbeats) == len(truth)
    assert nearest_error(a.downbeats, truth).max() <= FRAME


def test_bass_on_the_beat_sets_the_phase_against_louder_offbeat_hats():
    """Kick on every beat, louder hi-hats on every half-beat: beats go with the kick."""
    bpm, dur = 120.0, 16.0
    beat = 60 / bpm
    y = np.zeros(int(dur * SR), dtype=np.float32)
    n = int(0.08 * SR)
    t = np.arange(n) / SR
    kick = (0.5 * np.sin(2 * np.pi * 60 * t) * np.exp(-t / 0.05)).astype(np.float32)
    rng = np.random.default_rng(1)
    hat = (0.9 * rng.standard_normal(n) * np.exp(-t / 0.01)).astype(np.float32)
    hat = np.diff(hat, prepend=0).astype(np.float32)  # bright
    ref = np.arange(0.2, dur - 0.5, beat)
    for b in ref:
        i = int(b * SR)
        y[i:i + n] += kick
        j = int((b + beat / 2) * SR)
        y[j:j + n] += hat[: len(y) - j]
    a = analyze_samples(np.clip(y, -1, 1), SR)
    assert abs(a.tempo - bpm) < 2
    assert np.median(nearest_error(a.beats, ref)) < 0.02


def test_silence_gets_a_steady_fallback_grid():
    y = np.zeros(SR * 5, dtype=np.float32)
    a = analyze_samples(y, SR)
    assert a.tempo == 120 and a.tempo_confidence == 0
    assert a.beats[0] == 0 and np.allclose(np.diff(a.beats), 0.5)
    assert a.beats[-1] < 5.0 and len(a.beats) == 10
    assert a.downbeats == a.beats[::4]
    assert len(a.sections) == 1 and a.sections[0].start == 0 and a.sections[0].end == 5.0
    assert a.key is None and a.energy == [0.0] * 150


def test_one_second_of_audio():
    y, _ = click_track(120, 1.0, sr=SR)
    a = analyze_samples(y, SR)
    assert a.duration == pytest.approx(1.0)
    assert len(a.beats) >= 2 and all(0 <= b < 1.0 for b in a.beats)
    assert len(a.energy) == len(a.onset) == 30
    assert [(s.start, s.end) for s in a.sections] == [(0.0, 1.0)]


def test_curves_match_the_video_frame_rate():
    y, _ = click_track(120, 6.4, sr=SR)
    for fps in (24.0, 30.0, 29.97):
        a = analyze_samples(y, SR, curve_fps=fps)
        assert a.curve_fps == fps
        assert len(a.energy) == len(a.onset) == round(6.4 * fps)
        assert 0 <= min(a.energy) and max(a.energy) <= 1 and max(a.onset) == 1.0


def test_onset_curve_peaks_on_the_clicks():
    y, ref = click_track(100, 8.0, sr=SR, offset=0.25, tone=False)
    a = analyze_samples(y, SR, curve_fps=30.0)
    onset = np.asarray(a.onset)
    at_clicks = onset[[int(b * 30) for b in ref]]
    assert at_clicks.min() > 5 * np.median(onset)


# -- a synthetic band: kick, snare, hats, bass and chords with known beats and bars -------
def _kick(sr):
    t = np.arange(int(0.15 * sr)) / sr
    f = 50 + 90 * np.exp(-t / 0.02)  # pitch drop
    return 0.9 * np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / 0.06)


def _snare(sr, rng):
    t = np.arange(int(0.12 * sr)) / sr
    noise = np.diff(rng.standard_normal(len(t) + 1))
    return (0.35 * noise + 0.4 * np.sin(2 * np.pi * 190 * t)) * np.exp(-t / 0.04)


def _hat(sr, rng):
    t = np.arange(int(0.03 * sr)) / sr
    return 0.12 * np.diff(rng.standard_normal(len(t) + 2), 2) * np.exp(-t / 0.008)


def _tone(freq, dur, sr, harmonics=6, attack=0.005, amp=0.3):
    t = np.arange(int(dur * sr)) / sr
    y = sum(np.sin(2 * np.pi * freq * h * t) / h for h in range(1, harmonics + 1))
    env = np.minimum(1, t / attack) * np.exp(-t / max(dur, 1e-3))
    return amp * y * env


def band(beats, meter, sr=SR, kick=None, snare=None, bass=(), bass_amp=0.5, chords=True,
         hats=True, seed=0, end=None):
    """Samples of a band playing over ``beats`` (seconds) with ``meter`` beats a bar
    (bar lines on beats 0, meter, 2*meter...). ``kick``/``snare``: bar positions (beats)
    they play on; ``bass``: bar positions in beats (fractions allowed) of the bass notes;
    a new chord every bar; eighth-note hats."""
    rng = np.random.default_rng(seed)
    beats = np.asarray(beats, dtype=float)
    period = float(np.median(np.diff(beats)))
    end = end if end is not None else beats[-1] + period
    y = np.zeros(int(end * sr) + sr, dtype=np.float64)

    def put(t, x):
        i = int(round(t * sr))
        if 0 <= i < len(y):
            k = min(len(x), len(y) - i)
            y[i:i + k] += x[:k]

    def at(pos):  # time of a fractional beat index
        return float(np.interp(pos, np.arange(len(beats)), beats,
                               right=beats[-1] + (pos - len(beats) + 1) * period))

    roots = [110.0, 146.8, 130.8, 164.8]  # A, D, C, E
    k, s = _kick(sr), _snare(sr, rng)
    for bar in range(int(np.ceil(len(beats) / meter))):
        b0 = bar * meter
        root = roots[bar % len(roots)]
        if chords:
            dur = meter * period
            for ratio in (1.0, 1.26, 1.5):
                put(at(b0), _tone(2 * root * ratio, dur, sr, 4, 0.01, 0.08))
        for pos in range(meter):
            if b0 + pos >= len(beats):
                break
            if kick is not None and pos in kick:
                put(at(b0 + pos), k)
            if snare is not None and pos in snare:
                put(at(b0 + pos), s)
            if hats:
                put(at(b0 + pos), _hat(sr, rng))
                put(at(b0 + pos + 0.5), _hat(sr, rng))
        for pos in bass:
            if b0 + pos < len(beats):
                put(at(b0 + pos), _tone(root / 2, 0.45 * period, sr, 8, 0.004, bass_amp))
    return np.clip(y, -1, 1).astype(np.float32)


def beat_hits(est, ref, tol=0.05):
    """Share of reference times with an estimate within ``tol`` seconds."""
    return float(np.mean(nearest_error(est, ref) <= tol)) if len(ref) else 0.0


def test_bass_on_the_off_beats_does_not_pull_the_beats_off():
    """Boogie/rock: kick on 1 and 3, snare on 2 and 4, a louder bass on every "and"."""
    ref = np.arange(0.25, 20.0, 60 / 112)
    y = band(ref, 4, kick=(0, 2), snare=(1, 3), bass=(0.5, 1.5, 2.5, 3.5), bass_amp=0.9)
    a = analyze_samples(y, SR)
    assert abs(a.tempo - 112) < 2.5
    inner = ref[(ref > 2) & (ref < 18)]
    assert beat_hits(a.beats, inner, 0.035) >= 0.95  # on the beats, not half a beat off
    assert a.meter == 4
    bars = ref[::4]
    assert beat_hits(a.downbeats, bars[(bars > 2) & (bars < 18)], 0.035) >= 0.9
    assert beat_hits(bars, a.downbeats, 0.035) >= 0.9  # and no downbeats elsewhere


def test_waltz_in_three_four():
    ref = np.arange(0.2, 24.0, 60 / 138)
    y = band(ref, 3, kick=(0,), snare=(1, 2), bass=(0,))
    a = analyze_samples(y, SR)
    assert abs(a.tempo - 138) < 3
    assert beat_hits(a.beats, ref[(ref > 2) & (ref < 22)], 0.035) >= 0.95
    assert a.meter == 3
    bars = ref[::3]
    inner = bars[(bars > 2) & (bars < 22)]
    assert beat_hits(a.downbeats, inner, 0.035) >= 0.9
    assert beat_hits(bars, a.downbeats, 0.035) >= 0.9


def test_six_eight_is_counted_in_dotted_quarters():
    """6/8: eighth notes grouped in threes, two beats a bar; the beat is the dotted
    quarter (kick on 1, snare on 4 of the six eighths), bar lines on the chord changes."""
    eighths = np.arange(0.3, 24.0, 60 / 216)  # dotted quarter at 72 BPM
    beats = eighths[::3]
    y = band(eighths, 6, kick=(0,), snare=(3,), bass=(0, 3), hats=False)
    a = analyze_samples(y, SR)
    inner = beats[(beats > 2) & (beats < 22)]
    assert abs(a.tempo - 72) < 2  # not the eighths, not a 3:2 level
    assert beat_hits(a.beats, inner, 0.035) >= 0.95
    bars = beats[::2]
    # every reported bar line is a true one (a bar of 6/8, or two of them at meter 4)
    assert beat_hits(bars, a.downbeats, 0.035) >= 0.9
    assert len(a.downbeats) >= 0.45 * len(bars)


def test_tempo_change_keeps_beats_and_bar_lines():
    first = np.arange(0.2, 14.0, 60 / 96)
    second = first[-1] + np.cumsum(np.full(40, 60 / 128))
    ref = np.concatenate([first, second])
    ref = ref[ref < 30]
    y = band(ref, 4, kick=(0, 2), snare=(1, 3), bass=(0, 2))
    a = analyze_samples(y, SR)
    inner = ref[(ref > 2) & (ref < 28)]
    assert beat_hits(a.beats, inner, 0.035) >= 0.9
    after = np.diff([b for b in a.beats if 17 < b < 28])
    assert abs(60 / np.median(after) - 128) < 3
    bars = ref[::4]
    assert beat_hits(a.downbeats, bars[(bars > 2) & (bars < 28)], 0.035) >= 0.85


def test_silent_bars_in_the_middle_keep_the_grid():
    """Two bars of silence (a stop): the beats and bar lines after it are on the grid."""
    ref = np.arange(0.2, 26.0, 60 / 120)
    y = band(ref, 4, kick=(0, 2), snare=(1, 3), bass=(0, 2))
    gap = (ref[24] + 0.0, ref[32] - 0.01)  # bars 7 and 8 silent
    y[int(gap[0] * SR):int(gap[1] * SR)] = 0
    a = analyze_samples(y, SR)
    played = ref[((ref > 2) & (ref < gap[0])) | ((ref > gap[1]) & (ref < 24))]
    assert beat_hits(a.beats, played, 0.035) >= 0.95
    bars = ref[::4]
    later = bars[(bars > gap[1]) & (bars < 24)]
    assert beat_hits(a.downbeats, later, 0.035) >= 0.9
    assert beat_hits(bars, a.downbeats, 0.035) >= 0.9


def test_pickup_beat_before_the_first_bar():
    """An anacrusis: one beat before the first bar line; downbeats still on bar lines."""
    ref = np.arange(0.3, 24.0, 60 / 104)
    # the band's bars start at beat 1, beat 0 is the pickup (bass alone)
    y = band(ref[1:], 4, kick=(0, 2), snare=(1, 3), bass=(0, 2))
    pickup = _tone(110.0 / 2 * 1.5, 0.4, SR, 8, 0.004, 0.5)
    i = int(ref[0] * SR)
    y[i:i + len(pickup)] += pickup.astype(np.float32)
    a = analyze_samples(np.clip(y, -1, 1), SR)
    assert beat_hits(a.beats, ref[(ref > 2) & (ref < 22)], 0.035) >= 0.95
    assert a.meter == 4
    bars = ref[1::4]
    assert beat_hits(a.downbeats, bars[(bars > 2) & (bars < 22)], 0.035) >= 0.9
    assert beat_hits(bars, a.downbeats, 0.035) >= 0.9


def test_a_ringing_final_chord_gets_no_beats_and_the_last_shot_holds():
    """The band stops on a final hit whose chord rings on until the file stops (mid-note,
    a click): no beat is played after the hit, so the grid ends there and the video holds
    its last shot (no cuts on beats nobody plays)."""
    from fractions import Fraction

    from musicvid import RenderConfig, plan

    ref = np.arange(0.25, 16.0, 60 / 120)
    y = band(ref, 4, kick=(0, 2), snare=(1, 3), bass=(0, 2), end=ref[-1] + 0.05)
    last = float(ref[-1])
    tail = np.zeros(int((last + 5.5) * SR), dtype=np.float32)
    tail[:len(y)] = y[:len(tail)]
    i = int(last * SR)
    for ratio in (1.0, 1.26, 1.5):  # the final chord, held and decaying
        note = _tone(220.0 * ratio, 6.0, SR, 4, 0.01, 0.15).astype(np.float32)
        tail[i:i + len(note)] += note[:len(tail) - i]
    a = analyze_samples(np.clip(tail, -1, 1), SR)
    assert beat_hits(a.beats, ref[(ref > 2) & (ref < 15)], 0.035) >= 0.95
    assert max(a.beats) <= last + 0.1, "beats continued into the ringing chord"
    assert max(a.beats) >= last - 0.6, "the last played beats were dropped"
    board = plan(a, RenderConfig.create(fps=30))
    cuts = [float(Fraction(s.start_frame) / board.fps) for s in board.shots[1:]]
    assert cuts and max(cuts) <= last + 0.05
    assert board.shots[-1].end_frame == board.frame_count


def test_the_hiss_a_recording_ends_on_is_not_played():
    """The band stops and the recording runs on for ten seconds of its noise floor (hiss
    20 dB under the music through the whole file). On a log scale the hiss flickers
    about as much as soft music (its flux peaks half the typical beat's, as measured in
    noisy renders of the corpus), so the onsets alone cannot tell it from playing; its
    level can: a grid the decoder ran on into the hiss ends where the band stops."""
    import dataclasses

    from musicvid.analysis.features import compute_features
    from musicvid.analysis.netbeats import _last_played

    ref = np.arange(0.25, 16.0, 60 / 120)
    y = band(ref, 4, kick=(0, 2), snare=(1, 3), bass=(0, 2), end=ref[-1] + 0.4)
    last = float(ref[-1])
    song = np.zeros(int((last + 10.5) * SR))
    song[:len(y)] = y[:len(song)]
    rms = float(np.sqrt(np.mean(song[:int(last * SR)] ** 2)))
    song += np.random.default_rng(3).standard_normal(len(song)) * rms * 0.1
    f = compute_features(np.clip(song, -1, 1).astype(np.float32), SR)
    grid = np.arange(0.25, last + 10.0, 0.5)  # the decoder's beats, on into the hiss
    assert _last_played(f, grid) == pytest.approx(last, abs=0.01)
    end = int((last + 0.6) * f.onset_fps)
    onset = np.asarray(f.onset, dtype=np.float64).copy()
    music = onset[:end]
    flicker = np.random.default_rng(4).random(len(onset) - end)
    onset[end:] = np.median(music) + flicker * 0.5 * (np.percentile(music, 99) - np.median(music))
    hissy = dataclasses.replace(f, onset=onset.astype(np.float32))
    assert _last_played(hissy, grid) == pytest.approx(last, abs=0.01)
    quiet = dataclasses.replace(hissy, rms=np.asarray(f.rms) * 0 + np.asarray(f.rms)[:end].mean())
    assert _last_played(quiet, grid) > last + 5, "the hiss was as loud as the band: played"


def _chord_changes_on_every_beat(ref):
    """Eighth-note hats and the chord's root in the bass on every eighth (nothing
    percussive tells a beat from its "and"), over a new chord on every beat: ``band``
    with a one-beat bar."""
    return band(ref, 1, bass=(0, 0.5), bass_amp=0.15)


def test_harmonic_change_rises_where_the_chord_changes():
    from musicvid.analysis.beats import _max3
    from musicvid.analysis.features import compute_features
    from musicvid.analysis.netbeats import _harmonic_change

    ref = np.arange(0.5, 12.0, 0.6)
    f = compute_features(_chord_changes_on_every_beat(ref), SR)
    change = _harmonic_change(f)
    assert change is not None and len(change) == f.chroma.shape[1]
    at_beats = _max3(change, ref * f.slow_fps)
    at_halves = _max3(change, (ref + 0.3) * f.slow_fps)
    assert np.median(at_beats) > 2 * np.median(at_halves) + 0.5


def _stabs_over_a_held_bass(n_beats=48, per=10):
    """Chroma (12, frames), ``per`` frames a beat: the chord's root held in the bass, a
    new chord every two beats (on the beat), and the chord's third and fifth struck as a
    stab on every "and", ringing down until the next one (oom-pah, ska, a montuno)."""
    chords = [(0, 4, 7), (5, 9, 0), (7, 11, 2), (9, 0, 4)]  # C F G Am
    c = np.full((12, n_beats * per), 0.01)
    for t in range(n_beats * per):
        b, k = divmod(t, per)
        root = chords[(b // 2) % 4][0]
        c[root, t] += 1.0
        stab = b if k >= per // 2 else b - 1  # the last stab struck
        if stab >= 0:
            for pc in chords[(stab // 2) % 4][1:]:
                c[pc, t] += 0.8 * 0.7 ** (t - stab * per - per // 2)
    beats = np.arange(n_beats) * per
    return c, beats, beats + per / 2


def test_a_chord_struck_again_on_the_and_is_not_a_chord_change():
    """The phase check's harmonic cue reads the turn of the whole chroma: stabs struck
    on every "and" raise their pitch classes against the held bass (the rise of each
    pitch class points to the "and"s), but only the chord changes turn the chroma."""
    from types import SimpleNamespace

    from musicvid.analysis.beats import _max3
    from musicvid.analysis.netbeats import _harmonic_change, chroma_rise

    chroma, beats, ands = _stabs_over_a_held_bass()
    rise = chroma_rise(chroma)
    assert rise is not None and _max3(rise, ands).mean() > _max3(rise, beats).mean()
    change = _harmonic_change(SimpleNamespace(chroma=chroma))
    assert change is not None and len(change) == chroma.shape[1]
    assert _max3(change, beats).mean() > 1.3 * _max3(change, ands).mean()
    # one chord held: its only turn is out of the silence before the first frame
    held = _harmonic_change(SimpleNamespace(chroma=np.tile(chroma[:, :1], (1, 40))))
    assert held is not None and held[0] > 0 and np.allclose(held[1:], 0)


def _passing_tones_on_the_ands(n_beats=48, per=10):
    """Chroma (12, frames), ``per`` frames a beat: a new chord on every bar line (four
    beats), held, and a passing tone a tone above its root struck on every "and",
    ringing down before the next beat (a guitar's hammer-on, a piano's grace note)."""
    chords = [(0, 4, 7), (5, 9, 0), (7, 11, 2), (9, 0, 4)]  # C F G Am
    c = np.full((12, n_beats * per), 0.01)
    for t in range(n_beats * per):
        b, k = divmod(t, per)
        chord = chords[(b // 4) % 4]
        for pc in chord:
            c[pc, t] += 1.0
        if k >= per // 2:
            c[(chord[0] + 2) % 12, t] += 1.5 * 0.6 ** (k - per // 2)
    beats = np.arange(n_beats, dtype=np.float64) * per
    return c, beats, beats + per / 2


def test_a_chord_change_on_the_bar_line_outweighs_a_passing_tone_on_every_and(monkeypatch):
    """The chroma turns a little on every "and" (a passing tone in and out) and a lot on
    one beat in four (the chord change at the bar line): over all beats the "and"s turn
    it more, on the bar phase where it turns most the beats do, and the half-beat check
    (activation flat, the drums set aside) reads the bar phase: it keeps the beats and
    moves the half-beats onto them. Without the bar term it takes the "and"s."""
    from types import SimpleNamespace

    from musicvid.analysis import netbeats
    from musicvid.analysis.beats import _max3

    chroma, beats, ands = _passing_tones_on_the_ands()
    turn = netbeats.chroma_turn(chroma)
    assert turn is not None
    on, off = _max3(turn, beats), _max3(turn, ands)
    assert on.mean() < off.mean()
    assert netbeats._bar_peak(on) > 2 * netbeats._bar_peak(off)

    n = chroma.shape[1]
    f = SimpleNamespace(chroma=chroma, slow_fps=20.0, onset_fps=20.0,
                        onset_perc=np.random.default_rng(5).random(n))
    act = np.full(n, 0.5)
    monkeypatch.setattr(netbeats, "PHASE_PERC", 0.0)
    assert np.allclose(netbeats._half_beat_check(f, act, beats), beats)
    chosen = netbeats._half_beat_check(f, act, ands)
    assert np.abs(chosen[:-1] - beats[1:]).max() < 1e-9
    monkeypatch.setattr(netbeats, "PHASE_BAR", 0.0)
    assert np.allclose(netbeats._half_beat_check(f, act, beats), ands)


def test_bar_peak_reads_the_strongest_phase_of_three_or_four_beats():
    from musicvid.analysis.netbeats import _bar_peak

    four = np.tile([4.0, 0.0, 0.0, 0.0], 6)
    assert _bar_peak(four) == pytest.approx(4.0)
    three = np.tile([0.0, 3.0, 0.0], 8)
    assert _bar_peak(three) == pytest.approx(3.0)
    flat = np.full(24, 0.7)
    assert _bar_peak(flat) == pytest.approx(0.7)
    short = np.array([5.0, 0.0, 0.0, 0.0, 0.0])  # under two bars of either meter
    assert _bar_peak(short) == pytest.approx(1.0)


def test_chord_changes_set_the_phase_where_the_drums_cannot(monkeypatch):
    """The per-song half-beat check: with an activation that fires equally on beats and
    "and"s and the percussive term set aside, the chord changes alone choose the beats,
    whichever of the two grids comes in."""
    from musicvid.analysis import netbeats
    from musicvid.analysis.features import compute_features

    monkeypatch.setattr(netbeats, "PHASE_PERC", 0.0)
    period = 60 / 100
    ref = np.arange(0.5, 16.0, period)
    f = compute_features(_chord_changes_on_every_beat(ref), SR)
    act = np.full(len(f.onset), 0.5)
    beats = ref * f.onset_fps
    halves = beats + 0.5 * period * f.onset_fps
    assert np.allclose(netbeats._half_beat_check(f, act, beats), beats)
    chosen = netbeats._half_beat_check(f, act, halves)
    assert np.abs(chosen[:-1] - beats[1:]).max() < 1.0  # moved onto the beats


def test_the_downbeat_output_helps_choose_the_meter_but_not_the_phase(monkeypatch):
    """Accents that fold slightly better by three (an arpeggio's pattern) than by four,
    and a downbeat cue every fourth beat: the meter is four, its phase the accents'."""
    from musicvid.analysis import meter as meter_mod

    n = 64
    i = np.arange(n)
    accents = 1.0 * (i % 3 == 0) + 0.6 * (i % 4 == 1)
    cue = 1.0 * (i % 4 == 2) + 0.05 * np.random.default_rng(0).standard_normal(n)
    beats = 0.5 * i
    alone = meter_mod.estimate_meter(beats, accents)
    assert alone.meter == 3
    both = meter_mod.estimate_meter(beats, accents, cue)
    assert (both.meter, both.phase) == (4, 1)
    np.testing.assert_allclose(both.downbeats, beats[1::4])
    monkeypatch.setattr(meter_mod, "METER_CUE", 0.0)  # the cue's weight: 0 ignores it
    assert meter_mod.estimate_meter(beats, accents, cue).meter == 3


def test_the_bar_phase_is_chosen_over_two_bars_so_eighths_counted_as_beats_cut_on_a_beat(
        monkeypatch):
    """A slow 4/4 counted on its eighths (8 grid beats to the true bar): the chords change
    on the true downbeat (grid beat 0 of 8), the bass plays the "and"s of beats 1 and 3
    (grid beats 1 and 5). Folded by one 4-beat bar, the bass wins and every bar line falls
    on an "and"; folded over two bars the chord change stands out, so the bar lines fall
    on beats 1 and 3 of the true bar, both on the beat."""
    from musicvid.analysis import meter as meter_mod

    n = 96
    i = np.arange(n)
    rng = np.random.default_rng(3)
    accents = 3.0 * (i % 8 == 0) + 1.8 * (i % 4 == 1) + 0.1 * rng.standard_normal(n)
    beats = 0.43 * i
    got = meter_mod.estimate_meter(beats, accents)
    assert (got.meter, got.phase) == (4, 0)
    np.testing.assert_allclose(got.downbeats, beats[0::4])
    assert np.all(np.isin(np.round(got.downbeats / 0.43).astype(int) % 2, [0]))  # on beats
    monkeypatch.setattr(meter_mod, "PHASE_BARS", 1)  # one bar: the bass's "and"s
    assert meter_mod.estimate_meter(beats, accents).phase == 1


def test_the_chroma_turn_at_the_beat_accents_the_bar_line(monkeypatch):
    """The meter's accents add ``METER_TURN`` times the chroma's turn at each beat: it
    raises the beats where the chord changes (here every fourth, the bar line) over the
    others, and one chord held throughout (a harmony that never moves) adds nothing."""
    from musicvid.analysis import meter as meter_mod

    slow_fps, onset_fps, per = 20.0, 100.0, 10
    chords = [(0, 4, 7), (5, 9, 0), (7, 11, 2), (9, 0, 4)]
    n_beats = 48
    chroma = np.full((12, n_beats * per), 0.01)
    for t in range(n_beats * per):
        for pc in chords[(t // per // 4) % 4]:
            chroma[pc, t] += 1.0 + 0.5 * 0.8 ** (t % per)  # struck on every beat
    beats = np.arange(n_beats) * per / slow_fps
    duration = n_beats * per / slow_fps
    flat = np.zeros(int(duration * onset_fps) + 10)
    args = (flat, flat, flat, onset_fps, duration)

    monkeypatch.setattr(meter_mod, "METER_TURN", 0.0)
    without = meter_mod.beat_accents(beats, chroma, slow_fps, *args)
    monkeypatch.setattr(meter_mod, "METER_TURN", 2.0)
    with_turn = meter_mod.beat_accents(beats, chroma, slow_fps, *args)
    added = with_turn - without
    bar = np.arange(n_beats) % 4 == 0
    assert added[bar][1:].min() > 0.5
    assert added[~bar].max() < 0.0
    assert meter_mod.estimate_meter(beats, with_turn).phase == 0

    static = np.tile(chroma[:, :1], (1, chroma.shape[1]))  # one chord held throughout
    a = meter_mod.beat_accents(beats, static, slow_fps, *args)
    monkeypatch.setattr(meter_mod, "METER_TURN", 0.0)
    assert np.allclose(a, meter_mod.beat_accents(beats, static, slow_fps, *args))
