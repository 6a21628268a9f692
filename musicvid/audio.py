"""Audio decoding: PyAV (FFmpeg) first, soundfile as the fallback; never by file name."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import AudioDecodeError, AudioNotFoundError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = ["AudioInfo", "load_audio", "probe_audio"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AudioInfo:
    duration: float
    sample_rate: int
    channels: int
    codec: str


def _check_file(path: Path) -> None:
    if not path.exists():
        raise AudioNotFoundError(f"audio file not found: {path}")
    if not path.is_file():
        raise AudioDecodeError(f"not a file: {path}")
    if path.stat().st_size == 0:
        raise AudioDecodeError(f"audio file is empty: {path}")


MAX_PREALLOC_S = 1800.0  # trust a container's duration up to 30 minutes for preallocation


class _Samples:
    """A growable float32 buffer, frames first, so decoded audio is held once: no list of
    chunks to concatenate at the end (which would double the peak memory)."""

    def __init__(self, channels: int, capacity: int):
        import numpy as np

        self._np = np
        self.data = np.empty((max(capacity, 1024), channels), dtype=np.float32)
        self.n = 0

    def add(self, block: np.ndarray) -> None:  # block: (channels, k)
        k = block.shape[1]
        if self.n + k > len(self.data):
            grown = self._np.empty((max(self.n + k, int(len(self.data) * 1.25)),
                                    self.data.shape[1]), dtype=self._np.float32)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        self.data[self.n:self.n + k] = block.T
        self.n += k

    def result(self, mono: bool) -> np.ndarray:
        out = self.data[: self.n]
        return out[:, 0] if mono else out.T


def _decode_pyav(path: Path, sr: int | None, mono: bool) -> tuple[np.ndarray, int]:
    """Decode and resample in FFmpeg straight to float32 at ``sr`` (mono if asked), so a
    long stereo 44.1 kHz file never exists in memory at its native size."""
    import av
    import numpy as np

    with av.open(str(path), mode="r") as container:
        streams = container.streams.audio
        if not streams:
            raise AudioDecodeError(f"{path.name} has no audio stream")
        stream = streams[0]
        rate = int(sr or stream.codec_context.sample_rate or stream.rate or 0)
        if rate <= 0:
            raise AudioDecodeError(f"{path.name}: unknown sample rate")
        seconds = 0.0
        if stream.duration and stream.time_base:
            seconds = float(stream.duration * stream.time_base)
        elif container.duration:
            seconds = container.duration / 1_000_000
        capacity = int(min(max(seconds, 1.0), MAX_PREALLOC_S) * rate * 1.01) + 4096
        # Mono is the mean of left and right, as in the soundfile path (FFmpeg's own
        # stereo->mono matrix is (L + R) / sqrt(2), which can leave [-1, 1]).
        source_mono = (stream.codec_context.channels or 2) == 1
        layout = "mono" if source_mono else "stereo"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        buf = _Samples(1 if mono else 2, capacity)

        def add(block: np.ndarray) -> None:
            if mono and block.shape[0] == 2:
                block = block.mean(axis=0, keepdims=True)
            elif not mono and block.shape[0] == 1:
                block = np.repeat(block, 2, axis=0)
            buf.add(block)

        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                add(out.to_ndarray())
        for out in resampler.resample(None):
            add(out.to_ndarray())
    if buf.n == 0:
        raise AudioDecodeError(f"{path.name}: no audio samples could be decoded")
    return buf.result(mono), rate


def _decode_soundfile(path: Path, sr: int | None, mono: bool) -> tuple[np.ndarray, int]:
    """libsndfile fallback (some ogg files FFmpeg refuses); reads in blocks and mixes down
    as it goes, then resamples once."""
    import numpy as np
    import soundfile

    with soundfile.SoundFile(str(path)) as f:
        rate = int(f.samplerate)
        buf = _Samples(1 if mono else 2, int(f.frames) if f.frames > 0 else rate * 60)
        for block in f.blocks(blocksize=rate * 10, dtype="float32", always_2d=True):
            if mono:
                block = block.mean(axis=1, keepdims=True)
            elif block.shape[1] == 1:
                block = np.repeat(block, 2, axis=1)
            else:
                block = block[:, :2]
            buf.add(block.T)
    data = buf.result(mono)
    if sr and sr != rate and data.size:
        import librosa

        data = librosa.resample(data, orig_sr=rate, target_sr=sr)
        rate = sr
    return np.ascontiguousarray(data, dtype=np.float32), int(rate)


def load_audio(path: str | Path, sr: int | None = 22050, mono: bool = True) -> tuple[np.ndarray, int]:
    """Decode ``path`` to float32 samples in [-1, 1] at ``sr`` (None: native rate).

    Returns ``(samples, rate)``; samples are 1-D when ``mono``, else (2, n).
    Raises :class:`AudioNotFoundError` or :class:`AudioDecodeError`.
    """
    p = Path(path)
    _check_file(p)
    errors: list[str] = []
    for decode in (_decode_pyav, _decode_soundfile):
        try:
            data, rate = decode(p, sr, mono)
        except AudioDecodeError as exc:
            errors.append(exc.message)
            continue
        except Exception as exc:  # each decoder fails in its own way on bad input
            errors.append(f"{decode.__name__.removeprefix('_decode_')}: {exc}")
            continue
        if data.size == 0:
            errors.append("decoded zero samples")
            continue
        return data, rate
    raise AudioDecodeError(
        f"could not decode {p.name} as audio (is it an mp3/wav/flac/m4a file?): "
        + "; ".join(errors)
    )


def probe_audio(path: str | Path) -> AudioInfo:
    """Duration, rate, channels and codec of ``path``, validated by decoding it fully."""
    p = Path(path)
    data, rate = load_audio(p, sr=None, mono=False)
    codec, channels = "unknown", 0
    try:
        import av

        with av.open(str(p)) as c:
            codec = c.streams.audio[0].codec_context.name
            channels = c.streams.audio[0].codec_context.channels
    except Exception:
        log.debug("could not read the codec of %s", p)
    return AudioInfo(duration=data.shape[-1] / rate, sample_rate=rate, channels=channels,
                     codec=codec)
