"""Prompt variety: how much the shots of a video differ, before and after the role settings.

    NUMBA_CACHE_DIR=/tmp/numba-cache python benchmarks/prompt_variety.py SONG [SONG...]

Each song is analysed by the real librosa analyzer and planned (30 fps, no keyframe
budget) under several looks (genre/style/palette/seed), with and without a concept, by

- ``before``: the previous template rule (one world and one light for the whole video,
  sections differ in action and camera word only), run as a prompt writer;
- ``after``: the current ``template`` writer (sections also differ in setting and light).

Per video it counts the share of distinct prompts among the shots (distinct keyframes
over shots) and the number of distinct *settings* (the place and light words of a
prompt: the template world or the concept, the role setting and the light), and the
number of shots that keep the video's identity (its subject or concept, look and tone).
Prints a markdown table for docs/benchmarks.md and writes JSON to
``benchmarks/results/prompt_variety.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from musicvid import RenderConfig, hookimpl, plan  # noqa: E402
from musicvid.planning import prompts as P  # noqa: E402
from musicvid.planning.writers import ROLE_SETTINGS, ShotText  # noqa: E402
from musicvid.plugins import get_plugin_manager  # noqa: E402
from musicvid.protocols import StageContext  # noqa: E402

LOOKS = [dict(genre="pop", style="cinematic", palette="vibrant", seed=1),
         dict(genre="rock", style="dramatic", palette="warm", seed=2),
         dict(genre="electronic", style="futuristic", palette="cool", seed=3),
         dict(genre="folk", style="vintage", palette="monochrome", seed=4)]
CONCEPT = "a lighthouse keeper in a storm"


class BeforeWriter:
    """The rule before role settings: ``prompts.shot_prompt`` (one world, one light)."""

    name = "before"

    def write(self, request):
        return [ShotText(P.shot_prompt(request.identity, b.section, b.variant, b.energy)
                         if not request.concept else P.fit_prompt([
                             (0, request.identity.look),
                             (1, f"{request.concept}, {P.ROLES[P.role_of(b.section)][0]}"),
                             (3, P.ROLES[P.role_of(b.section)][1][
                                 b.variant % len(P.ROLES[P.role_of(b.section)][1])]),
                             (4, request.identity.lighting), (5, request.identity.tone),
                             (6, request.identity.lens)]))
                for b in request.shots]


class _Plugin:
    @hookimpl
    def register_prompt_writers(self, register):
        register(BeforeWriter)


PLACES = sorted({w for v in P.WORLDS.values() for w in v}, key=len, reverse=True)
LIGHTS = sorted({x for v in P.LIGHTING.values() for x in v}, key=len, reverse=True)
SETTINGS = sorted((s for s in ROLE_SETTINGS.values() if s), key=len, reverse=True)


def setting_of(prompt: str, concept: str | None) -> tuple[str, ...]:
    place = next((w for w in PLACES if w in prompt), concept if concept and concept in prompt
                 else "")
    return (place, next((s for s in SETTINGS if s in prompt), ""),
            next((x for x in LIGHTS if x in prompt), ""))


def measure(board, cfg: RenderConfig) -> dict:
    ident = P.choose_identity(cfg)
    prompts = [s.prompt for s in board.shots]
    anchor = cfg.concept or ident.subject
    keeps = sum(1 for p in prompts if anchor in p and ident.look in p and ident.tone in p)
    keyframes = len({(s.prompt, s.seed) for s in board.shots})
    return {"shots": len(prompts), "distinct_prompts": len(set(prompts)),
            "keyframe_share": round(keyframes / len(prompts), 3),
            "distinct_share": round(len(set(prompts)) / len(prompts), 3),
            "distinct_settings": len({setting_of(p, cfg.concept) for p in prompts}),
            "identity_kept": round(keeps / len(prompts), 3),
            "sections": len({(s.section, s.group) for s in board.shots})}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("songs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).parent / "results" / "prompt_variety.json")
    args = ap.parse_args(argv)
    from musicvid.defaults.librosa_analyzer import LibrosaAnalyzer

    get_plugin_manager().register(_Plugin(), name="benchmark-before")
    analyzer = LibrosaAnalyzer()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("MUSICVID_CACHE_DIR", tmp)
        for song in args.songs:
            base = RenderConfig.create(fps=30)
            analysis = analyzer.analyze(song, StageContext(base, "analyze"))
            labels = [s.label for s in analysis.sections]
            for concept in (None, CONCEPT):
                for look in LOOKS:
                    cfg = RenderConfig.create(fps=30, concept=concept, **look)
                    for rule in ("before", "template"):
                        board = plan(analysis, cfg.replace(prompt_writer=rule))
                        rows.append({"song": song.name, "duration_s": round(analysis.duration, 1),
                                     "section_labels": labels, "concept": bool(concept),
                                     "look": look, "rule": "before" if rule == "before" else "after",
                                     **measure(board, cfg)})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")

    out = ["| song | concept | rule | shots | distinct keyframes / shots | distinct prompts / "
           "shots | distinct settings | identity kept |", "|---|---|---|---|---|---|---|---|"]
    songs = list(dict.fromkeys(r["song"] for r in rows))
    for song in songs:
        for concept in (False, True):
            for rule in ("before", "after"):
                rs = [r for r in rows if r["song"] == song and r["concept"] == concept
                      and r["rule"] == rule]
                out.append(
                    f"| {song} ({rs[0]['duration_s']:.0f} s, {rs[0]['sections']} section "
                    f"families) | {'yes' if concept else 'no'} | {rule} | "
                    f"{statistics.mean(r['shots'] for r in rs):.0f} | "
                    f"{statistics.mean(r['keyframe_share'] for r in rs):.2f} | "
                    f"{statistics.mean(r['distinct_share'] for r in rs):.2f} | "
                    f"{statistics.mean(r['distinct_settings'] for r in rs):.1f} | "
                    f"{statistics.mean(r['identity_kept'] for r in rs):.2f} |")
    sys.stdout.write("\n".join(out) + f"\n\n(means over {len(LOOKS)} looks; JSON: "
                     f"{args.out})\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
