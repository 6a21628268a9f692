"""The ``musicvid`` command: render, plan, analyze, plugins, serve."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from . import __version__
from .config import Genre, Palette, Profile, RenderConfig, Style
from .errors import MusicVidError, OutputError

log = logging.getLogger("musicvid.cli")


class _Progress:
    """A tqdm bar per stage on stderr (plain lines when stderr is not a terminal)."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.stage = None
        self.bar: Any = None

    def __call__(self, stage: str, done: int, total: int, message: str = "") -> None:
        if self.quiet:
            return
        from tqdm import tqdm

        if stage == "budget":
            if done == total:
                sys.stderr.write(f"musicvid: {message}\n")
            return
        if stage == "motion" and self.bar is not None and self.stage == "composite":
            self.bar.set_postfix_str(message, refresh=True)  # motion streams into the encoder
            return
        if stage != self.stage:
            self.close()
            self.stage = stage
            self.bar = tqdm(total=max(total, 1), desc=f"{stage:<10}", unit="", leave=True,
                            file=sys.stderr, dynamic_ncols=True,
                            bar_format="{desc} {bar} {n_fmt}/{total_fmt} {elapsed}<{remaining} {postfix}")
        if self.bar is not None:
            if total and total != self.bar.total:
                self.bar.total = total
            self.bar.n = done
            self.bar.set_postfix_str(message, refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _add_render_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--genre", choices=Genre.values(), default=None)
    p.add_argument("--style", choices=Style.values(), default=None)
    p.add_argument("--palette", choices=Palette.values(), default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--profile", choices=Profile.values(), default=None,
                   help="cpu (default; SOTA_CPU_ONLY=1) or gpu (SOTA_CPU_ONLY=0)")
    p.add_argument("--fps", default=None, help="frames per second: 24, 25, 30, 29.97, 30000/1001")
    p.add_argument("--width", type=int, default=None)
    p.add_argument("--height", type=int, default=None)
    p.add_argument("--keyframe-width", type=int, default=None)
    p.add_argument("--keyframe-height", type=int, default=None)
    p.add_argument("--steps", type=int, default=None, help="diffusion steps per keyframe")
    p.add_argument("--sdxl-model", default=None,
                   help="hub id or local directory (env MUSICVID_SDXL_MODEL)")
    p.add_argument("--svd-model", default=None,
                   help="hub id or local directory (env MUSICVID_SVD_MODEL)")
    p.add_argument("--few-step", default=None, choices=["turbo", "lightning", "lcm"],
                   help="few-step sampling for SDXL-Turbo / SDXL-Lightning / LCM(-LoRA) models")
    p.add_argument("--lora", default=None, help="a LoRA (hub id, file or folder) for SDXL")
    p.add_argument("--tiny-vae", default=None,
                   help="decode with an AutoencoderTiny, e.g. madebyollin/taesdxl "
                        "(env MUSICVID_TINY_VAE)")
    p.add_argument("--refiner-model", default=None,
                   help="an SDXL refiner hub id or folder (env MUSICVID_REFINER_MODEL)")
    p.add_argument("--cpu-offload", action="store_const", const=True, default=None,
                   help="model CPU offload (GPUs with little memory)")
    p.add_argument("--compile", action="store_const", const=True, default=None,
                   help="torch.compile the UNet (GPU)")
    p.add_argument("--batch-size", type=int, default=None, help="keyframes per diffusion call")
    p.add_argument("--images", type=Path, default=None,
                   help="folder of your pictures (with --keyframes images)")
    p.add_argument("--image-order", choices=["order", "energy"], default=None,
                   help="assign pictures in name order or by brightness to fit the energy")
    p.add_argument("--init-images", type=Path, default=None,
                   help="restyle these pictures with SDXL img2img")
    p.add_argument("--strength", type=float, default=None,
                   help="img2img strength, 0..1 (default 0.5)")
    p.add_argument("--time-budget", type=float, default=None, metavar="MINUTES",
                   help="fit keyframe count, steps and size to this many minutes")
    p.add_argument("--analyzer", default=None, help="analyzer stage name")
    p.add_argument("--keyframes", default=None, help="keyframe stage name (default sdxl)")
    p.add_argument("--motion", default=None, help="motion stage name (default kenburns)")
    p.add_argument("--compositor", default=None, help="compositor stage name")
    p.add_argument("--codec", default=None,
                   help="video encoder: libx264 (default), libx265, h264_nvenc, hevc_nvenc")
    p.add_argument("--preset", default=None, help="encoder speed preset (default veryfast)")
    p.add_argument("--crf", type=int, default=None, help="quality, 0-51 (default 20)")
    p.add_argument("--pix-fmt", default=None, help="pixel format (default yuv420p)")
    p.add_argument("--aspect", default=None,
                   help="16:9 (default), 9:16, 1:1...: reframes the video, no letterbox")
    p.add_argument("--option", action="append", default=None, metavar="KEY=VALUE",
                   help="a stage option, e.g. svd_steps=12 or kenburns_backend=opencv "
                        "(repeatable; see docs)")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="stage cache (env MUSICVID_CACHE_DIR)")
    p.add_argument("--no-cache", action="store_true", help="do not reuse or keep results")
    p.add_argument("--max-keyframes", type=int, default=None,
                   help="distinct keyframes at most; further shots reuse their section's")
    p.add_argument("--pulse", type=float, default=None, metavar="S",
                   help="pulse on downbeats: strength 0..1, scaled by the energy (default 0)")
    p.add_argument("--crossfade-frames", type=int, default=None,
                   help="crossfade at section changes, in frames (0: hard cut)")
    p.add_argument("--grade", type=float, default=None,
                   help="palette colour grade strength on keyframes, 0 (off) to 1 (default)")
    p.add_argument("--lyrics", type=Path, default=None, metavar="FILE",
                   help="the song's words: .lrc (word times too), .srt, .vtt or plain text")
    p.add_argument("--transcribe", action="store_const", const=True, default=None,
                   help="transcribe the words from the audio (Whisper)")
    p.add_argument("--transcriber", default=None, help="transcriber stage name (default whisper)")
    p.add_argument("--whisper-model", default=None,
                   help="Whisper hub id or folder (env MUSICVID_WHISPER_MODEL)")
    p.add_argument("--captions", default=None, choices=["soft", "burn", "both", "none"],
                   help="lyric captions: soft (default: .srt/.vtt and an MP4 track), burn, "
                        "both, none")
    p.add_argument("--caption-font", type=Path, default=None, metavar="TTF",
                   help="font for burned-in captions (default: bundled DejaVu Sans Bold)")


def _config(args: argparse.Namespace) -> RenderConfig:
    keys = ["genre", "style", "palette", "seed", "fps", "width", "height", "keyframe_width",
            "keyframe_height", "steps", "sdxl_model", "svd_model", "analyzer", "keyframes",
            "motion", "compositor", "cache_dir", "few_step", "lora", "tiny_vae",
            "refiner_model", "cpu_offload", "compile", "batch_size", "images", "image_order",
            "init_images", "strength", "max_keyframes", "time_budget", "pulse",
            "crossfade_frames", "grade", "lyrics", "transcribe", "transcriber", "whisper_model",
            "captions", "caption_font"]
    overrides = {k: getattr(args, k, None) for k in keys}
    overrides.update({k: getattr(args, k, None) for k in ("codec", "preset", "crf", "pix_fmt",
                                                          "aspect")})
    if getattr(args, "option", None):
        overrides["options"] = _stage_options(args.option)
    if getattr(args, "no_cache", False):
        overrides["use_cache"] = False
    return RenderConfig.create(profile=getattr(args, "profile", None), **overrides)


def _stage_options(items: list[str]) -> dict[str, Any]:
    """``["svd_steps=12", ...]`` -> ``{"svd_steps": "12"}`` (stages parse the values)."""
    from .errors import InvalidOptionError

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidOptionError("--option", item, hint="KEY=VALUE, e.g. svd_steps=12")
        out[key.strip().replace("-", "_")] = value.strip()
    return out


def cmd_render(args: argparse.Namespace) -> int:
    from .pipeline import render
    from .types import Storyboard

    config = _config(args)
    board = Storyboard.load(args.storyboard) if args.storyboard else None
    progress = _Progress(args.quiet)
    try:
        result = render(args.audio, args.output, config, progress=progress, storyboard=board,
                        contact_sheet=args.contact_sheet)
    finally:
        progress.close()
    c = result.composite
    sys.stderr.write(
        f"wrote {c.path}: {c.frame_count} frames at {config.fps} fps, "
        f"video {c.video_duration:.3f}s / audio {c.audio_duration:.3f}s, "
        f"{result.stats['keyframes_generated']} keyframes generated, "
        f"{result.stats['keyframes_cached']} from cache\n")
    budget = result.stats.get("budget")
    if budget:
        took = result.stats["timings"]["total"]
        sys.stderr.write(f"time: {took / 60:.1f} min (estimated {budget['estimate_s'] / 60:.1f} "
                         f"min, budget {config.time_budget:g} min)\n")
    if result.sync is not None:
        from .sync import sync_path

        sys.stderr.write(f"{result.sync.summary()} ({sync_path(c.path)})\n")
    if result.contact_sheet is not None:
        sys.stderr.write(f"contact sheet: {result.contact_sheet}\n")
    if result.stats.get("captions"):
        sys.stderr.write(f"captions: {', '.join(result.stats['captions'])}\n")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from .pipeline import Pipeline
    from .sync import sync_report

    config = _config(args)
    pipe = Pipeline(config)
    try:
        analysis = pipe.analyze(args.audio)
        board = pipe.plan(analysis)
        text = board.to_json() + "\n"
        if args.output is None or str(args.output) == "-":
            sys.stdout.write(text)
        else:
            try:
                args.output.parent.mkdir(parents=True, exist_ok=True)
                args.output.write_text(text, encoding="utf-8")
            except OSError as exc:
                raise OutputError(f"could not write the plan {args.output}: {exc}") from None
        sections = len(board.meta.get("sections", [])) or 1
        sys.stderr.write(
            f"planned {len(board.shots)} shots in {sections} sections, "
            f"{len({(s.prompt, s.negative_prompt, s.seed) for s in board.shots})} distinct "
            f"keyframes, {board.frame_count} frames at {config.fps} fps"
            f"{'' if args.output is None else f' -> {args.output}'}\n")
        sys.stderr.write(sync_report(board, analysis).summary() + "\n")
        if args.contact_sheet is not None:
            path, found = pipe.contact_sheet(board, args.contact_sheet)
            sys.stderr.write(f"contact sheet: {path} ({found} of {len(board.shots)} shots "
                             f"have a keyframe in the cache)\n")
    finally:
        pipe.close()
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from .pipeline import analyze

    config = _config(args)
    if args.plot:  # fail before the analysis if matplotlib is missing
        from .analysis.plot import require_matplotlib

        require_matplotlib()
    analysis = analyze(args.audio, config)
    if args.plot:
        from .analysis.plot import plot_analysis
        from .audio import load_audio

        samples, rate = load_audio(args.audio, sr=22050, mono=True)
        written = plot_analysis(analysis, args.plot, samples, rate)
        sys.stderr.write(f"wrote {written}\n")
    data = analysis.to_dict()
    if not args.curves:
        data.pop("energy", None)
        data.pop("onset", None)
    sys.stdout.write(json.dumps(data, indent=2) + "\n")
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from .plugins import list_stages

    rows = [{"kind": e.kind, "name": e.name, "plugin": e.plugin,
             "package": e.distribution or ("musicvid (built in)"
                                           if e.plugin.startswith("musicvid.") else "")}
            for e in list_stages()]
    if args.json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    else:
        for r in rows:
            sys.stdout.write(f"{r['kind']:<11} {r['name']:<16} {r['plugin']}"
                             f"{'  [' + r['package'] + ']' if r['package'] else ''}\n")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from musicvid_server.__main__ import serve

    return serve(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="musicvid",
                                description="Turn a song into a music video.")
    p.add_argument("--version", action="version", version=f"musicvid {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="log each stage")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("render", help="render AUDIO to an MP4", parents=[common])
    r.add_argument("audio", type=Path)
    r.add_argument("-o", "--output", type=Path, required=True)
    r.add_argument("--storyboard", type=Path, default=None,
                   help="render exactly this plan (JSON from `musicvid plan`)")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    r.add_argument("--contact-sheet", type=Path, default=None, metavar="PNG",
                   help="also draw the keyframes in a grid with times, sections, prompts")
    _add_render_options(r)
    r.set_defaults(func=cmd_render)

    pn = sub.add_parser("plan", help="plan the storyboard of AUDIO (JSON, editable)",
                        parents=[common])
    pn.add_argument("audio", type=Path)
    pn.add_argument("-o", "--output", type=Path, default=None,
                    help="where to write the plan (default: standard output)")
    pn.add_argument("--contact-sheet", type=Path, default=None, metavar="PNG",
                    help="draw the plan, with the keyframes already in the cache")
    _add_render_options(pn)
    pn.set_defaults(func=cmd_plan)

    a = sub.add_parser("analyze", help="print the analysis of AUDIO as JSON", parents=[common])
    a.add_argument("audio", type=Path)
    a.add_argument("--curves", action="store_true", help="include energy/onset curves")
    a.add_argument("--plot", type=Path, default=None, metavar="OUT.png",
                   help="also draw waveform, energy, beats, downbeats and sections "
                        "(needs matplotlib: pip install 'musicvid[plot]')")
    _add_render_options(a)
    a.set_defaults(func=cmd_analyze)

    pl = sub.add_parser("plugins", help="list registered stages and where they come from", parents=[common])
    pl.add_argument("--json", action="store_true")
    pl.set_defaults(func=cmd_plugins)

    from musicvid_server.settings import add_server_options  # light: no Starlette

    sv = sub.add_parser("serve", help="run the web page and job API on http://localhost:8000",
                        parents=[common])
    add_server_options(sv)
    sv.set_defaults(func=cmd_serve)
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except MusicVidError as exc:
        sys.stderr.write(f"musicvid: error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("musicvid: interrupted\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
