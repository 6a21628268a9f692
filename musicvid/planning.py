"""Analysis + options -> Storyboard: shots cut on the music, prompts, seeds."""

from __future__ import annotations

import hashlib
from fractions import Fraction

from .config import RenderConfig
from .types import Analysis, Shot, Storyboard, frame_count_for

__all__ = ["build_prompt", "derive_seed", "plan"]

GENRE_WORLDS = {
    "pop": "a neon-lit city rooftop at dusk with glossy reflections",
    "rock": "a roaring stage under a wall of amplifiers and smoke",
    "hip-hop": "late-night city streets with graffiti murals and street lights",
    "electronic": "a vast laser-lit warehouse with pulsing light grids",
    "country": "open prairie roads with a weathered barn and golden fields",
    "jazz": "a smoky basement club with brass instruments and warm lamps",
    "classical": "a grand concert hall with marble columns and chandeliers",
    "christian": "a sunlit chapel on a hill with rays of light through clouds",
    "blues": "a rainy delta juke joint with a lone guitar on a porch",
    "folk": "a misty forest clearing with a campfire and wooden cabin",
}
STYLE_LOOKS = {
    "cinematic": "cinematic film still, anamorphic lens, shallow depth of field",
    "energetic": "dynamic angle, motion, vivid action, high contrast",
    "minimalist": "minimalist composition, clean negative space, simple shapes",
    "artistic": "painterly illustration, expressive brush strokes, fine art",
    "vintage": "vintage 1970s film photograph, film grain, faded print",
    "futuristic": "futuristic sci-fi concept art, holographic details, chrome",
    "dramatic": "dramatic chiaroscuro lighting, epic scale, moody atmosphere",
    "playful": "playful whimsical scene, bright shapes, joyful mood",
}
PALETTE_TONES = {
    "warm": "warm golden and amber color palette",
    "cool": "cool blue and teal color palette",
    "monochrome": "black and white monochrome",
    "vibrant": "vibrant saturated colors",
}
SECTION_MOODS = {
    "intro": "establishing wide shot, calm",
    "verse": "medium shot, storytelling",
    "chorus": "bold hero shot, peak energy",
    "bridge": "surreal dreamlike variation",
    "breakdown": "sparse intimate close-up",
    "outro": "fading wide shot, resolution",
}
NEGATIVE = "blurry, low quality, watermark, text, logo, deformed, jpeg artifacts"


def derive_seed(seed: int, *parts: object) -> int:
    """A deterministic 32-bit seed from the job seed and ``parts``."""
    blob = ":".join([str(seed), *map(str, parts)]).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "big")


def build_prompt(config: RenderConfig, section: str, energy: float) -> str:
    mood = SECTION_MOODS.get(section, SECTION_MOODS["verse"])
    intensity = "intense" if energy > 0.66 else ("gentle" if energy < 0.33 else "")
    parts = [GENRE_WORLDS[config.genre.value], mood, intensity,
             STYLE_LOOKS[config.style.value], PALETTE_TONES[config.palette.value]]
    return ", ".join(p for p in parts if p)


def _cut_frames(analysis: Analysis, fps: Fraction, n_frames: int) -> list[int]:
    """Candidate cut frames: bar lines (downbeats), else beats, else a steady grid."""
    times = analysis.downbeats or analysis.beats
    cuts = sorted({int(round(Fraction(t) * fps)) for t in times})
    return [c for c in cuts if 0 < c < n_frames]


def plan(analysis: Analysis, config: RenderConfig) -> Storyboard:
    """Cut the song into shots on bar lines; every shot between 2 s and ~8 s long."""
    fps = config.fps
    n = frame_count_for(analysis.duration, fps)
    min_len = max(1, int(round(2 * fps)))
    target = max(min_len, int(round(4 * fps)))
    candidates = _cut_frames(analysis, fps, n)
    if not candidates:
        candidates = list(range(target, n, target))
    cuts: list[int] = []
    last = 0
    for c in candidates:
        if c - last >= target and n - c >= min_len:
            cuts.append(c)
            last = c
    bounds = [0, *cuts, n]
    shots: list[Shot] = []
    for i, (a, b) in enumerate(zip(bounds, bounds[1:])):
        t = float(Fraction(a, 1) / fps)
        sec = analysis.section_at(t)
        label = sec.label if sec else "verse"
        group = sec.group if sec else 0
        energy = analysis.energy_at(t)
        shots.append(Shot(
            index=i, start_frame=a, end_frame=b,
            prompt=build_prompt(config, label, energy), negative_prompt=NEGATIVE,
            seed=derive_seed(config.seed, "shot", i), section=label,
            section_index=analysis.sections.index(sec) if sec else 0, group=group,
            motion={"kind": "auto"}, energy=round(energy, 4),
        ))
    board = Storyboard(fps=fps, frame_count=n, shots=shots, width=config.width,
                       height=config.height,
                       meta={"genre": config.genre.value, "style": config.style.value,
                             "palette": config.palette.value, "seed": config.seed,
                             "tempo": analysis.tempo})
    board.validate()
    return board
