import subprocess
import sys

import av
import numpy as np
import pytest

from musicvid import AudioDecodeError, AudioNotFoundError, MusicVidError, render
from musicvid.audio import load_audio, probe_audio


def encode(path, codec, fmt, sr=44100, seconds=2.0):
    t = np.arange(int(sr * seconds)) / sr
    y = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    with av.open(str(path), "w", format=fmt) as out:
        s = out.add_stream(codec, rate=sr)
        s.layout = "mono"
        resampler = av.AudioResampler(format=s.codec_context.format.name, layout="mono",
                                      rate=sr, frame_size=s.codec_context.frame_size or None)
        src = av.AudioFrame.from_ndarray(y[None, :], format="flt", layout="mono")
        src.sample_rate = sr
        for frame in [*resampler.resample(src), *resampler.resample(None)]:
            out.mux(s.encode(frame))
        out.mux(s.encode(None))
    return path


@pytest.mark.parametrize("name, codec, fmt", [
    ("song.m4a", "aac", "mp4"), ("song.mp3", "libmp3lame", "mp3"),
    ("song.flac", "flac", "flac"), ("song.wav", "pcm_s16le", "wav"),
    ("misnamed.mp3", "flac", "flac"),  # decoded by content, not by extension
])
def test_decodes_common_formats(tmp_path, name, codec, fmt):
    path = encode(tmp_path / name, codec, fmt)
    y, sr = load_audio(path, sr=22050)
    assert sr == 22050 and y.ndim == 1
    assert abs(len(y) / sr - 2.0) < 0.1
    spectrum = np.abs(np.fft.rfft(y[: sr]))
    assert abs(np.argmax(spectrum) * sr / sr - 440) < 3  # 1 s window: bin = Hz
    info = probe_audio(path)
    assert abs(info.duration - 2.0) < 0.1


@pytest.mark.parametrize("content", [b"", b"this is not audio at all\n" * 50])
def test_bad_audio_is_a_typed_error_and_writes_nothing(tmp_path, content):
    bad = tmp_path / "song.mp3"
    bad.write_bytes(content)
    out = tmp_path / "out.mp4"
    with pytest.raises(AudioDecodeError) as info:
        render(bad, out, keyframes="sdxl", width=160, height=90)
    assert "song.mp3" in str(info.value)
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]


def test_missing_audio(tmp_path):
    with pytest.raises(AudioNotFoundError, match="not found"):
        render(tmp_path / "nope.wav", tmp_path / "o.mp4")
    assert not (tmp_path / "o.mp4").exists()


def test_cli_reports_bad_input_with_exit_code_2(tmp_path):
    bad = tmp_path / "fake.mp3"
    bad.write_text("hello")
    proc = subprocess.run([sys.executable, "-m", "musicvid", "render", str(bad), "-o",
                           str(tmp_path / "o.mp4")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "could not decode fake.mp3" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "o.mp4").exists()


def test_errors_are_musicvid_errors():
    assert issubclass(AudioDecodeError, MusicVidError)
    assert issubclass(AudioNotFoundError, FileNotFoundError)
