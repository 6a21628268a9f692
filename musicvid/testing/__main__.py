"""``python -m musicvid.testing tiny-models DIR`` | ``click-track OUT.wav [--bpm --duration]``."""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    p = argparse.ArgumentParser(prog="python -m musicvid.testing")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tiny-models", help="write tiny random SDXL, SVD, Wan, LTX-Video, "
                                            "CogVideoX, FLUX and SD3 pipelines and a "
                                            "tiny Whisper")
    t.add_argument("directory")
    c = sub.add_parser("click-track", help="write a click-track WAV with known beats")
    c.add_argument("output")
    c.add_argument("--bpm", type=float, default=120.0)
    c.add_argument("--duration", type=float, default=20.0)
    args = p.parse_args(argv)
    if args.cmd == "tiny-models":
        from .tiny_models import write_tiny_models
        from .tiny_video_models import write_tiny_video_models

        models = {**write_tiny_models(args.directory), **write_tiny_video_models(args.directory)}
        for name, path in models.items():
            sys.stdout.write(f"{name}: {path}\n")
    else:
        from .audio import write_click_track

        beats = write_click_track(args.output, args.bpm, args.duration)
        sys.stdout.write(f"wrote {args.output}: {len(beats)} beats at {args.bpm:g} BPM\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
