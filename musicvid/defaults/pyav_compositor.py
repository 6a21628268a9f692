"""The default compositor: frames streamed into one PyAV H.264 encoder, the song as AAC."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..errors import OutputError
from ..hookspecs import hookimpl
from ..protocols import CompositeResult, StageContext
from ..types import Clip, Storyboard

log = logging.getLogger(__name__)

AUDIO_RATE = 48000


def _audio_frames(audio: Path, max_samples: int) -> Iterator[Any]:
    """The song as 1024-sample stereo fltp frames at 48 kHz, pts in samples."""
    import av

    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE,
                                  frame_size=1024)
    sent = 0
    with av.open(str(audio)) as src:
        stream = src.streams.audio[0]
        decoded = src.decode(stream)
        while True:
            frame = next(decoded, None)
            for out in resampler.resample(frame):
                if sent >= max_samples:
                    return
                out.pts = sent
                out.time_base = Fraction(1, AUDIO_RATE)
                sent += out.samples
                yield out
            if frame is None:
                return


def validate_output(path: Path, expected_frames: int, fps: Fraction) -> dict[str, Any]:
    """Reopen ``path``: H.264 + AAC streams, exact frame count, durations within a frame."""
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
    if abs(vdur - adur) > 1.0 / float(fps) + 1e-6:
        raise OutputError(f"video ({vdur:.3f}s) and audio ({adur:.3f}s) durations differ by "
                          "more than one frame", stage="composite")
    return info


class PyAVCompositor:
    """libx264 (yuv420p, CRF, preset) + AAC in an MP4 with ``+faststart``.

    The file is written under a temporary name next to ``output``, validated, then
    renamed into place: a failure never leaves a truncated file under the final name.
    """

    name = "pyav"

    def compose(self, clips: Iterator[Clip], storyboard: Storyboard, audio: Path,
                output: Path, ctx: StageContext) -> CompositeResult:
        import av

        cfg = ctx.config
        fps = storyboard.fps
        n = storyboard.frame_count
        output = Path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp = output.with_name(f".{output.stem}.part{os.getpid()}.mp4")
        t0 = time.perf_counter()
        done = 0
        try:
            with av.open(str(tmp), mode="w", format="mp4",
                         options={"movflags": "+faststart"}) as out:
                vs = out.add_stream("libx264", rate=fps)
                vs.width, vs.height = storyboard.width, storyboard.height
                vs.pix_fmt = "yuv420p"
                vs.time_base = Fraction(1, fps) if fps.denominator == 1 else 1 / fps
                vs.options = {"crf": str(cfg.crf), "preset": cfg.preset}
                vs.codec_context.thread_count = 0
                audio_stream = out.add_stream("aac", rate=AUDIO_RATE)
                audio_stream.layout = "stereo"
                audio_stream.bit_rate = 192_000
                audio_samples = int(round(Fraction(n) / fps * AUDIO_RATE))
                afr = _audio_frames(audio, audio_samples)
                apts = 0
                frame_dur = Fraction(AUDIO_RATE) / fps
                for clip in clips:
                    for rgb in clip:
                        vf = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                        vf.pts = done
                        out.mux(vs.encode(vf))
                        done += 1
                        # interleave: audio up to the current video time
                        while apts < (done * frame_dur):
                            af = next(afr, None)
                            if af is None:
                                apts = audio_samples
                                break
                            apts = af.pts + af.samples
                            out.mux(audio_stream.encode(af))
                        if done % 30 == 0:
                            ctx.progress(done, n, "encoding")
                            ctx.check_cancelled()
                out.mux(vs.encode(None))
                for af in afr:
                    out.mux(audio_stream.encode(af))
                out.mux(audio_stream.encode(None))
            if done != n:
                raise OutputError(f"the shots gave {done} frames, the song needs {n}",
                                  stage="composite")
            info = validate_output(tmp, n, fps)
            os.replace(tmp, output)
        finally:
            if tmp.exists():
                tmp.unlink()
        ctx.progress(n, n, "written")
        log.info("encoded %d frames in %.1fs (%.1f fps)", n, time.perf_counter() - t0,
                 n / max(1e-9, time.perf_counter() - t0))
        return CompositeResult(output, n, info["video_duration"], info["audio_duration"],
                               info["video_codec"], info["audio_codec"])


@hookimpl
def register_compositors(register):  # type: ignore[no-untyped-def]
    register(PyAVCompositor)
