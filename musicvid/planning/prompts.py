"""Prompts: one visual identity per video, a prompt family per section, a seed family too.

A video looks like one piece when its shots share a world, a subject, a light and a lens.
:func:`choose_identity` picks those once per video, deterministically from the job seed,
among options that fit the genre (world, subject), the style (look, lens) and the palette
(lighting, tone). Each section role (intro, verse, chorus, bridge, breakdown, outro) adds
what the subject does and a list of framings; the n-th shot of a section takes the n-th
framing. Every repeat of a section (same label and repeat ``group``) gets the same prompts
and seeds in the same order, so the second chorus shows what the first one did.

Prompts stay under :data:`MAX_WORDS` words and an estimate of CLIP's 77-token window;
:func:`fit_prompt` drops the least important parts if a template ever runs over.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from ..config import RenderConfig

__all__ = [
    "LENSES", "LIGHTING", "LOOKS", "MAX_TOKENS", "MAX_WORDS", "NEGATIVE", "ROLES", "ROLE_ALIASES",
    "SUBJECTS", "TONES", "WORLDS", "VisualIdentity", "build_prompt", "choose_identity",
    "derive_seed", "estimate_clip_tokens", "fit_prompt", "intensity", "negative_prompt", "role_of",
    "shot_prompt",
]

MAX_WORDS = 60
MAX_TOKENS = 75  # CLIP reads 77 tokens, two of them start/end markers

WORLDS: dict[str, tuple[str, ...]] = {
    "pop": ("a neon-lit city rooftop at dusk", "a glossy pastel dreamscape of mirrors",
            "a glittering downtown boulevard at night"),
    "rock": ("a roaring concert stage with smoke and amplifiers",
             "an abandoned industrial warehouse", "a desert highway under stormy skies"),
    "hip-hop": ("late-night city streets with graffiti murals",
                "a rooftop overlooking the city skyline", "a subway platform under flickering lights"),
    "electronic": ("a vast warehouse rave with laser grids", "a futuristic megacity of light trails",
                   "an endless landscape of glowing geometry"),
    "country": ("an open prairie road beside golden wheat fields",
                "a weathered barn under a big sky", "a small-town main street at sunset"),
    "jazz": ("a smoky basement jazz club", "rain-slicked city streets at midnight",
             "an art deco hotel lounge"),
    "classical": ("a grand concert hall with marble columns", "a baroque palace ballroom",
                  "a misty lake beneath snowy mountains"),
    "christian": ("a sunlit chapel on a hill", "a vast sky with rays breaking through clouds",
                  "a quiet olive grove at dawn"),
    "blues": ("a rainy delta juke joint", "a lonely railroad crossing at dusk",
              "a dim bar with a worn wooden stage"),
    "folk": ("a misty forest clearing with a campfire", "a wooden cabin by a mountain lake",
             "rolling green hills with stone walls"),
}
SUBJECTS: dict[str, tuple[str, ...]] = {
    "pop": ("a charismatic singer in a sequined jacket", "a young dancer in bold streetwear",
            "two friends in colorful outfits"),
    "rock": ("a guitarist in a worn leather jacket", "a long-haired rock singer",
             "a four-piece band dressed in black"),
    "hip-hop": ("a confident rapper in a tailored tracksuit", "a crew of friends in streetwear",
                "a lone MC in a hooded jacket"),
    "electronic": ("a DJ silhouetted behind glowing decks", "a dancer in reflective clothing",
                   "an android figure with luminous eyes"),
    "country": ("a cowboy in a weathered hat", "a singer with an acoustic guitar",
                "a woman in a denim jacket"),
    "jazz": ("a saxophonist in a sharp suit", "a singer in an elegant evening gown",
             "a pianist at a grand piano"),
    "classical": ("a violinist in a black dress", "a conductor with a raised baton",
                  "a cellist lost in the music"),
    "christian": ("a choir in flowing white robes", "a lone figure with open arms",
                  "a worship singer with closed eyes"),
    "blues": ("an old bluesman with a slide guitar", "a harmonica player in a fedora",
              "a weary traveler with a guitar case"),
    "folk": ("a storyteller with an acoustic guitar", "a fiddler in a wool sweater",
             "a wanderer with a backpack"),
}
LOOKS: dict[str, str] = {
    "cinematic": "cinematic film still",
    "energetic": "dynamic high-energy action shot",
    "minimalist": "minimalist composition, clean negative space",
    "artistic": "expressive painterly illustration",
    "vintage": "vintage 1970s film photograph",
    "futuristic": "futuristic sci-fi concept art",
    "dramatic": "dramatic epic scene, deep shadows",
    "playful": "playful whimsical scene",
}
LENSES: dict[str, tuple[str, ...]] = {
    "cinematic": ("anamorphic lens, shallow depth of field", "50mm lens, soft bokeh"),
    "energetic": ("wide-angle lens, motion blur", "handheld camera, fast shutter"),
    "minimalist": ("85mm lens, crisp focus", "centered symmetrical framing"),
    "artistic": ("visible brush strokes, fine art texture", "watercolor washes, ink outlines"),
    "vintage": ("Kodachrome film grain, soft focus", "Super 8 camera, light leaks"),
    "futuristic": ("ultra-wide lens, holographic glow", "crisp digital render, chrome reflections"),
    "dramatic": ("low-angle lens, high contrast", "telephoto lens, volumetric haze"),
    "playful": ("fisheye lens, bright shapes", "tilt-shift lens, toy-like scale"),
}
LIGHTING: dict[str, tuple[str, ...]] = {
    "warm": ("golden hour backlight", "warm candlelit glow", "amber street lamps"),
    "cool": ("blue hour moonlight", "cold teal ambient light", "overcast silver daylight"),
    "monochrome": ("hard noir side light", "soft window light", "stark high-key light"),
    "vibrant": ("neon rim lighting", "saturated colored stage lights",
                "bright sunlight with vivid reflections"),
}
TONES: dict[str, str] = {
    "warm": "warm amber and gold color palette",
    "cool": "cool blue and teal color palette",
    "monochrome": "black and white photograph",
    "vibrant": "vibrant saturated colors",
}
ROLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "intro": ("standing still as the scene awakens",
              ("extreme wide establishing shot", "wide shot of the empty scene",
               "detail shot of the surroundings")),
    "verse": ("walking through the scene, telling a story",
              ("medium shot", "over-the-shoulder shot", "profile shot", "tracking shot")),
    "chorus": ("performing with arms raised, euphoric",
               ("low-angle hero shot", "wide shot full of energy", "dynamic close-up",
                "sweeping crane shot")),
    "bridge": ("drifting through a surreal dreamlike world",
               ("floating overhead shot", "mirror reflection shot", "soft-focus wide shot")),
    "breakdown": ("alone in a quiet intimate moment",
                  ("intimate close-up", "silhouette shot", "macro detail shot")),
    "outro": ("walking away into the distance",
              ("fading wide shot", "slow pull-back wide shot", "final silhouette shot")),
}
ROLE_ALIASES: dict[str, str] = {
    "start": "intro", "opening": "intro", "pre-chorus": "verse", "prechorus": "verse",
    "build": "verse", "buildup": "verse", "hook": "chorus", "refrain": "chorus", "drop": "chorus",
    "solo": "bridge", "middle": "bridge", "interlude": "breakdown", "instrumental": "breakdown",
    "break": "breakdown", "end": "outro", "ending": "outro", "coda": "outro",
}
NEGATIVE = "blurry, low quality, watermark, text, logo, deformed, extra limbs, jpeg artifacts"
_PALETTE_NEGATIVE = {
    "warm": "cold blue cast", "cool": "orange cast", "monochrome": "color, colorful",
    "vibrant": "dull, washed out, grey",
}
_STYLE_NEGATIVE = {
    "minimalist": "clutter", "vintage": "modern digital look", "futuristic": "rustic",
    "artistic": "photorealistic", "playful": "gloomy", "dramatic": "flat lighting",
    "energetic": "static pose", "cinematic": "amateur snapshot",
}


def derive_seed(seed: int, *parts: object) -> int:
    """A deterministic 32-bit seed from the job seed and ``parts``."""
    blob = ":".join([str(seed), *map(str, parts)]).encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:4], "big")


@dataclass(frozen=True)
class VisualIdentity:
    """What every shot of one video shares."""

    world: str
    subject: str
    lighting: str
    lens: str
    look: str
    tone: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def _pick(options: tuple[str, ...], seed: int, what: str) -> str:
    return options[derive_seed(seed, "identity", what) % len(options)]


def choose_identity(config: RenderConfig) -> VisualIdentity:
    """The video-wide identity for ``config``'s genre/style/palette, picked by its seed."""
    g, s, p = config.genre.value, config.style.value, config.palette.value
    return VisualIdentity(
        world=_pick(WORLDS[g], config.seed, "world"),
        subject=_pick(SUBJECTS[g], config.seed, "subject"),
        lighting=_pick(LIGHTING[p], config.seed, "lighting"),
        lens=_pick(LENSES[s], config.seed, "lens"),
        look=LOOKS[s],
        tone=TONES[p],
    )


def role_of(label: str) -> str:
    """The template role of a section label (``"pre-chorus"`` -> ``"verse"``)."""
    key = str(label).strip().lower().replace("_", "-").replace(" ", "-")
    key = key.rstrip("0123456789").rstrip("-") or key
    if key in ROLES:
        return key
    return ROLE_ALIASES.get(key, "verse")


_TOKEN_RE = re.compile(r"[^\W\d_]+|\d|[^\w\s]+|_+")


def estimate_clip_tokens(text: str) -> int:
    """A conservative count of CLIP BPE tokens (without the start/end markers).

    CLIP splits text into runs of letters, single digits and runs of punctuation; common
    words of up to 7 letters are one token, longer ones are counted as one per 6 letters.
    """
    n = 0
    for piece in _TOKEN_RE.findall(text.lower()):
        n += 1 if len(piece) <= 7 or not piece.isalpha() else math.ceil(len(piece) / 6)
    return n


def fit_prompt(parts: Sequence[tuple[int, str]], max_words: int = MAX_WORDS,
               max_tokens: int = MAX_TOKENS,
               count: Callable[[str], int] = estimate_clip_tokens,
               keep: int | None = None) -> str:
    """Join ``(priority, text)`` parts with commas, dropping the lowest priority (highest
    number, later first) parts until the prompt fits ``max_words`` and ``max_tokens``
    (tokens by ``count``); parts of priority ``keep`` or lower are never dropped."""
    kept = [(p, t) for p, t in parts if t]

    def text() -> str:
        return ", ".join(t for _, t in kept)

    def droppable() -> list[int]:
        return [i for i, (p, _) in enumerate(kept) if keep is None or p > keep]

    while (len(kept) > 1 and (worst := droppable())
           and (len(text().split()) > max_words or count(text()) > max_tokens)):
        kept.pop(max(worst, key=lambda i: (kept[i][0], i)))
    return text()


def intensity(energy: float) -> str:
    """The mood words of a shot's energy (none in the middle)."""
    if energy >= 0.66:
        return "intense mood"
    if energy <= 0.33:
        return "serene mood"
    return ""


def shot_prompt(identity: VisualIdentity, label: str, variant: int, energy: float = 0.5) -> str:
    """The prompt of the ``variant``-th shot of a section with role ``label``."""
    action, framings = ROLES[role_of(label)]
    framing = framings[variant % len(framings)]
    return fit_prompt([
        (0, identity.look), (1, f"{identity.subject} {action}"), (2, identity.world),
        (3, framing), (4, identity.lighting), (5, identity.tone), (6, identity.lens),
        (7, intensity(energy)),
    ])


def negative_prompt(config: RenderConfig) -> str:
    """One negative prompt for the whole video: common faults, plus what the palette and
    style rule out."""
    return ", ".join([NEGATIVE, _PALETTE_NEGATIVE[config.palette.value],
                      _STYLE_NEGATIVE[config.style.value]])


def build_prompt(config: RenderConfig, section: str, energy: float, variant: int = 0) -> str:
    """The prompt for a shot of ``section`` under ``config`` (its identity, first framing)."""
    return shot_prompt(choose_identity(config), section, variant, energy)
