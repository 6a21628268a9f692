from fractions import Fraction

import av
import numpy as np
import pytest

from musicvid import (
    Clip,
    InvalidOptionError,
    OutputError,
    RenderConfig,
    Shot,
    Storyboard,
    StoryboardError,
    render,
)
from musicvid.defaults import pyav_compositor as pc
from musicvid.protocols import StageContext
from musicvid.testing import write_wav

W, H = 64, 36


def solid_clip(n, rgb, w=W, h=H):
    def frames():
        for _ in range(n):
            yield np.full((h, w, 3), rgb, np.uint8)

    return Clip(n, w, h, frames)


def board(lengths, fps=30, transitions=None, w=W, h=H):
    shots, start = [], 0
    for i, n in enumerate(lengths):
        kind, frames = (transitions or {}).get(i, ("cut", 0))
        shots.append(Shot(i, start, start + n, "p", seed=i, transition=kind,
                          transition_frames=frames))
        start += n
    return Storyboard(fps=fps, frame_count=start, shots=shots, width=w, height=h)


def tone(path, seconds, sr=22050):
    t = np.arange(int(round(seconds * sr))) / sr
    return write_wav(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sr)


def compose(tmp_path, b, clips, audio, name="out.mp4", **cfg):
    ctx = StageContext(RenderConfig.create(width=b.width, height=b.height, **cfg),
                       "composite")
    return pc.PyAVCompositor().compose(iter(clips), b, audio, tmp_path / name, ctx)


def decode_rgb(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def streams(path):
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        return (v, a, float(v.duration * v.time_base), float(a.duration * a.time_base),
                v.frames, v.codec_context)


@pytest.mark.parametrize("fps", ["24", "25", "30000/1001", "60"])
@pytest.mark.parametrize("seconds", [1.0, 2.345])
def test_video_and_audio_within_one_frame_for_any_fps_and_length(tmp_path, fps, seconds):
    rate = RenderConfig.create(fps=fps).fps
    n = max(1, round(Fraction(seconds) * rate))
    split = n // 3
    b = board([split, n - split], fps=rate)
    audio = tone(tmp_path / "a.wav", seconds)
    result = compose(tmp_path, b, [solid_clip(split, (200, 30, 30)),
                                   solid_clip(n - split, (30, 30, 200))], audio)
    _, _, vdur, adur, frames, _ = streams(result.path)
    frame = 1 / float(rate)
    assert frames == n == len(decode_rgb(result.path))
    assert abs(vdur - n / float(rate)) < 1e-3
    assert abs(vdur - adur) <= frame
    assert abs(adur - seconds) <= frame
    assert result.extra["audio"] == "aac"


def test_crossfade_blends_into_the_shot_and_keeps_the_count(tmp_path):
    b = board([20, 30, 10], transitions={1: ("crossfade", 10), 2: ("cut", 5)})
    audio = tone(tmp_path / "a.wav", 2.0)
    red, blue, green = (220, 20, 20), (20, 20, 220), (20, 200, 20)
    result = compose(tmp_path, b, [solid_clip(20, red), solid_clip(30, blue),
                                   solid_clip(10, green)], audio)
    frames = decode_rgb(result.path)
    assert len(frames) == 60 == result.frame_count
    centre = [f[H // 2, W // 2].astype(int) for f in frames]
    assert np.abs(centre[19] - red).max() < 12  # the first shot is untouched
    fade = [c[2] for c in centre[20:30]]
    assert all(a < b for a, b in zip(fade, fade[1:]))  # blue rises through the fade
    assert centre[20][0] > centre[25][0] > centre[29][0]  # ... red falls
    assert np.abs(centre[30] - blue).max() < 12  # then the shot itself
    assert np.abs(centre[50] - green).max() < 12  # a cut ignores transition_frames


def test_crossfade_into_the_first_shot_fades_in_from_black(tmp_path):
    b = board([30], transitions={0: ("crossfade", 15)})
    result = compose(tmp_path, b, [solid_clip(30, (200, 200, 200))],
                     tone(tmp_path / "a.wav", 1.0))
    lum = [f.mean() for f in decode_rgb(result.path)]
    assert lum[0] < 30 and all(a < b for a, b in zip(lum[:15], lum[1:16]))
    assert lum[20] > 190


def test_unknown_transition_is_a_storyboard_error_and_writes_nothing(tmp_path):
    b = board([10, 10], transitions={1: ("wipe", 5)})
    with pytest.raises(StoryboardError, match="wipe"):
        compose(tmp_path, b, [solid_clip(10, (1, 2, 3)), solid_clip(10, (1, 2, 3))],
                tone(tmp_path / "a.wav", 0.7))
    assert not list(tmp_path.glob("*.mp4")) and not list(tmp_path.glob(".*part*"))


def test_a_failing_clip_leaves_no_output_and_keeps_its_error(tmp_path):
    class Boom(RuntimeError):
        pass

    def frames():
        yield np.zeros((H, W, 3), np.uint8)
        raise Boom("motion stage crashed")

    b = board([5, 5])
    with pytest.raises(Boom):
        compose(tmp_path, b, [solid_clip(5, (0, 0, 0)), Clip(5, W, H, frames)],
                tone(tmp_path / "a.wav", 0.4))
    assert not list(tmp_path.glob("*.mp4")) and not list(tmp_path.glob(".*part*"))


def test_a_clip_with_the_wrong_count_is_an_output_error(tmp_path):
    b = board([5, 5])
    with pytest.raises(OutputError, match="clip 1"):
        compose(tmp_path, b, [solid_clip(5, (0, 0, 0)), solid_clip(4, (0, 0, 0))],
                tone(tmp_path / "a.wav", 0.4))


def test_colours_survive_the_trip_and_the_stream_says_how_they_were_encoded(tmp_path):
    colours = [(230, 40, 40), (40, 200, 60), (50, 60, 220), (128, 128, 128)]
    b = board([8] * 4)
    result = compose(tmp_path, b, [solid_clip(8, c) for c in colours],
                     tone(tmp_path / "a.wav", 32 / 30))
    _, _, _, _, _, cc = streams(result.path)
    assert (cc.colorspace, cc.color_range) == (pc.COLORSPACE_BT601, pc.RANGE_MPEG)
    frames = decode_rgb(result.path)  # decoded with the stream's own matrix
    for i, c in enumerate(colours):
        got = frames[i * 8 + 4][H // 2, W // 2].astype(int)
        assert np.abs(got - c).max() <= 6, (c, got)


def make_m4a(path, seconds, rate=44100):
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    sig = np.stack([0.3 * np.sin(2 * np.pi * 330 * t)] * 2).astype(np.float32)
    with av.open(str(path), "w", format="mp4") as out:
        s = out.add_stream("aac", rate=rate)
        s.layout = "stereo"
        for i in range(0, n, 1024):
            f = av.AudioFrame.from_ndarray(np.ascontiguousarray(sig[:, i:i + 1024]),
                                           format="fltp", layout="stereo")
            f.sample_rate, f.pts, f.time_base = rate, i, Fraction(1, rate)
            out.mux(s.encode(f))
        out.mux(s.encode(None))
    return path


def audio_packets(path):
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]


def test_aac_input_is_copied_packet_for_packet(tmp_path):
    song = make_m4a(tmp_path / "song.m4a", 2.5)
    b = board([40, 35])
    result = compose(tmp_path, b, [solid_clip(40, (9, 9, 9)), solid_clip(35, (99, 9, 9))], song)
    assert result.extra["audio"] == "copy"
    assert audio_packets(result.path) == audio_packets(song)
    _, a, vdur, adur, _, _ = streams(result.path)
    assert a.codec_context.sample_rate == 44100
    assert abs(vdur - adur) <= 1 / 30
    forced = compose(tmp_path, b, [solid_clip(40, (9, 9, 9)), solid_clip(35, (99, 9, 9))],
                     song, name="again.mp4", options={"audio_mode": "aac"})
    assert forced.extra["audio"] == "aac"
    assert audio_packets(forced.path) != audio_packets(song)


def test_aac_is_reencoded_when_the_lengths_do_not_match(tmp_path):
    song = make_m4a(tmp_path / "song.m4a", 2.5)
    b = board([60])  # 2.0 s of video for 2.5 s of song
    result = compose(tmp_path, b, [solid_clip(60, (9, 9, 9))], song)
    assert result.extra["audio"] == "aac" and "length" in result.extra["audio_copy_refused"]
    _, _, vdur, adur, _, _ = streams(result.path)
    assert abs(vdur - 2.0) < 1e-3 and abs(adur - vdur) <= 1 / 30
    with pytest.raises(InvalidOptionError, match="cannot copy"):
        compose(tmp_path, b, [solid_clip(60, (9, 9, 9))], song, name="x.mp4",
                options={"audio_mode": "copy"})


@pytest.mark.parametrize("song_seconds", [0.5, 1.0, 1.3])
def test_audio_frames_are_exactly_the_video_length(tmp_path, song_seconds):
    audio = tone(tmp_path / "a.wav", song_seconds)
    total = 48000  # one second of video
    frames = list(pc.aac_input_frames(audio, 48000, total))
    sizes = [f.samples for f in frames]
    assert sum(sizes) == total
    assert all(s == 1024 for s in sizes[:-1]) and 0 < sizes[-1] <= 1024
    assert [f.pts for f in frames] == list(np.cumsum([0] + sizes[:-1]))
    last = frames[-1].to_ndarray()
    if song_seconds < 1.0:  # padded with silence
        assert np.abs(last).max() == 0
    else:
        assert np.abs(frames[10].to_ndarray()).max() > 0.1


def test_hevc_writes_an_hvc1_stream(tmp_path):
    b = board([15])
    result = compose(tmp_path, b, [solid_clip(15, (50, 100, 150))],
                     tone(tmp_path / "a.wav", 0.5), codec="hevc")
    v, *_ = streams(result.path)
    assert result.video_codec == "hevc" and v.codec_tag == "hvc1"


def test_non_420_pixel_formats_take_the_rgb_path(tmp_path):
    b = board([15])
    result = compose(tmp_path, b, [solid_clip(15, (50, 100, 150))],
                     tone(tmp_path / "a.wav", 0.5), pix_fmt="yuv444p")
    assert result.extra["pix_fmt"] == "yuv444p"
    *_, cc = streams(result.path)
    assert cc.pix_fmt == "yuv444p"


def test_codec_and_format_options_are_checked_before_any_work():
    comp = pc.PyAVCompositor()
    with pytest.raises(InvalidOptionError, match="libx264"):
        comp.preflight(StageContext(RenderConfig.create(codec="mpeg9")))
    with pytest.raises(InvalidOptionError, match="yuv420p"):
        comp.preflight(StageContext(RenderConfig.create(pix_fmt="rgb48be")))
    with pytest.raises(InvalidOptionError, match="veryfast"):
        comp.preflight(StageContext(RenderConfig.create(preset="warp9")))
    with pytest.raises(InvalidOptionError, match="0 .lossless. to 51"):
        comp.preflight(StageContext(RenderConfig.create(crf=70)))
    with pytest.raises(InvalidOptionError, match="audio_bitrat"):
        comp.preflight(StageContext(RenderConfig.create(options={"audio_bitrat": 1})))


def test_nvenc_is_used_where_it_opens_and_explained_where_it_does_not():
    ctx = StageContext(RenderConfig.create(codec="h264_nvenc"))
    if pc._probe_encoder("h264_nvenc", "yuv420p") is None:  # an NVIDIA machine
        pc.PyAVCompositor().preflight(ctx)
        assert pc.encoder_settings(ctx.config).options["cq"] == "20"
    else:
        with pytest.raises(InvalidOptionError) as info:
            pc.PyAVCompositor().preflight(ctx)
        msg = str(info.value)
        assert "NVIDIA" in msg and "--codec libx264" in msg


def test_aspect_reframes_the_output_and_the_keyframes():
    tall = RenderConfig.create(aspect="9:16")
    assert (tall.width, tall.height) == (720, 1280)
    assert (tall.keyframe_width, tall.keyframe_height) == (432, 768)
    square = RenderConfig.create(aspect="1:1", profile="gpu")
    assert (square.width, square.height) == (1080, 1080)
    assert square.keyframe_width == square.keyframe_height == 1016
    assert tall.replace(seed=3).width == 720  # reframing twice changes nothing
    assert RenderConfig.create(aspect="16:9").width == 1280
    with pytest.raises(InvalidOptionError, match="aspect"):
        RenderConfig.create(aspect="wide")


def test_render_in_portrait_fills_the_frame(tmp_path, click, fakes):
    audio, _ = click(duration=2.0)
    out = tmp_path / "tall.mp4"
    render(audio, out, keyframes="solid", width=160, height=90, keyframe_width=64,
           keyframe_height=32, aspect="9:16")
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert (v.width, v.height) == (90, 160)
        frame = next(c.decode(video=0)).to_ndarray(format="rgb24")
    # no letterbox: the keyframe's colour reaches every edge
    edges = np.concatenate([frame[0], frame[-1], frame[:, 0], frame[:, -1]])
    assert edges.max(axis=1).min() > 20


def test_pyav_failure_to_read_audio_falls_back_to_soundfile(tmp_path, monkeypatch):
    audio = tone(tmp_path / "a.wav", 0.5)
    real_open = av.open

    def picky_open(path, *a, **kw):
        if str(path) == str(audio):
            raise av.error.InvalidDataError(1094995529, "Invalid data found", str(path))
        return real_open(path, *a, **kw)

    monkeypatch.setattr(av, "open", picky_open)
    frames = list(pc.aac_input_frames(audio, 48000, 24000))
    assert sum(f.samples for f in frames) == 24000
    assert np.abs(frames[5].to_ndarray()).max() > 0.1


def test_cli_passes_encoding_and_stage_options():
    from musicvid import cli

    args = cli.build_parser().parse_args(
        ["render", "song.wav", "-o", "v.mp4", "--codec", "hevc", "--crf", "18", "--preset",
         "fast", "--pix-fmt", "yuv444p", "--aspect", "1:1", "--option", "svd_steps=12",
         "--option", "kenburns-backend=opencv"])
    cfg = cli._config(args)
    assert (cfg.codec, cfg.crf, cfg.preset, cfg.pix_fmt) == ("hevc", 18, "fast", "yuv444p")
    assert cfg.width == cfg.height == 720
    assert cfg.options == {"svd_steps": "12", "kenburns_backend": "opencv"}
    bad = cli.build_parser().parse_args(["render", "s.wav", "-o", "v.mp4", "--option", "x"])
    with pytest.raises(InvalidOptionError, match="KEY=VALUE"):
        cli._config(bad)


def test_encoder_settings_are_stage_options_aliased_by_their_flags(tmp_path):
    comp = pc.PyAVCompositor()

    def settings(**cfg):
        return comp._encoder(StageContext(RenderConfig.create(**cfg), "composite"))[1]

    assert settings().options == {"crf": "20", "preset": "veryfast"}
    assert settings(crf=30).options["crf"] == "30"  # --crf
    given = {"encoder_crf": "40", "encoder_preset": "ultrafast"}  # --option, which wins
    assert settings(crf=30, options=given).options == {"crf": "40", "preset": "ultrafast"}
    assert settings(options={"encoder_pix_fmt": "yuv444p"}).layout == "rgb"
    assert settings(options={"encoder_codec": "hevc"}).codec == "libx265"
    assert settings(options={"encoder_crf": 18}).options["crf"] == "18"  # typed, from Python
    # and the encoder really takes them: a noisy clip, small at crf 45, large at crf 5
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (H, W, 3), np.uint8) for _ in range(10)]
    clip = Clip(10, W, H, lambda: iter(noise))
    audio = tone(tmp_path / "a.wav", 10 / 30)
    sizes = [compose(tmp_path, board([10]), [clip], audio, name=f"crf{crf}.mp4",
                     options={"encoder_crf": str(crf)}).path.stat().st_size
             for crf in (5, 45)]
    assert sizes[0] > 2 * sizes[1]


def test_a_bad_encoder_option_is_named_as_it_was_given():
    comp = pc.PyAVCompositor()

    def preflight(**cfg):
        comp.preflight(StageContext(RenderConfig.create(**cfg), "composite"))

    with pytest.raises(InvalidOptionError, match=r"invalid encoder_crf: 99.*0 .lossless. to 51"):
        preflight(options={"encoder_crf": "99"})
    with pytest.raises(InvalidOptionError, match=r"invalid crf: 99"):
        preflight(crf=99)
    with pytest.raises(InvalidOptionError, match="invalid encoder_crf: 'loud'"):
        preflight(options={"encoder_crf": "loud"})
    with pytest.raises(InvalidOptionError, match="invalid encoder_preset: 'warp9'"):
        preflight(options={"encoder_preset": "warp9"})
    with pytest.raises(InvalidOptionError, match="invalid encoder_codec: 'mpeg9'"):
        preflight(options={"encoder_codec": "mpeg9"})
    with pytest.raises(InvalidOptionError, match="invalid encoder_pix_fmt: 'rgb48be'"):
        preflight(options={"encoder_pix_fmt": "rgb48be"})


def test_plugins_options_lists_the_encoder_settings_with_their_flags(capsys):
    from musicvid import cli

    assert cli.main(["plugins", "--options"]) == 0
    lines = {ln.split()[1].split("=")[0]: ln for ln in capsys.readouterr().out.splitlines()
             if ln.strip().startswith("--option encoder_")}
    assert "(same as --crf)" in lines["encoder_crf"] and "encoder_crf=20" in lines["encoder_crf"]
    assert "(same as --preset)" in lines["encoder_preset"]
    assert "(same as --codec)" in lines["encoder_codec"]
    assert "(same as --pix-fmt)" in lines["encoder_pix_fmt"]


@pytest.mark.parametrize("w, h", [(64, 36), (854, 480), (2, 2)])
def test_frames_handed_to_the_encoder_are_copies_equal_to_pyavs(w, h):
    from musicvid.defaults.pyav_encoder import video_frame

    rng = np.random.default_rng(w)
    i420 = rng.integers(0, 256, (h * 3 // 2, w)).astype(np.uint8)
    rgb = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    for array, fmt in ((i420, "yuv420p"), (rgb, "rgb24"), (rgb[:, ::-1], "rgb24")):
        vf = video_frame(array, fmt)
        want = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format=fmt).to_ndarray()
        assert (vf.width, vf.height, vf.format.name) == (w, h, fmt)
        assert np.array_equal(vf.to_ndarray(), want)
        before = array.copy()
        array[...] = 0  # a stage reusing its buffer for the next frame
        assert np.array_equal(vf.to_ndarray(), want)
        array[...] = before


def test_a_frame_of_the_wrong_shape_is_refused_as_pyav_refuses_it():
    from musicvid.defaults.pyav_encoder import video_frame

    with pytest.raises(ValueError):
        video_frame(np.zeros((35, 64), np.uint8), "yuv420p")
    with pytest.raises(ValueError):
        video_frame(np.zeros((36, 64, 3), np.float32), "rgb24")
