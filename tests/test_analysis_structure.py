"""Sections, repetition groups, labels, key and descriptors on constructed songs."""

import numpy as np
import pytest

from musicvid.analysis import analyze_samples
from musicvid.analysis.tonal import estimate_key
from musicvid.testing.audio import structured_song

SR = 22050


@pytest.mark.parametrize("bpm, bars", [(120, 4), (100, 8), (140, 4)])
def test_abab_c_b_boundaries_within_a_beat_and_groups(bpm, bars):
    y, starts, groups = structured_song("ABABCB", bpm=bpm, bars=bars, sr=SR)
    a = analyze_samples(y, SR)
    beat = 60 / bpm
    got = [s.start for s in a.sections]
    assert len(got) == len(starts)
    assert np.max(np.abs(np.array(got) - starts)) <= beat
    assert [s.group for s in a.sections] == groups == [0, 1, 0, 1, 2, 1]
    assert a.sections[-1].end == pytest.approx(a.duration)
    for s, t in zip(a.sections[:-1], a.sections[1:], strict=True):
        assert s.end == t.start
    # boundaries sit on downbeats
    for s in a.sections[1:]:
        assert min(abs(d - s.start) for d in a.downbeats) < 1e-6


def test_labels_from_repetition_energy_and_position():
    y, _, _ = structured_song("ABABCB", sr=SR)
    a = analyze_samples(y, SR)
    labels = [s.label for s in a.sections]
    # B repeats and is the loudest part: the chorus; A repeats: verse; C is a quiet
    # one-off in the middle: a breakdown
    assert labels == ["verse", "chorus", "verse", "chorus", "breakdown", "chorus"]
    assert len({s.group for s in a.sections if s.label == "chorus"}) == 1
    energies = {s.label: s.energy for s in a.sections}
    assert energies["chorus"] > energies["verse"] > energies["breakdown"]


def test_unique_first_and_last_parts_are_intro_and_outro():
    y, _, groups = structured_song("CABABE", sr=SR)
    a = analyze_samples(y, SR)
    assert [s.group for s in a.sections] == groups
    labels = [s.label for s in a.sections]
    assert labels[0] == "intro" and labels[-1] == "outro"
    assert labels[1:5] == ["verse", "chorus", "verse", "chorus"]


def test_song_in_three_four():
    y, starts, groups = structured_song("ABAB", bpm=120, bars=4, sr=SR)
    a = analyze_samples(y, SR)
    assert a.meter == 4  # the constructed parts are 4/4
    assert [s.group for s in a.sections] == groups


def chord_audio(midis, seconds=2.0):
    t = np.arange(int(seconds * SR)) / SR
    y = np.zeros_like(t)
    for m in midis:
        f = 440 * 2 ** ((m - 69) / 12)
        for h in range(1, 5):
            y += 0.5 ** h * np.sin(2 * np.pi * f * h * t)
    return y


@pytest.mark.parametrize("progression, key, mode", [
    ([[57, 60, 64], [62, 65, 69], [64, 68, 71], [57, 60, 64]], "A", "minor"),  # Am Dm E Am
    ([[60, 64, 67], [65, 69, 72], [67, 71, 74], [60, 64, 67]], "C", "major"),  # C F G C
    ([[62, 66, 69], [67, 71, 74], [69, 73, 76], [62, 66, 69]], "D", "major"),  # D G A D
])
def test_key_and_mode(progression, key, mode):
    y = np.concatenate([chord_audio(c) for c in progression] * 2)
    y = (0.3 * y / np.max(np.abs(y))).astype(np.float32)
    a = analyze_samples(y, SR)
    assert (a.key, a.mode) == (key, mode)
    assert 0 < a.descriptors["key_confidence"] <= 1


def test_key_needs_pitch():
    assert estimate_key(np.zeros((12, 10))) == (None, None, 0.0)
    assert estimate_key(np.ones((12, 10)))[0] is None  # flat chroma: noise, no key


def test_descriptors_are_bounded_and_brightness_tracks_the_spectrum():
    t = np.arange(SR * 4) / SR
    rng = np.random.default_rng(0)
    dark = (0.4 * np.sin(2 * np.pi * 110 * t)).astype(np.float32)
    bright = (0.2 * np.diff(rng.standard_normal(len(t) + 1))).astype(np.float32)
    d = analyze_samples(dark, SR).descriptors
    b = analyze_samples(bright, SR).descriptors
    for desc in (d, b):
        for name in ("brightness", "energy", "dynamics", "density", "pulse_clarity",
                     "key_confidence", "valence", "arousal"):
            assert 0.0 <= desc[name] <= 1.0, name
    assert b["brightness"] > d["brightness"] + 0.3
    assert b["spectral_centroid_hz"] > 3000 > 500 > d["spectral_centroid_hz"]


def test_louder_music_has_more_energy():
    y, _, _ = structured_song("AB", sr=SR)
    loud = analyze_samples(y, SR).descriptors
    quiet = analyze_samples((y * 0.05).astype(np.float32), SR).descriptors
    assert loud["loudness_dbfs"] - quiet["loudness_dbfs"] == pytest.approx(26.0, abs=0.5)
    assert loud["energy"] > quiet["energy"]
