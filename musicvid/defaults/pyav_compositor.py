"""The default compositor: frames streamed through transitions into one PyAV encoder.

How a frame travels: the motion stage renders it (in I420 directly when the clip offers
it, else RGB converted once by OpenCV, the fastest path measured); a crossfade blends it
with the previous shot's last frame; it goes into a bounded queue; an encoder thread
takes it to the video encoder and muxes the song beside it. The calling thread renders
while the encoder thread encodes, so warping and encoding overlap, and memory stays
constant whatever the song's length (the queue holds a few frames).

Shot transitions: ``cut``, or ``crossfade`` over the shot's first ``transition_frames``
frames (from the previous shot's last frame, held, or from black for the first shot).
The frame count never changes.

The song goes in as AAC: copied packet for packet when it already is AAC in an MP4/M4A
whose length matches the video within a frame, else decoded and encoded, trimmed or
padded with silence to exactly the video's length. The MP4 gets ``+faststart``. It is
written under a temporary name, reopened and checked (streams, frame count, durations
within a frame), then renamed into place.

With lyrics in the storyboard (``meta["lyrics"]``), ``captions`` ``burn``/``both`` blends
the caption sprites into the frames on their way to the encoder, and ``soft``/``both``
adds a ``mov_text`` subtitle track (see :mod:`musicvid.captions`).

Options: ``codec`` (libx264, libx265, h264_nvenc, hevc_nvenc; aliases h264, hevc),
``preset``, ``crf``, ``pix_fmt``, and the output size (``width``/``height``/``aspect``).
Stage options: ``audio_mode`` (auto, copy, aac), ``audio_bitrate`` (bits/s),
``encoder_queue`` (frames buffered between the threads).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from .._options import option_table, positive_int, stage_option, stage_options
from .._video import black_frame, blend
from ..captions import add_subtitle_track, burner_for, soft_track
from ..errors import InvalidOptionError, OutputError, StoryboardError
from ..hookspecs import hookimpl
from ..protocols import CompositeResult, StageContext
from ..stages import CompositorBase
from ..types import Clip, Storyboard

log = logging.getLogger(__name__)

__all__ = ["EncoderSettings", "PyAVCompositor", "encoder_settings", "frame_stream",
           "validate_output"]

AUDIO_RATES = (44100, 48000)
AAC_FRAME = 1024

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

@dataclass(frozen=True)
class AudioOptions:
    """``--option audio_mode=aac``, ``audio_bitrate=192000``."""

    mode: str = stage_option("auto", choices=("auto", "copy", "aac"),
                             help="copy the song's AAC stream, or re-encode")
    bitrate: int = stage_option(192_000, positive_int, "bits per second, e.g. 192000")


@dataclass(frozen=True)
class EncoderOptions:
    """``--option encoder_queue=8``."""

    queue: int = stage_option(8, positive_int, "a positive number of frames", key=False)


OPTIONS = option_table(AudioOptions)
ENCODER_OPTIONS = option_table(EncoderOptions)


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
    """Check the codec/pix_fmt/preset/CRF options and say how to encode with them."""
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


# -- frames through transitions ----------------------------------------------------------------
def _smoothstep(u: float) -> float:
    return u * u * (3 - 2 * u)


def frame_stream(clips: Iterator[Clip], storyboard: Storyboard, layout: str
                 ) -> Iterator[Any]:
    """Every frame of the video in order, in ``layout`` ("i420" or "rgb"), with each
    shot's crossfade applied over its first ``transition_frames`` frames."""
    w, h = storyboard.width, storyboard.height
    shots = storyboard.shots
    previous = None
    count = 0
    for i, clip in enumerate(clips):
        if i >= len(shots):
            raise OutputError(f"the motion stage gave more clips than the {len(shots)} shots",
                              stage="composite")
        shot = shots[i]
        if clip.frame_count != shot.frame_count or (clip.width, clip.height) != (w, h):
            raise OutputError(
                f"clip {i} is {clip.frame_count} frames of {clip.width}x{clip.height}; shot "
                f"{i} needs {shot.frame_count} of {w}x{h}", stage="composite")
        transition = (shot.transition or "cut").lower()
        if transition not in ("cut", "crossfade"):
            raise StoryboardError(f"shot {i}: unknown transition {shot.transition!r}; "
                                  "valid: cut, crossfade")
        fade = 0
        if transition == "crossfade":
            try:
                fade = min(int(shot.transition_frames), shot.frame_count)
            except (TypeError, ValueError):
                raise StoryboardError(f"shot {i}: transition_frames must be a whole number "
                                      f"of frames, not {shot.transition_frames!r}") from None
            if fade < 0:
                raise StoryboardError(f"shot {i}: transition_frames is negative")
        if fade and previous is None:
            previous = black_frame(w, h, layout)
        frames = clip.iter_yuv420() if layout == "i420" else iter(clip)
        last = None
        for j, frame in enumerate(frames):
            if j < fade:
                frame = blend(previous, frame, _smoothstep((j + 1) / (fade + 1)))
            last = frame
            count += 1
            yield frame
        previous = last
    if count != storyboard.frame_count:
        raise OutputError(f"the shots gave {count} frames, the song needs "
                          f"{storyboard.frame_count}", stage="composite")


# -- audio ---------------------------------------------------------------------------------
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


def _copyable_aac(audio: Path, video_seconds: float, fps: Fraction) -> str | None:
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


# -- validation ------------------------------------------------------------------------------
def validate_output(path: Path, expected_frames: int, fps: Fraction,
                    video_codec: str | None = None) -> dict[str, Any]:
    """Reopen ``path``: video + AAC streams, exact frame count, durations within a frame."""
    import av

    try:
        with av.open(str(path)) as c:
            if not c.streams.video or not c.streams.audio:
                raise OutputError(f"{path.name}: missing a video or audio stream",
                                  stage="composite")
            v, a = c.streams.video[0], c.streams.audio[0]
            frames = v.frames
            vdur = float(v.duration * v.time_base) if v.duration else frames / float(fps)
            adur = float(a.duration * a.time_base) if a.duration else 0.0
            info = {"video_codec": v.codec_context.name, "audio_codec": a.codec_context.name,
                    "frames": frames, "video_duration": vdur, "audio_duration": adur}
    except av.error.FFmpegError as exc:
        raise OutputError(f"the written video cannot be read back: {exc}",
                          stage="composite") from exc
    if frames != expected_frames:
        raise OutputError(f"wrote {frames} video frames, expected {expected_frames}",
                          stage="composite")
    if info["audio_codec"] != "aac":
        raise OutputError(f"the audio stream is {info['audio_codec']}, not AAC", stage="composite")
    if video_codec is not None and info["video_codec"] != video_codec:
        raise OutputError(f"the video stream is {info['video_codec']}, not {video_codec}",
                          stage="composite")
    if abs(vdur - adur) > 1.0 / float(fps) + 1e-6:
        raise OutputError(f"video ({vdur:.3f}s) and audio ({adur:.3f}s) durations differ by "
                          "more than one frame", stage="composite")
    return info


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


def _aac_packets(out: Any, audio: Path, rate: int, total: int, bitrate: int
                 ) -> tuple[Any, Iterator[tuple[float, Any]]]:
    stream = out.add_stream("aac", rate=rate)
    stream.layout = "stereo"
    stream.bit_rate = bitrate

    def packets() -> Iterator[tuple[float, Any]]:
        for frame in aac_input_frames(audio, rate, total):
            yield (frame.pts + frame.samples) / rate, stream.encode(frame)
        yield float("inf"), stream.encode(None)

    return stream, packets()


def _copied_packets(out: Any, audio: Path) -> tuple[Any, Iterator[tuple[float, Any]], Any]:
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


def _audio_rate(audio: Path) -> int:
    import av

    try:
        with av.open(str(audio)) as c:
            rate = int(c.streams.audio[0].codec_context.sample_rate or 0)
    except Exception:
        return 48000
    return rate if rate in AUDIO_RATES else 48000


class PyAVCompositor(CompositorBase):
    """H.264/HEVC + AAC in an MP4 with ``+faststart``, encoded on its own thread.

    The file is written under a temporary name next to ``output``, validated, then
    renamed into place: a failure never leaves a truncated file under the final name.
    """

    name = "pyav"
    option_prefixes = {"audio": AudioOptions, "encoder": EncoderOptions}

    def preflight(self, ctx: StageContext) -> None:
        encoder_settings(ctx.config)  # a missing or unusable codec fails before any work
        stage_options(ctx.config.options, "audio", OPTIONS)
        stage_options(ctx.config.options, "encoder", ENCODER_OPTIONS)

    @staticmethod
    def _encode(out: Any, vs: Any, fps: Fraction, apackets: Iterator[tuple[float, Any]],
                queue_len: int, clips: Iterator[Clip], storyboard: Storyboard,
                settings: EncoderSettings, ctx: StageContext) -> int:
        """Render frames on this thread and encode them on another; returns the count."""
        import av

        n = storyboard.frame_count
        stop = threading.Event()
        frames_q: queue.Queue[Any] = queue.Queue(maxsize=queue_len)
        enc = _Encoder(out, vs, fps, apackets, frames_q, stop)
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
            fmt = "yuv420p" if settings.layout == "i420" else "rgb24"
            frames = frame_stream(clips, storyboard, settings.layout)
            burner = burner_for(storyboard, ctx.config)  # lyric captions (musicvid.captions)
            if burner is not None:
                frames = burner.burn(frames, settings.layout)
            for frame in frames:
                vf = av.VideoFrame.from_ndarray(frame, format=fmt)
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

    def compose(self, clips: Iterator[Clip], storyboard: Storyboard, audio: Path,
                output: Path, ctx: StageContext) -> CompositeResult:
        import av

        settings = encoder_settings(ctx.config)
        audio_opts = stage_options(ctx.config.options, "audio", OPTIONS)
        queue_len = stage_options(ctx.config.options, "encoder", ENCODER_OPTIONS)["queue"]
        fps = storyboard.fps
        n = storyboard.frame_count
        w, h = storyboard.width, storyboard.height
        if settings.layout == "i420" and (w % 2 or h % 2):
            raise StoryboardError(f"{settings.pix_fmt} needs an even width and height, "
                                  f"not {w}x{h}")
        video_seconds = float(Fraction(n) / fps)
        why_not_copy = _copyable_aac(Path(audio), video_seconds, fps)
        mode = audio_opts["mode"]
        if mode == "copy" and why_not_copy is not None:
            raise InvalidOptionError("audio_mode", "copy", hint=f"cannot copy: {why_not_copy}")
        copy = mode != "aac" and why_not_copy is None
        output = Path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp = output.with_name(f".{output.stem}.part{os.getpid()}-{threading.get_ident()}.mp4")
        t0 = time.perf_counter()
        src = None
        try:
            out = av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"})
            try:
                vs = out.add_stream(settings.codec, rate=fps)
                vs.width, vs.height = w, h
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
                if copy:
                    _, apackets, src = _copied_packets(out, Path(audio))
                else:
                    rate = _audio_rate(Path(audio))
                    total = int(round(Fraction(n) / fps * rate))
                    _, apackets = _aac_packets(out, Path(audio), rate, total,
                                               audio_opts["bitrate"])
                subtitles = add_subtitle_track(out, storyboard) if soft_track(ctx.config) else []
                for packet in subtitles:  # a mov_text track of the lyrics, muxed up front
                    out.mux(packet)
                self._encode(out, vs, fps, apackets, queue_len, clips, storyboard, settings, ctx)
            except BaseException:
                try:  # close what there is; the original error is the one that matters
                    out.close()
                except Exception:  # noqa: BLE001
                    log.debug("closing a failed output raised", exc_info=True)
                raise
            out.close()
            info = validate_output(tmp, n, fps, "hevc" if "265" in settings.codec
                                   or "hevc" in settings.codec else "h264")
            os.replace(tmp, output)
        finally:
            if src is not None:
                src.close()
            if tmp.exists():
                tmp.unlink()
        ctx.progress(n, n, "written")
        dt = time.perf_counter() - t0
        log.info("encoded %d frames in %.1fs (%.1f fps), audio %s", n, dt, n / max(dt, 1e-9),
                 "copied" if copy else "AAC")
        return CompositeResult(output, n, info["video_duration"], info["audio_duration"],
                               info["video_codec"], info["audio_codec"],
                               extra={"audio": "copy" if copy else "aac",
                                      "audio_copy_refused": why_not_copy,
                                      "pix_fmt": settings.pix_fmt, "seconds": round(dt, 3)})


@hookimpl
def register_compositors(register):  # type: ignore[no-untyped-def]
    register(PyAVCompositor)
