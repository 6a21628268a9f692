from __future__ import annotations

import musicvid_plp
import numpy as np
import pytest

from musicvid import AudioNotFoundError, RenderCancelled, RenderConfig, StageContext, render
from musicvid.plugins import get_plugin_manager, get_stage, list_stages, reset_plugin_manager
from musicvid.testing import FakeStagesPlugin, write_wav

WINDOW = 0.07  # the usual beat-tracking tolerance (mir_eval's F-measure window)


def analyze(path, cancelled=False, **options):
    ctx = StageContext(RenderConfig.create(**options), "analyze",
                       is_cancelled=lambda: cancelled)
    return musicvid_plp.PLPAnalyzer().analyze(path, ctx)


def offsets(found, truth):
    """For each true beat, the distance to the nearest found one (seconds)."""
    found = np.asarray(found)
    return np.array([np.abs(found - t).min() for t in truth])


@pytest.mark.parametrize("bpm", [90, 120, 150])
def test_tempo_beats_and_downbeats_of_a_click_track(musicvid_click_track, bpm):
    path, truth = musicvid_click_track(bpm=bpm, duration=12.0)
    a = analyze(path)
    assert abs(a.tempo - bpm) < 1.0
    err = offsets(a.beats, truth)
    assert err.max() <= WINDOW and err.mean() < 0.04
    assert len(a.beats) == len(truth)  # nothing missed, nothing extra
    # the click track accents every 4th click: the bar lines
    assert offsets(a.downbeats, truth[::4]).max() <= WINDOW
    assert len(a.downbeats) == len(truth[::4])
    assert abs(a.duration - 12.0) < 0.01
    assert len(a.energy) == len(a.onset) == round(12.0 * 30)


def test_the_pulse_follows_a_tempo_change(musicvid_click_track):
    path, truth = musicvid_click_track(bpm=[(0.0, 120), (10.0, 100)], duration=20.0)
    a = analyze(path)
    assert offsets(a.beats, truth).max() <= WINDOW
    assert len(a.beats) == len(truth)


def test_tempo_confidence_is_higher_for_a_steady_pulse_than_for_noise(musicvid_click_track,
                                                                     tmp_path):
    click, _ = musicvid_click_track(bpm=120, duration=12.0)
    noise = write_wav(tmp_path / "noise.wav",
                      np.random.default_rng(0).uniform(-0.3, 0.3, 22050 * 12).astype("float32"))
    assert analyze(click).tempo_confidence > 2 * analyze(noise).tempo_confidence


def test_curves_follow_the_configured_frame_rate(musicvid_click_track):
    path, _ = musicvid_click_track(bpm=120, duration=6.0)
    a = analyze(path, fps=24)
    assert a.curve_fps == 24.0 and len(a.energy) == 6 * 24
    assert max(a.energy) == 1.0 and min(a.energy) >= 0.0


def test_cancellation_and_bad_input_raise_musicvid_errors(musicvid_click_track, tmp_path):
    path, _ = musicvid_click_track(bpm=120, duration=3.0)
    with pytest.raises(RenderCancelled):
        analyze(path, cancelled=True)
    with pytest.raises(AudioNotFoundError):
        analyze(tmp_path / "missing.wav")


def test_registered_through_the_hook_like_a_default():
    get_plugin_manager().register(musicvid_plp, name="plp")
    entry = get_stage("analyzer", "plp")
    assert entry.factory is musicvid_plp.PLPAnalyzer and entry.plugin == "plp"
    assert {"librosa", "plp"} <= {e.name for e in list_stages("analyzer")}


def test_the_installed_entry_point_is_found(monkeypatch):
    """Needs the package installed (pip install .): musicvid finds it by its entry point."""
    monkeypatch.setenv("MUSICVID_LOAD_PLUGINS", "plp")
    reset_plugin_manager()
    entry = get_stage("analyzer", "plp")
    assert entry.distribution == "musicvid-plp-analyzer"
    assert entry.factory is musicvid_plp.PLPAnalyzer


def test_a_render_cuts_on_the_plugins_beats(musicvid_click_track, tmp_path):
    get_plugin_manager().register(musicvid_plp, name="plp")
    get_plugin_manager().register(FakeStagesPlugin(), name="fakes")  # keyframes without weights
    path, _ = musicvid_click_track(bpm=120, duration=6.0)
    result = render(path, tmp_path / "v.mp4", analyzer="plp", keyframes="solid", width=160,
                    height=90, keyframe_width=64, keyframe_height=32)
    assert result.analysis.descriptors["plp_downbeat_phase"] in (0.0, 1.0, 2.0, 3.0)
    assert result.composite.frame_count == 180
    beat_frames = {round(b * 30) for b in result.analysis.beats}
    assert all(s.start_frame in beat_frames for s in result.storyboard.shots[1:])
