"""The usual MoviePy Ken Burns: ImageClip + resized(lambda t) zoom + write_videofile.

Runs in its own virtual environment (MoviePy pins an old Pillow), never imports musicvid:

    python moviepy_kenburns.py STILL AUDIO OUT W H FPS SECONDS PRESET CRF
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    from moviepy import AudioFileClip, CompositeVideoClip, ImageClip

    still, audio, out, w, h, fps, seconds, preset, crf = argv
    w, h, seconds = int(w), int(h), float(seconds)
    img = ImageClip(still).with_duration(seconds)
    cover = max(w / img.w, h / img.h)  # fill the frame, then zoom in by 20 % over the clip
    zoom = img.resized(lambda t: cover * (1 + 0.2 * t / seconds)).with_position("center")
    video = CompositeVideoClip([zoom], size=(w, h)).with_duration(seconds)
    video = video.with_audio(AudioFileClip(audio).subclipped(0, seconds))
    video.write_videofile(out, fps=float(fps), codec="libx264", preset=preset,
                          ffmpeg_params=["-crf", str(crf)], audio_codec="aac", threads=2,
                          logger=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
