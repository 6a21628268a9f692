"""The ``musicvid`` command: render, plan, analyze, plugins (and ``serve`` from the
bundled server's ``register_commands`` hook)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from . import __version__
from .config import RenderConfig
from .errors import MusicVidError, OutputError
from .options import add_options, config_from_args

log = logging.getLogger("musicvid.cli")


class _Progress:
    """A tqdm bar per stage on stderr (plain lines when stderr is not a terminal)."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.stage: str | None = None
        self.bar: Any = None

    def __call__(self, stage: str, done: int, total: int, message: str = "") -> None:
        if self.quiet:
            return
        from tqdm import tqdm

        if stage == "budget":
            if done == total:
                if self.bar is not None:  # above the running bar, not through it
                    tqdm.write(f"musicvid: {message}", file=sys.stderr)
                else:
                    sys.stderr.write(f"musicvid: {message}\n")
            return
        streaming = (stage == "motion" and self.stage == "composite") or \
            (stage == "keyframes" and self.stage in ("motion", "composite"))
        if streaming and self.bar is not None:
            # motion streams into the encoder, keyframes may be made alongside (--overlap)
            self.bar.set_postfix_str(f"{stage} {done}/{total} {message}".strip()
                                     if stage == "keyframes" else message, refresh=True)
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


def _config(args: argparse.Namespace) -> RenderConfig:
    return config_from_args(args)


def _warm_up_analysis(config: RenderConfig) -> None:
    """Start the built-in analyzer's numba warm-up before the heavy imports, so it
    overlaps them as well as the decode (see :mod:`musicvid.analysis._warmup`)."""
    if config.analyzer == "librosa":
        from .analysis import start_warm_up

        start_warm_up()


def cmd_render(args: argparse.Namespace) -> int:
    config = _config(args)
    if not args.storyboard:
        _warm_up_analysis(config)
    from .pipeline import render
    from .types import Storyboard

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


def _stage_option_rows(factory: Any) -> list[dict[str, Any]]:
    """``--option`` keys of a stage class: key, default, choices, help."""
    import dataclasses

    from ._options import option_table
    from .config import RenderConfig
    from .options import iter_options

    groups = getattr(factory, "option_groups", None)
    rows = []
    for prefix, cls in (groups() if callable(groups) and isinstance(factory, type) else {}).items():
        table = option_table(cls)
        for f in dataclasses.fields(cls):
            opt, alias = table[f.name], f.metadata.get("config_field")
            row = {"key": f"{prefix}_{f.name}", "default": opt.default,
                   "choices": list(opt.choices) if opt.choices else None,
                   "help": f.metadata.get("help") or opt.hint}
            if alias:  # a RenderConfig field: its default, choices and flag
                spec = next(s for s in iter_options() if s.name == alias)
                row.update(default=_jsonable(RenderConfig.__dataclass_fields__[alias].default),
                           choices=spec.choice_list(), help=row["help"] or spec.help)
                row["help"] += f" (same as {spec.cli_flag})" if spec.cli else ""
            rows.append(row)
    return rows


def _jsonable(value: Any) -> Any:
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)


def cmd_plugins(args: argparse.Namespace) -> int:
    from .plugins import list_stages

    rows: list[dict[str, Any]] = [{"kind": e.kind, "name": e.name, "plugin": e.plugin,
             "package": e.distribution or ("musicvid (built in)"
                                           if e.plugin.startswith("musicvid.") else ""),
             **({"options": _stage_option_rows(e.factory)} if args.options else {})}
            for e in list_stages()]
    if args.json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    else:
        for r in rows:
            sys.stdout.write(f"{r['kind']:<11} {r['name']:<16} {r['plugin']}"
                             f"{'  [' + r['package'] + ']' if r['package'] else ''}\n")
            for o in r.get("options", []):
                kv = f"{o['key']}={o['default']}"
                allowed = f"({'|'.join(o['choices'])}) " if o["choices"] else ""
                sys.stdout.write(f"    --option {kv:<30} {allowed}{o['help']}\n")
    return 0


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
    add_options(r)
    r.set_defaults(func=cmd_render)

    pn = sub.add_parser("plan", help="plan the storyboard of AUDIO (JSON, editable)",
                        parents=[common])
    pn.add_argument("audio", type=Path)
    pn.add_argument("-o", "--output", type=Path, default=None,
                    help="where to write the plan (default: standard output)")
    pn.add_argument("--contact-sheet", type=Path, default=None, metavar="PNG",
                    help="draw the plan, with the keyframes already in the cache")
    add_options(pn)
    pn.set_defaults(func=cmd_plan)

    a = sub.add_parser("analyze", help="print the analysis of AUDIO as JSON", parents=[common])
    a.add_argument("audio", type=Path)
    a.add_argument("--curves", action="store_true", help="include energy/onset curves")
    a.add_argument("--plot", type=Path, default=None, metavar="OUT.png",
                   help="also draw waveform, energy, beats, downbeats and sections "
                        "(needs matplotlib: pip install 'musicvid[plot]')")
    add_options(a)
    a.set_defaults(func=cmd_analyze)

    pl = sub.add_parser("plugins", help="list registered stages and where they come from", parents=[common])
    pl.add_argument("--json", action="store_true")
    pl.add_argument("--options", action="store_true",
                    help="also list each stage's --option keys, defaults and choices")
    pl.set_defaults(func=cmd_plugins)

    from .plugins import get_plugin_manager

    # more subcommands from plugins: the bundled server adds `musicvid serve`
    get_plugin_manager().hook.register_commands(subparsers=sub, parents=[common])
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
