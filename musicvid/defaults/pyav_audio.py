"""The compositor's audio path: the song into the MP4 as AAC, packet by packet.

Either copied: the song's own AAC packets, when it already is AAC in an MP4/M4A whose
length is within half a frame of the video's (:func:`copyable_aac` says why not
otherwise); or decoded (PyAV, or soundfile for what FFmpeg cannot read), resampled to
44.1 or 48 kHz stereo, trimmed or padded with silence to exactly the video's length and
encoded (:func:`aac_input_frames`). Both give ``(end time in seconds, packets)`` pairs in
order, which the encoder thread muxes as the video reaches each time.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

__all__ = ["AAC_FRAME", "AUDIO_RATES", "aac_input_frames", "aac_packets", "audio_rate",
           "copied_packets", "copyable_aac"]

AUDIO_RATES = (44100, 48000)
AAC_FRAME = 1024


def _decoded_blocks(audio: Path, rate: int) -> Iterator[Any]:
    """The song as (2, n) float32 blocks at ``rate``: PyAV, or soundfile when FFmpeg
    cannot read the file (some OGG files)."""
    import av
    import numpy as np

    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=rate)
    try:
        src = av.open(str(audio))
    except av.error.FFmpegError:
        src = None
    if src is not None and src.streams.audio:
        with src:
            for frame in src.decode(src.streams.audio[0]):
                for out in resampler.resample(frame):
                    yield out.to_ndarray()
            for out in resampler.resample(None):
                yield out.to_ndarray()
        return
    if src is not None:
        src.close()
    import soundfile

    info = soundfile.info(str(audio))
    for block in soundfile.blocks(str(audio), blocksize=1 << 16, dtype="float32",
                                  always_2d=True):
        chans = block.T
        if chans.shape[0] == 1:
            chans = np.repeat(chans, 2, axis=0)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chans[:2]), format="fltp",
                                           layout="stereo")
        frame.sample_rate = int(info.samplerate)
        for out in resampler.resample(frame):
            yield out.to_ndarray()
    for out in resampler.resample(None):
        yield out.to_ndarray()


def aac_input_frames(audio: Path, rate: int, total: int) -> Iterator[Any]:
    """Exactly ``total`` samples of the song as 1024-sample stereo frames (the last may
    be shorter), trimmed or padded with silence; pts in samples."""
    import av
    import numpy as np

    sent = 0

    def frame_of(block: Any) -> Any:
        nonlocal sent
        f = av.AudioFrame.from_ndarray(np.ascontiguousarray(block, dtype=np.float32),
                                       format="fltp", layout="stereo")
        f.sample_rate = rate
        f.pts = sent
        f.time_base = Fraction(1, rate)
        sent += block.shape[1]
        return f

    pending: list[Any] = []
    have = 0
    for block in _decoded_blocks(audio, rate):
        pending.append(block)
        have += block.shape[1]
        whole = min(have // AAC_FRAME, (total - sent) // AAC_FRAME)
        if whole:
            data = np.concatenate(pending, axis=1)
            for k in range(whole):
                yield frame_of(data[:, k * AAC_FRAME:(k + 1) * AAC_FRAME])
            pending = [data[:, whole * AAC_FRAME:]]
            have = pending[0].shape[1]
        if total - sent < AAC_FRAME and have >= total - sent:
            break  # everything the video needs is here
    data = np.concatenate(pending, axis=1) if pending else np.zeros((2, 0), np.float32)
    data = data[:, :total - sent]
    if data.shape[1] < total - sent:  # the song ended early: silence to the video's end
        data = np.concatenate([data, np.zeros((2, total - sent - data.shape[1]), np.float32)],
                              axis=1)
    for k in range(0, data.shape[1], AAC_FRAME):
        yield frame_of(data[:, k:k + AAC_FRAME])


def copyable_aac(audio: Path, video_seconds: float, fps: Fraction) -> str | None:
    """None if the song's AAC packets can be copied as they are, else why not."""
    import av

    try:
        with av.open(str(audio)) as c:
            if "mp4" not in c.format.name and "mov" not in c.format.name:
                return f"the container is {c.format.name}, not MP4/M4A"
            if not c.streams.audio:
                return "no audio stream"
            a = c.streams.audio[0]
            if a.codec_context.name != "aac":
                return f"the audio is {a.codec_context.name}, not AAC"
            if not a.duration or not a.time_base:
                return "the audio stream has no duration"
            seconds = float(a.duration * a.time_base)
    except av.error.FFmpegError as exc:
        return f"FFmpeg cannot open it ({exc})"
    if abs(seconds - video_seconds) > 0.5 / float(fps):
        return f"its length ({seconds:.3f}s) is not within half a frame of the video's"
    return None


def aac_packets(out: Any, audio: Path, rate: int, total: int, bitrate: int
                ) -> tuple[Any, Iterator[tuple[float, Any]]]:
    """An AAC stream on ``out`` and its packets: ``total`` samples of the song at ``rate``."""
    stream = out.add_stream("aac", rate=rate)
    stream.layout = "stereo"
    stream.bit_rate = bitrate

    def packets() -> Iterator[tuple[float, Any]]:
        for frame in aac_input_frames(audio, rate, total):
            yield (frame.pts + frame.samples) / rate, stream.encode(frame)
        yield float("inf"), stream.encode(None)

    return stream, packets()


def copied_packets(out: Any, audio: Path) -> tuple[Any, Iterator[tuple[float, Any]], Any]:
    """A stream on ``out`` copied from the song's, its packets, and the open source (the
    caller closes it once the packets are muxed)."""
    import av

    src = av.open(str(audio))
    ia = src.streams.audio[0]
    stream = out.add_stream_from_template(ia)

    def packets() -> Iterator[tuple[float, Any]]:
        for p in src.demux(ia):
            if p.dts is None:
                continue
            end = float((p.pts + (p.duration or 0)) * ia.time_base)
            p.stream = stream
            yield end, [p]

    return stream, packets(), src


def audio_rate(audio: Path) -> int:
    """The song's sample rate when AAC takes it as it is, else 48 kHz."""
    import av

    try:
        with av.open(str(audio)) as c:
            rate = int(c.streams.audio[0].codec_context.sample_rate or 0)
    except Exception:
        return 48000
    return rate if rate in AUDIO_RATES else 48000

