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


def _decode_pyav(path: Path, sr: int | None, mono: bool) -> tuple[np.ndarray, int]:
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
        layout = "mono" if mono else "stereo"
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        chunks: list[np.ndarray] = []
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray())
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray())
    if not chunks:
        raise AudioDecodeError(f"{path.name}: no audio samples could be decoded")
    data = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)
    return (data[0] if mono else data), rate


def _decode_soundfile(path: Path, sr: int | None, mono: bool) -> tuple[np.ndarray, int]:
    import numpy as np
    import soundfile

    data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    data = data.T  # channels first
    if mono:
        data = data.mean(axis=0)
    elif data.shape[0] == 1:
        data = np.repeat(data, 2, axis=0)
    if sr and sr != rate:
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
