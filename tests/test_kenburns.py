import numpy as np
import pytest
from PIL import Image

from musicvid import (
    Analysis,
    InvalidOptionError,
    Keyframe,
    RenderConfig,
    Shot,
    Storyboard,
    StoryboardError,
)
from musicvid._video import i420_planes, psnr, rgb_to_i420
from musicvid.defaults import kenburns_motion as kb
from musicvid.protocols import StageContext

W, H = 160, 90


def textured(w=96, h=54, seed=0):
    """A keyframe with detail at every scale (so warps and shifts are visible)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 6, w // 6, 3), dtype=np.uint8)
    im = Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)
    arr = np.asarray(im).copy()
    arr[::7, :, 1] = 255  # thin lines
    return Image.fromarray(arr)


def board_for(*lengths, fps=30, energy=0.5):
    shots, start = [], 0
    for i, n in enumerate(lengths):
        shots.append(Shot(i, start, start + n, "p", seed=1000 + i, energy=energy))
        start += n
    return Storyboard(fps=fps, frame_count=start, shots=shots, width=W, height=H)


def analysis_for(board, energy=None, beats=(), downbeats=()):
    dur = board.frame_count / float(board.fps)
    return Analysis(duration=dur, sample_rate=22050, tempo=120.0, beats=list(beats),
                    downbeats=list(downbeats), curve_fps=float(board.fps),
                    energy=list(energy) if energy is not None else [])


def ctx(**options):
    return StageContext(RenderConfig.create(width=W, height=H, options=options))


def animate(shot, board, analysis, **options):
    return kb.KenBurnsMotion().animate(Keyframe(textured()), shot, board, analysis,
                                       ctx(**options))


@pytest.mark.parametrize("n", [1, 2, 37])
def test_exact_frame_counts_in_both_layouts(n):
    board = board_for(n)
    clip = animate(board.shots[0], board, analysis_for(board))
    rgb = list(clip)
    yuv = list(clip.iter_yuv420())
    assert len(rgb) == len(yuv) == clip.frame_count == n
    assert rgb[0].shape == (H, W, 3) and rgb[0].dtype == np.uint8
    assert yuv[0].shape == (H * 3 // 2, W)


def test_same_plan_same_frames_and_shots_on_one_keyframe_differ():
    board = board_for(20, 20)
    analysis = analysis_for(board)
    a = list(animate(board.shots[0], board, analysis))
    b = list(animate(board.shots[0], board, analysis))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    # same keyframe image, next shot: a different move
    c = list(animate(board.shots[1], board, analysis))
    assert not np.array_equal(a[-1], c[-1])


def test_direction_alternates_from_shot_to_shot():
    board = board_for(*[30] * 6)
    analysis = analysis_for(board)
    paths = [kb.kenburns_path(s, analysis, board) for s in board.shots]
    zoom_in = [p.zoom[-1] > p.zoom[0] for p in paths]
    assert all(zoom_in[i] != zoom_in[i + 1] for i in range(5))
    angles = [np.arctan2(p.cy[-1] - p.cy[0], p.cx[-1] - p.cx[0]) for p in paths]
    diffs = [abs((angles[i + 1] - angles[i] + np.pi) % (2 * np.pi) - np.pi) for i in range(5)]
    assert min(diffs) > 0.3  # radians: no two neighbours pan the same way


def test_shot_energy_sets_the_zoom_amount():
    quiet, loud = board_for(60, energy=0.1), board_for(60, energy=0.9)
    zq = kb.kenburns_path(quiet.shots[0], analysis_for(quiet), quiet).zoom
    zl = kb.kenburns_path(loud.shots[0], analysis_for(loud), loud).zoom
    assert np.ptp(zl) > np.ptp(zq) + 0.1


def test_energy_curve_drives_the_speed_of_the_move():
    board = board_for(120)
    shot = board.shots[0]
    loud_first = analysis_for(board, energy=[1.0] * 60 + [0.0] * 60)
    loud_last = analysis_for(board, energy=[0.0] * 60 + [1.0] * 60)
    shot.motion = {"kind": "auto", "pulses": []}  # isolate the speed from the pulses
    za = kb.kenburns_path(shot, loud_first, board).zoom
    zb = kb.kenburns_path(shot, loud_last, board).zoom
    assert not np.allclose(za, zb)
    # where the music is loud, the zoom travels further
    travel_a = np.abs(np.diff(za))
    travel_b = np.abs(np.diff(zb))
    assert travel_a[:59].sum() > travel_a[60:].sum()
    assert travel_b[60:].sum() > travel_b[:59].sum()
    # and both cover the same move, eased to rest at the ends
    assert za[0] == pytest.approx(zb[0]) and za[-1] == pytest.approx(zb[-1])
    assert abs(za[1] - za[0]) < abs(za[30] - za[29])


def test_planner_pulses_brighten_and_punch_on_their_frames():
    board = board_for(60)
    shot = board.shots[0]
    shot.motion = {"kind": "auto", "pulses": [[10, 1.0], [40, 0.5]], "zoom": 0.0, "pan": 0.0}
    path = kb.kenburns_path(shot, analysis_for(board), board)
    peaks = [i for i in range(1, 59) if path.gain[i] > path.gain[i - 1]
             and path.gain[i] >= path.gain[i + 1]]
    assert peaks == [10, 40]
    assert path.gain[10] == pytest.approx(1 + kb.PULSE_GAIN)
    assert path.gain[40] == pytest.approx(1 + kb.PULSE_GAIN * 0.5)
    assert path.zoom[10] > path.zoom[5] and path.gain[0] == 1.0
    frames = list(animate(shot, board, analysis_for(board)))
    assert frames[10].mean() > frames[5].mean() + 2  # brighter on the pulse
    shot.motion = {"kind": "auto", "pulses": []}
    assert np.all(kb.kenburns_path(shot, analysis_for(board), board).gain == 1.0)


def test_without_planner_pulses_beats_pulse_and_downbeats_more():
    board = board_for(60)
    analysis = analysis_for(board, energy=[0.8] * 60, beats=[0.5, 1.0, 1.5],
                            downbeats=[1.0])
    env = kb.pulse_envelope(board.shots[0], analysis, 30.0)
    assert env[30] > env[15] > 0 and env[30] > env[45]
    assert env[0] == 0.0


def test_malformed_pulses_are_a_storyboard_error():
    board = board_for(10)
    board.shots[0].motion = {"kind": "auto", "pulses": [[1, 2, 3]]}
    with pytest.raises(StoryboardError, match="shot 0"):
        kb.kenburns_path(board.shots[0], analysis_for(board), board)


def test_window_stays_inside_the_source_for_any_move():
    board = board_for(50)
    shot = board.shots[0]
    shot.motion = {"zoom": 0.6, "pan": 0.9, "angle": 33}
    path = kb.kenburns_path(shot, analysis_for(board), board)
    src = np.zeros((112, 200, 3), np.uint8)
    r = kb.KenBurnsRenderer(src, W, H)
    aff = r.affines(path)
    left = aff[:, 1] + 0.5 - 0.5 * aff[:, 0]  # the source x of the output's left edge
    right = left + aff[:, 0] * W
    top = aff[:, 3] + 0.5 - 0.5 * aff[:, 2]
    bottom = top + aff[:, 2] * H
    assert left.min() >= -1e-9 and right.max() <= 200 + 1e-9
    assert top.min() >= -1e-9 and bottom.max() <= 112 + 1e-9


def test_sampling_is_sub_pixel():
    """A quarter-pixel pan changes the picture, by less than a whole-pixel pan does."""
    src = np.asarray(textured(200, 112))
    r = kb.KenBurnsRenderer(src, W, H)

    def frame(dx_pixels):
        one = np.ones(1)
        path = kb.KenBurnsPath(zoom=one * 1.0, cx=one * (0.5 + dx_pixels / 200), cy=one * 0.5,
                               gain=one)
        return next(r.rgb(path)).astype(int)

    base, quarter, whole = frame(0.0), frame(0.25), frame(1.0)
    d_quarter = np.abs(quarter - base).mean()
    d_whole = np.abs(whole - base).mean()
    assert 0 < d_quarter < d_whole


def test_the_keyframe_is_upscaled_once_per_shot(monkeypatch):
    calls = []
    real = kb.cover_resize
    monkeypatch.setattr(kb, "cover_resize", lambda *a: calls.append(a[1:]) or real(*a))
    board = board_for(25)
    clip = animate(board.shots[0], board, analysis_for(board))
    assert calls == []  # lazily, on first use
    list(clip)
    list(clip.iter_yuv420())
    assert calls == [kb.overscanned_size(W, H)]


def test_i420_output_matches_the_rgb_output_converted():
    """Warping the planes equals warping RGB then converting: luma to rounding, chroma
    (half resolution either way) closely even on one-pixel saturated lines."""
    board = board_for(12, energy=0.9)
    clip = animate(board.shots[0], board, analysis_for(board, beats=[0.1], downbeats=[0.1]))
    for rgb, yuv in zip(clip, clip.iter_yuv420()):
        y1, u1, v1 = i420_planes(rgb_to_i420(rgb), W, H)
        y2, u2, v2 = i420_planes(yuv, W, H)
        assert psnr(y1, y2) > 45
        assert psnr(u1, u2) > 30 and psnr(v1, v2) > 30


@pytest.mark.parametrize("layout", ["rgb", "i420"])
def test_torch_grid_sample_path_matches_opencv(layout):
    board = board_for(10, energy=0.8)
    analysis = analysis_for(board, beats=[0.1], downbeats=[0.1])
    path = kb.kenburns_path(board.shots[0], analysis, board)
    src = kb.cover_resize(textured(), *kb.overscanned_size(W, H))
    cv = kb.KenBurnsRenderer(src, W, H, backend="opencv")
    th = kb.KenBurnsRenderer(src, W, H, backend="torch", device="cpu", batch=4)
    render = (lambda r: list(r.rgb(path))) if layout == "rgb" else (lambda r: list(r.i420(path)))
    a, b = render(cv), render(th)
    assert len(a) == len(b) == 10
    assert min(psnr(x, y) for x, y in zip(a, b)) > 40


def test_backend_option_picks_the_path_and_rejects_unknown_values():
    board = board_for(5)
    clip = animate(board.shots[0], board, analysis_for(board), kenburns_backend="torch")
    assert clip.meta["backend"] == "torch" and len(list(clip)) == 5
    # on a CPU render, auto means OpenCV
    assert animate(board.shots[0], board, analysis_for(board)).meta["backend"] == "opencv"
    with pytest.raises(InvalidOptionError, match="kenburns_backend"):
        kb.KenBurnsMotion().preflight(ctx(kenburns_backend="cuda"))
    with pytest.raises(InvalidOptionError, match="kenburns_batch"):
        kb.KenBurnsMotion().preflight(ctx(kenburns_bach=3))


def test_a_gain_under_half_a_code_value_is_skipped_exactly():
    from musicvid._video import scale_brightness

    rng = np.random.default_rng(1)
    w, h = 32, 16
    y = rng.integers(16, 236, (h, w))
    c = rng.integers(16, 241, (h // 2, w))
    frame = np.concatenate([y, c]).astype(np.uint8)
    for gain in (1.0 + 0.49 / 239, 1.0 + 0.3 / 239):
        out = scale_brightness(frame.copy(), gain, "i420", w, h)
        ref_y = np.clip(np.round(16 + gain * (y - 16.0)), 16, 235)
        ref_c = np.clip(np.round(128 + gain * (c - 128.0)), 16, 240)
        assert np.array_equal(out, np.concatenate([ref_y, ref_c]).astype(np.uint8))
    big = 1.0 + 2.0 / 239  # above the threshold the frame does change
    assert not np.array_equal(scale_brightness(frame.copy(), big, "i420", w, h), frame)
    rgb = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    g = 1.0 + 0.49 / 255
    assert np.array_equal(scale_brightness(rgb.copy(), g, "rgb"),
                          np.clip(np.round(rgb * g), 0, 255).astype(np.uint8))
