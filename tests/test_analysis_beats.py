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
