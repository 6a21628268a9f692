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

Stage options: ``encoder_codec`` (libx264, libx265, h264_nvenc, hevc_nvenc; aliases h264,
hevc), ``encoder_preset``, ``encoder_crf``, ``encoder_pix_fmt`` (the render options
``codec``, ``preset``, ``crf``, ``pix_fmt`` and their flags set the same), ``encoder_queue``
(frames buffered between the threads), ``audio_mode`` (auto, copy, aac), ``audio_bitrate``
(bits/s). The output size is the storyboard's (``width``/``height``/``aspect``).

Its parts: :mod:`.pyav_encoder` (codec settings, the encoder thread), :mod:`.pyav_audio`
(the song as AAC); this module has the stage, the transitions and the final check.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from .._options import config_option, config_option_error, option_table, positive_int, stage_option
from .._video import black_frame, blend
from ..captions import add_subtitle_track, burner_for, soft_track
from ..errors import InvalidOptionError, OutputError, StoryboardError
from ..hookspecs import hookimpl
from ..protocols import CompositeResult, StageContext
from ..stages import CompositorBase
from ..types import Clip, Storyboard
from .pyav_audio import (  # noqa: F401 - the audio path, re-exported
    AAC_FRAME,
    AUDIO_RATES,
    aac_input_frames,
    aac_packets,
    audio_rate,
    copied_packets,
    copyable_aac,
)
from .pyav_encoder import (  # noqa: F401 - the encoder, re-exported
    CODEC_ALIASES,
    CODECS,
    COLORSPACE_BT601,
    NVENC_PRESETS,
    PRIMARIES_BT709,
    RANGE_JPEG,
    RANGE_MPEG,
    TRC_BT709,
    X264_PRESETS,
    EncoderSettings,
    _probe_encoder,
    add_video_stream,
    encode_frames,
    encoder_settings,
)

log = logging.getLogger(__name__)

__all__ = ["AudioOptions", "EncoderOptions", "EncoderSettings", "PyAVCompositor",
           "encoder_settings", "frame_stream", "validate_output"]


@dataclass(frozen=True)
class AudioOptions:
    """``--option audio_mode=aac``, ``audio_bitrate=192000``."""

    mode: str = stage_option("auto", choices=("auto", "copy", "aac"),
                             help="copy the song's AAC stream, or re-encode")
    bitrate: int = stage_option(192_000, positive_int, "bits per second, e.g. 192000")


@dataclass(frozen=True)
class EncoderOptions:
    """``--option encoder_crf=18``, ``encoder_preset=slow``, ``encoder_queue=8``...

    ``codec``, ``pix_fmt``, ``crf`` and ``preset`` are the render options of those names
    (``--crf 18`` sets the same; given both, the ``--option`` wins)."""

    codec: str = config_option("codec")
    pix_fmt: str = config_option("pix_fmt")
    crf: int = config_option("crf")
    preset: str = config_option("preset")
    queue: int = stage_option(8, positive_int, "a positive number of frames", key=False)


OPTIONS = option_table(AudioOptions)
ENCODER_OPTIONS = option_table(EncoderOptions)


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




class PyAVCompositor(CompositorBase):
    """H.264/HEVC + AAC in an MP4 with ``+faststart``, encoded on its own thread.

    The file is written under a temporary name next to ``output``, validated, then
    renamed into place: a failure never leaves a truncated file under the final name.
    """

    name = "pyav"
    option_prefixes = {"audio": AudioOptions, "encoder": EncoderOptions}

    def preflight(self, ctx: StageContext) -> None:
        self._encoder(ctx)  # a missing or unusable codec fails before any work
        self.options(ctx, "audio")

    def _encoder(self, ctx: StageContext) -> tuple[EncoderOptions, EncoderSettings]:
        """This render's ``encoder_*`` options and the settings they make; a bad value's
        error names the option it came from (``encoder_crf``, or ``crf`` for ``--crf``)."""
        opts: EncoderOptions = self.options(ctx, "encoder")
        try:
            return opts, encoder_settings(opts)
        except InvalidOptionError as exc:
            renamed = config_option_error(exc, ctx.config.options, "encoder", EncoderOptions)
            if renamed is exc:
                raise
            raise renamed from None

    def compose(self, clips: Iterator[Clip], storyboard: Storyboard, audio: Path,
                output: Path, ctx: StageContext) -> CompositeResult:
        import av

        enc_opts, settings = self._encoder(ctx)
        audio_opts: AudioOptions = self.options(ctx, "audio")
        fps = storyboard.fps
        n = storyboard.frame_count
        w, h = storyboard.width, storyboard.height
        if settings.layout == "i420" and (w % 2 or h % 2):
            raise StoryboardError(f"{settings.pix_fmt} needs an even width and height, "
                                  f"not {w}x{h}")
        video_seconds = float(Fraction(n) / fps)
        why_not_copy = copyable_aac(Path(audio), video_seconds, fps)
        if audio_opts.mode == "copy" and why_not_copy is not None:
            raise InvalidOptionError("audio_mode", "copy", hint=f"cannot copy: {why_not_copy}")
        copy = audio_opts.mode != "aac" and why_not_copy is None
        output = Path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp = output.with_name(f".{output.stem}.part{os.getpid()}-{threading.get_ident()}.mp4")
        t0 = time.perf_counter()
        src = None
        try:
            out = av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"})
            try:
                vs = add_video_stream(out, settings, fps, w, h)
                if copy:
                    _, apackets, src = copied_packets(out, Path(audio))
                else:
                    rate = audio_rate(Path(audio))
                    total = int(round(Fraction(n) / fps * rate))
                    _, apackets = aac_packets(out, Path(audio), rate, total, audio_opts.bitrate)
                subtitles = add_subtitle_track(out, storyboard) if soft_track(ctx.config) else []
                for packet in subtitles:  # a mov_text track of the lyrics, muxed up front
                    out.mux(packet)
                frames = frame_stream(clips, storyboard, settings.layout)
                burner = burner_for(storyboard, ctx.config)  # lyric captions (musicvid.captions)
                if burner is not None:
                    frames = burner.burn(frames, settings.layout)
                encode_frames(out, vs, fps, apackets, enc_opts.queue, frames, settings.layout,
                              n, ctx)
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
