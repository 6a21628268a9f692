"""The compositor's video encoder: the codec settings, checked, and the encoder thread.

:func:`encoder_settings` turns ``codec``/``pix_fmt``/``preset``/``crf`` (the compositor's
``encoder_*`` options, see :class:`~musicvid.defaults.pyav_compositor.EncoderOptions`)
into what to open, after checking each against this FFmpeg build: an encoder that cannot
open here (no NVIDIA driver for NVENC...) fails before any work. :func:`add_video_stream`
opens the stream, tagged with the colours the frames are packed in. :func:`encode_frames`
renders on the calling thread while a second thread encodes and muxes, a bounded queue
between them, so memory stays constant whatever the song's length.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ..errors import InvalidOptionError, OutputError
from ..protocols import StageContext

__all__ = ["CODECS", "CODEC_ALIASES", "NVENC_PRESETS", "X264_PRESETS", "EncoderSettings",
           "add_video_stream", "encode_frames", "encoder_settings", "video_frame"]

CODEC_ALIASES = {"h264": "libx264", "x264": "libx264", "avc": "libx264", "hevc": "libx265",
                 "h265": "libx265", "x265": "libx265", "nvenc": "h264_nvenc"}
CODECS = ("libx264", "libx265", "h264_nvenc", "hevc_nvenc")
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                "slower", "veryslow")
NVENC_PRESETS = {"ultrafast": "p1", "superfast": "p1", "veryfast": "p2", "faster": "p3",
                 "fast": "p4", "medium": "p5", "slow": "p6", "slower": "p7", "veryslow": "p7"}

# H.264/HEVC VUI colour tags (ISO/IEC 23091-4 code points, as in FFmpeg's AVCOL_*)
COLORSPACE_BT601 = 6  # smpte170m: the matrix OpenCV's RGB2YUV_I420 uses
PRIMARIES_BT709 = 1  # sRGB/Rec.709 primaries (what SDXL images are)
TRC_BT709 = 1
RANGE_MPEG, RANGE_JPEG = 1, 2


# -- encoder settings ------------------------------------------------------------------------
@dataclass
class EncoderSettings:
    codec: str
    pix_fmt: str
    options: dict[str, str]
    layout: str  # the frame layout fed to the encoder: "i420" or "rgb"
    codec_tag: str | None = None
    color_range: int = RANGE_MPEG


_PROBED: dict[tuple[str, str], str | None] = {}


def _probe_encoder(codec: str, pix_fmt: str) -> str | None:
    """None if ``codec`` opens with ``pix_fmt`` here, else why not (cached per process)."""
    key = (codec, pix_fmt)
    if key not in _PROBED:
        import av

        try:
            ctx = av.CodecContext.create(codec, "w")
            ctx.width, ctx.height, ctx.pix_fmt = 256, 144, pix_fmt
            ctx.time_base = Fraction(1, 30)
            ctx.framerate = Fraction(30)
            if codec == "libx265":
                ctx.options = {"x265-params": "log-level=none"}
            ctx.open()
            _PROBED[key] = None
        except Exception as exc:  # FFmpeg says why: no device, no driver, bad format
            _PROBED[key] = f"{type(exc).__name__}: {exc}"
    return _PROBED[key]


def encoder_settings(config: Any) -> EncoderSettings:
    """Check the codec/pix_fmt/preset/CRF options and say how to encode with them.

    ``config`` is anything with those four attributes: the compositor passes its parsed
    :class:`~musicvid.defaults.pyav_compositor.EncoderOptions`, a ``RenderConfig`` works too."""
    import av

    name = str(getattr(config, "codec", "libx264") or "libx264").strip().lower()
    codec = CODEC_ALIASES.get(name, name)
    if codec not in CODECS:
        raise InvalidOptionError("codec", name, [*CODECS, *CODEC_ALIASES])
    try:
        c = av.codec.Codec(codec, "w")
    except Exception:
        raise InvalidOptionError("codec", name, [n for n in CODECS if n in av.codecs_available],
                                 hint="this FFmpeg build has no such encoder") from None
    pix_fmt = str(getattr(config, "pix_fmt", "yuv420p") or "yuv420p")
    formats = [f.name for f in (c.video_formats or [])]
    if formats and pix_fmt not in formats:
        raise InvalidOptionError("pix-fmt", pix_fmt, formats, hint=f"for {codec}")
    preset = str(config.preset)
    if preset not in X264_PRESETS:
        raise InvalidOptionError("preset", preset, list(X264_PRESETS))
    crf = config.crf
    if isinstance(crf, bool) or not isinstance(crf, int) or not 0 <= crf <= 51:
        raise InvalidOptionError("crf", crf, hint="an integer from 0 (lossless) to 51")
    problem = _probe_encoder(codec, pix_fmt)
    if problem is not None:
        hint = ("needs an NVIDIA GPU with its driver on this machine; "
                if "nvenc" in codec else "")
        raise InvalidOptionError(
            "codec", name, hint=f"the {codec} encoder cannot be opened here ({problem}); "
                                f"{hint}use --codec libx264 (always available)")
    if "nvenc" in codec:
        options = {"preset": NVENC_PRESETS[preset], "rc": "vbr", "cq": str(crf), "b": "0"}
    else:
        options = {"crf": str(crf), "preset": preset}
        if codec == "libx265":
            options["x265-params"] = "log-level=error"
    layout = "i420" if pix_fmt == "yuv420p" else "rgb"
    return EncoderSettings(codec, pix_fmt, options, layout,
                           codec_tag="hvc1" if codec in ("libx265", "hevc_nvenc") else None,
                           color_range=RANGE_JPEG if pix_fmt.startswith("yuvj") else RANGE_MPEG)



def add_video_stream(out: Any, settings: EncoderSettings, fps: Fraction, width: int,
                     height: int) -> Any:
    """The video stream on the container ``out``, tagged BT.601 matrix, BT.709 primaries."""
    vs = out.add_stream(settings.codec, rate=fps)
    vs.width, vs.height = width, height
    vs.pix_fmt = settings.pix_fmt
    vs.time_base = 1 / fps
    vs.options = dict(settings.options)
    cc = vs.codec_context
    cc.thread_count = 0
    cc.colorspace = COLORSPACE_BT601
    cc.color_primaries = PRIMARIES_BT709
    cc.color_trc = TRC_BT709
    cc.color_range = settings.color_range
    if settings.codec_tag:
        cc.codec_tag = settings.codec_tag
    return vs


def video_frame(array: Any, fmt: str) -> Any:
    """A PyAV frame holding a copy of ``array`` (an I420 buffer for ``yuv420p``, ``H×W×3``
    for ``rgb24``): one copy into each plane, where PyAV's ``from_ndarray`` makes two (a
    ``bytes`` object, then the plane). The copy is what lets a motion stage reuse its
    buffer for the next frame while this one waits in the queue."""
    import av
    import numpy as np

    from .._video import i420_planes

    planes: tuple[Any, ...] = ()
    if getattr(array, "dtype", None) == np.uint8:
        if fmt == "yuv420p" and array.ndim == 2 and array.shape[0] % 3 == 0 \
                and array.shape[1] % 2 == 0 and array.size:
            w, h = array.shape[1], array.shape[0] * 2 // 3
            planes = i420_planes(np.ascontiguousarray(array), w, h)
        elif fmt == "rgb24" and array.ndim == 3 and array.shape[2] == 3 and array.size:
            h, w = array.shape[:2]
            planes = (array.reshape(h, w * 3),)
    if not planes:  # anything else: PyAV's own checks and messages
        return av.VideoFrame.from_ndarray(array, format=fmt)
    vf = av.VideoFrame(w, h, fmt)
    for plane, src in zip(vf.planes, planes):
        rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        rows[:, :src.shape[1]] = src
    return vf


# -- the encoder thread ------------------------------------------------------------------------
_DONE = object()


@dataclass
class _Encoder:
    """Owns the output container: encodes queued frames and muxes the audio beside them."""

    out: Any
    video: Any
    fps: Fraction
    audio_packets: Iterator[tuple[float, Any]]  # (end time in seconds, packet) in order
    frames: queue.Queue[Any]
    stop: threading.Event
    error: BaseException | None = None
    encoded: int = 0
    _pending_audio: tuple[float, Any] | None = field(default=None, repr=False)

    def _mux_audio_until(self, seconds: float) -> None:
        while True:
            if self._pending_audio is None:
                self._pending_audio = next(self.audio_packets, None)
                if self._pending_audio is None:
                    return
            end, packets = self._pending_audio
            if end > seconds:
                return
            self.out.mux(packets)
            self._pending_audio = None

    def run(self) -> None:
        try:
            while True:
                if self.stop.is_set():
                    return
                try:
                    item = self.frames.get(timeout=0.1)
                except queue.Empty:
                    continue
                if item is _DONE:
                    break
                self.out.mux(self.video.encode(item))
                self.encoded += 1
                self._mux_audio_until(self.encoded / float(self.fps))
            self.out.mux(self.video.encode(None))
            self._mux_audio_until(float("inf"))
        except BaseException as exc:  # handed to the calling thread
            self.error = exc
            self.stop.set()




def encode_frames(out: Any, vs: Any, fps: Fraction, audio_packets: Iterator[tuple[float, Any]],
                  queue_len: int, frames: Iterator[Any], layout: str, n: int,
                  ctx: StageContext) -> int:
    """Take ``frames`` (in ``layout``) on this thread and encode them on another, the
    audio muxed beside them; returns the count. Progress and cancellation stay here."""
    stop = threading.Event()
    frames_q: queue.Queue[Any] = queue.Queue(maxsize=queue_len)
    enc = _Encoder(out, vs, fps, audio_packets, frames_q, stop)
    worker = threading.Thread(target=enc.run, name="musicvid-encoder", daemon=True)

    def put(item: Any) -> None:
        while True:
            if enc.error is not None:
                raise OutputError(f"encoding failed: {enc.error}",
                                  stage="composite") from enc.error
            try:
                frames_q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    produced = 0
    worker.start()
    try:
        fmt = "yuv420p" if layout == "i420" else "rgb24"
        for frame in frames:
            vf = video_frame(frame, fmt)
            vf.pts = produced
            put(vf)
            produced += 1
            if produced % 30 == 0:
                ctx.progress(produced, n, "encoding")
                ctx.check_cancelled()
        put(_DONE)
        worker.join()
    finally:
        stop.set()
        worker.join()
    if enc.error is not None:
        raise OutputError(f"encoding failed: {enc.error}", stage="composite") from enc.error
    return produced
