"""The analyzer on real files: containers, codecs, rates, channels, bad input, long audio,
the ``musicvid analyze`` command and its plot."""

import io
import json
import subprocess
import sys
import tracemalloc

import av
import numpy as np
import pytest
import soundfile

from musicvid import AudioDecodeError, analyze
from musicvid.audio import load_audio
from musicvid.defaults.librosa_analyzer import LibrosaAnalyzer
from musicvid.testing import run_cli
from musicvid.testing.audio import click_track

BPM = 120


def clicks(sr, seconds=6.0, channels=1):
    y, beats = click_track(BPM, seconds, sr=sr, offset=0.2)
    y = np.asarray(y, dtype=np.float32)
    if channels == 2:  # different content per channel: clicks left, quiet tone right
        right = (0.1 * np.sin(2 * np.pi * 330 * np.arange(len(y)) / sr)).astype(np.float32)
        y = np.stack([y, right])
    return y, beats


def encode(path, codec, fmt, sr=44100, channels=1, seconds=6.0, art=False):
    """Encode a click track with PyAV (optionally with ID3/attached cover art)."""
    y, beats = clicks(sr, seconds, channels)
    layout = "mono" if channels == 1 else "stereo"
    data = y[None, :] if channels == 1 else y
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=sr)
        stream.layout = layout
        if art:
            from PIL import Image

            pic = out.add_stream("png")
            pic.width = pic.height = 32
            pic.pix_fmt = "rgb24"
            pic.disposition = av.stream.Disposition.attached_pic
            buf = io.BytesIO()
            Image.new("RGB", (32, 32), (200, 30, 30)).save(buf, "PNG")
            packet = av.Packet(buf.getvalue())
            packet.stream = pic
            packet.pts = packet.dts = 0
            out.mux(packet)
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout=layout,
                                      rate=sr, frame_size=stream.codec_context.frame_size or None)
        src = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format="fltp",
                                         layout=layout)
        src.sample_rate = sr
        for frame in [*resampler.resample(src), *resampler.resample(None)]:
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path, beats


def check(analysis, beats, seconds=6.0, tolerance=0.1):
    assert abs(analysis.duration - seconds) < tolerance
    assert abs(analysis.tempo - BPM) / BPM < 0.02
    est = np.asarray(analysis.beats)
    inner = [b for b in beats if 1.0 < b < seconds - 1.0]
    assert max(np.min(np.abs(est - b)) for b in inner) < 0.035


@pytest.mark.parametrize("name, codec, fmt, sr", [
    ("song.m4a", "aac", "mp4", 44100),
    ("song.ogg", "libopus", "ogg", 48000),
    ("song.flac", "flac", "flac", 44100),
    ("song.mp3", "libmp3lame", "mp3", 44100),
    ("song.wav", "pcm_s16le", "wav", 22050),
])
def test_containers_and_codecs(tmp_path, name, codec, fmt, sr):
    path, beats = encode(tmp_path / name, codec, fmt, sr=sr)
    # lossy codecs add priming delay (AAC ~23 ms, Opus ~6.5 ms) that FFmpeg trims; the
    # duration may still differ by a frame of the codec
    check(analyze(path), beats, tolerance=0.06)


def test_ogg_vorbis(tmp_path):
    y, beats = clicks(44100, channels=2)
    path = tmp_path / "song.ogg"
    soundfile.write(str(path), y.T, 44100, format="OGG", subtype="VORBIS")
    with av.open(str(path)) as c:
        assert c.streams.audio[0].codec_context.name == "vorbis"
    check(analyze(path), beats, tolerance=0.06)


def test_mp3_with_id3_cover_art(tmp_path):
    path, beats = encode(tmp_path / "art.mp3", "libmp3lame", "mp3", art=True)
    with av.open(str(path)) as c:  # the art really is there, as a second stream
        assert [s.type for s in c.streams] == ["audio", "video"]
        assert c.streams.video[0].disposition & av.stream.Disposition.attached_pic
    check(analyze(path), beats, tolerance=0.06)


@pytest.mark.parametrize("sr", [8000, 16000, 22050, 44100, 48000, 96000])
@pytest.mark.parametrize("channels", [1, 2])
def test_sample_rates_and_channels(tmp_path, sr, channels):
    y, beats = clicks(sr, channels=channels)
    path = tmp_path / f"c{sr}_{channels}.flac"
    soundfile.write(str(path), y.T if channels == 2 else y, sr)
    a = analyze(path)
    check(a, beats, tolerance=1e-3)
    assert a.sample_rate == 22050  # analysed at one rate whatever the input


def test_stereo_is_mixed_down_not_left_only(tmp_path):
    sr = 22050
    t = np.arange(sr * 2) / sr
    left = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    path = tmp_path / "lr.wav"
    soundfile.write(str(path), np.stack([left, 0.5 * left], axis=1), sr)
    y, _ = load_audio(path, sr=sr)
    assert np.sqrt(np.mean(y ** 2)) == pytest.approx(0.375 / np.sqrt(2), rel=0.01)  # mean
    full = tmp_path / "full.wav"  # full-scale in-phase stereo stays within [-1, 1]
    soundfile.write(str(full), np.stack([left * 2, left * 2], axis=1), sr)
    y, _ = load_audio(full, sr=sr)
    assert np.max(np.abs(y)) <= 1.0 + 1e-6
    stereo, _ = load_audio(path, sr=sr, mono=False)
    assert stereo.shape == (2, len(y)) and np.allclose(stereo[1], 0.5 * stereo[0], atol=1e-3)


def corrupt_files(tmp_path):
    good, _ = encode(tmp_path / "good.flac", "flac", "flac")
    blob = good.read_bytes()
    (tmp_path / "truncated.flac").write_bytes(blob[:60])  # header, no frames
    (tmp_path / "noise.mp3").write_bytes(np.random.default_rng(0).bytes(40_000))
    (tmp_path / "text.wav").write_text("not audio\n" * 100)
    from PIL import Image

    Image.new("RGB", (64, 64)).save(tmp_path / "picture.m4a", "PNG")
    with av.open(str(tmp_path / "silent_video.mp4"), "w") as out:  # video, no audio
        s = out.add_stream("mpeg4", rate=10)
        s.width = s.height = 32
        s.pix_fmt = "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            frame.pts = i
            out.mux(s.encode(frame))
        out.mux(s.encode(None))
    (tmp_path / "empty.ogg").write_bytes(b"")
    return ["truncated.flac", "noise.mp3", "text.wav", "picture.m4a", "silent_video.mp4",
            "empty.ogg"]


def test_corrupt_or_non_audio_is_a_typed_error_naming_file_and_reason(tmp_path):
    for name in corrupt_files(tmp_path):
        with pytest.raises(AudioDecodeError) as info:
            analyze(tmp_path / name)
        message = str(info.value)
        assert name in message
        assert any(reason in message for reason in (
            "no audio stream", "could not decode", "empty", "no audio samples")), message
        assert info.value.stage == "analyze"


def test_long_file_is_decoded_once_to_mono_float32(tmp_path):
    """15 minutes of stereo 44.1 kHz: decoded straight to mono float32 at 22.05 kHz, held
    once (no chunk list + concatenated copy); float64 stereo would be 635 MB."""
    sr, minutes = 44100, 15
    one = np.sin(2 * np.pi * 220 * np.arange(sr) / sr) * 0.3
    block = (np.stack([one, one], axis=1) * 32767).astype(np.int16)
    path = tmp_path / "long.wav"
    with soundfile.SoundFile(str(path), "w", sr, 2, "PCM_16") as f:
        for _ in range(60 * minutes):
            f.write(block)
    tracemalloc.start()
    try:
        y, rate = load_audio(path, sr=22050)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rate == 22050 and y.dtype == np.float32 and y.ndim == 1
    assert len(y) == 22050 * 60 * minutes
    assert peak < 1.1 * y.nbytes + 8e6  # ~79 MB, not 2x, and nowhere near 635 MB


def test_analyzer_version_is_in_the_cache_key(tmp_path, click, monkeypatch):
    from musicvid import Pipeline

    audio, _ = click(duration=4.0)
    first = Pipeline()
    first.analyze(audio)
    again = Pipeline()
    again.analyze(audio)
    assert again.stats["analysis_cached"]
    monkeypatch.setattr(LibrosaAnalyzer, "version", LibrosaAnalyzer.version + 1)
    bumped = Pipeline()
    bumped.analyze(audio)
    assert not bumped.stats["analysis_cached"]


def test_cli_analyze_json_has_the_documented_keys(click):
    audio, beats = click(bpm=120, duration=8.0)
    proc = run_cli("analyze", audio)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert {"duration", "tempo", "beats", "downbeats", "sections", "meter", "key", "mode",
            "descriptors", "tempo_confidence"} <= set(data)
    assert abs(data["tempo"] - 120) < 2
    assert all(isinstance(b, float) for b in data["beats"] + data["downbeats"])
    assert data["meter"] == 4 and data["downbeats"] == data["beats"][::4]  # accent every 4
    for s in data["sections"]:
        assert {"start", "end", "label", "group"} <= set(s)
    assert data["sections"][0]["start"] == 0 and data["sections"][-1]["end"] == data["duration"]
    assert "energy" not in data
    with_curves = json.loads(run_cli("analyze", audio, "--curves").stdout)
    assert len(with_curves["energy"]) == len(with_curves["onset"]) == 240


def test_cli_plot_writes_a_png(tmp_path, click):
    audio, _ = click(bpm=100, duration=6.0)
    out = tmp_path / "plots" / "a.png"
    proc = run_cli("analyze", audio, "--plot", out)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["tempo"] > 0  # JSON still on stdout
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    from PIL import Image

    with Image.open(out) as img:
        assert img.width > 1000 and img.height > 400
        # not blank: many distinct colours (waveform, sections, beat lines)
        assert len(img.convert("RGB").getcolors(1 << 20)) > 50


def test_cli_plot_without_matplotlib_says_how_to_install(tmp_path, click):
    audio, _ = click(duration=3.0)
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "from musicvid.cli import main\n"
            f"raise SystemExit(main(['analyze', {str(audio)!r}, '--plot', "
            f"{str(tmp_path / 'x.png')!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "pip install 'musicvid[plot]'" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == "" and not (tmp_path / "x.png").exists()
