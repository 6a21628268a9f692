"""Prompt writers: the words of each shot, from the song, the user's concept and the plan.

The planner decides *when* shots are (cuts on the music) and which shots share a keyframe
(repeats of a section); a prompt writer decides *what* each keyframe shows. A writer gets
a :class:`WriterRequest` — the analysis, the lyrics if any, the user's concept and
per-section prompts, the video's visual identity and one :class:`ShotBrief` per distinct
keyframe — and returns one :class:`ShotText` (prompt, optional negative prompt, optional
motion hint) per brief.

Writers register through the ``register_prompt_writers`` hook, like stages. Built in:
``template`` (:class:`TemplateWriter`, the default: the rules below) and
``openai-compatible`` (:mod:`musicvid.defaults.openai_writer`, a chat-completions endpoint).

The template rules
------------------
- Without a concept, the identity's subject and world are in every prompt; with a
  concept, the concept replaces both (it *is* the subject, the world, the story).
- Each section role sets what happens (the action), the framing (the n-th shot of a
  section takes the n-th framing; a second section family of the same role, another
  repeat group, goes on where the first one's framings end; once a role's framings have
  all been used, the next round takes the palette's next light) and the setting's light: verses keep the video's home
  light, choruses, bridges and breakdowns move to the palette's other lights and to their
  own time of day, so sections differ in light, not only in the camera word, while the
  subject, look and colour palette hold.
- ``section_prompts`` (``{"chorus": "..."}``, by section label or role) replace the
  action and setting of that section's shots; the concept (or subject) stays.
- Every prompt fits both SDXL text encoders' 77-token windows (75 tokens between the start
  and end markers). Tokens are counted with the model's own CLIP tokenizer when it is on
  disk, else with :func:`~musicvid.planning.prompts.estimate_clip_tokens` (a conservative
  estimate). A concept longer than :data:`CONCEPT_MAX_TOKENS` tokens is cut at a word
  boundary, and what was cut is logged and kept in ``storyboard.meta["concept"]``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..config import RenderConfig
from ..types import Analysis
from .prompts import (
    LIGHTING,
    MAX_TOKENS,
    MAX_WORDS,
    ROLES,
    VisualIdentity,
    estimate_clip_tokens,
    fit_prompt,
    intensity,
    role_of,
)

__all__ = [
    "CONCEPT_MAX_TOKENS", "MOTION_HINTS", "MOTION_PARAMS", "ROLE_LIGHT", "ROLE_SETTINGS", "SECTION_MAX_TOKENS",
    "FittedText", "PromptWriter", "ShotBrief", "ShotText", "TemplateWriter", "TokenCounter",
    "WriterRequest", "fit_parts", "fit_text", "template_prompt", "token_counter",
]

log = logging.getLogger(__name__)

CONCEPT_MAX_TOKENS = 40  # leaves room for the action and framing of every section role
SECTION_MAX_TOKENS = 24  # a per-section prompt replaces the action and setting
MOTION_HINTS = ("auto", "zoom-in", "zoom-out", "pan-left", "pan-right", "pan-up", "pan-down",
                "still")

# What a motion hint means to the Ken Burns stage (shot.motion keys; angle in degrees,
# y down): the camera's direction of travel.
MOTION_PARAMS: dict[str, dict[str, Any]] = {
    "zoom-in": {"zoom_in": True}, "zoom-out": {"zoom_in": False},
    "pan-left": {"angle": 180.0}, "pan-right": {"angle": 0.0},
    "pan-up": {"angle": 270.0}, "pan-down": {"angle": 90.0},
    "still": {"zoom": 0.0, "pan": 0.0, "pulse": 0.0},
}

# Where and when each section role takes place, in words that fit any concept's world.
ROLE_SETTINGS: dict[str, str] = {
    "intro": "early morning haze",
    "verse": "",
    "chorus": "night, bursts of light and sparks in the air",
    "bridge": "surreal twilight, mirrored reflections",
    "breakdown": "near darkness, a single shaft of light",
    "outro": "fading evening glow",
}
# Which of the palette's lights a role takes: an offset from the identity's own light.
ROLE_LIGHT: dict[str, int] = {"intro": 0, "verse": 0, "chorus": 1, "bridge": 2,
                              "breakdown": 2, "outro": 0}

TokenCounter = Callable[[str], int]


# -- what a writer gets and returns --------------------------------------------------------
@dataclass(frozen=True)
class ShotBrief:
    """One distinct keyframe to write: the first shot that shows it and where it sits."""

    index: int  # the brief's position (0..n-1); answers come back in this order
    shot: int  # the first shot (Storyboard index) that uses this keyframe
    shots: tuple[int, ...]  # every shot that uses it
    start: float  # seconds, of the first shot
    end: float
    section: str  # the section label, e.g. "chorus"
    role: str  # the template role, e.g. "chorus" for "refrain"
    group: int  # the section's repeat group
    variant: int  # the n-th distinct keyframe of its section
    energy: float  # 0..1, the section's mean energy
    draft: str = ""  # the template prompt (a writer may start from it)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["shots"] = list(self.shots)
        return d


@dataclass(frozen=True)
class ShotText:
    """A writer's answer for one brief."""

    prompt: str
    negative_prompt: str | None = None  # None: the planner's negative prompt
    motion: str | None = None  # a hint, one of MOTION_HINTS; None: the planner's choice


@dataclass
class WriterRequest:
    analysis: Analysis
    config: RenderConfig
    identity: VisualIdentity
    shots: list[ShotBrief]
    negative_prompt: str
    concept: str | None = None  # already fitted to CONCEPT_MAX_TOKENS
    section_prompts: dict[str, str] = field(default_factory=dict)  # fitted too
    lyrics: Any = None  # the song's lyrics where known (text or timed lines), else None
    count_tokens: TokenCounter = estimate_clip_tokens
    notes: dict[str, Any] = field(default_factory=dict)  # a writer's report -> meta


@runtime_checkable
class PromptWriter(Protocol):
    name: str

    def write(self, request: WriterRequest) -> list[ShotText]:
        """One :class:`ShotText` per ``request.shots``, in order."""
        ...


# -- counting and fitting ---------------------------------------------------------------------
def _tokenizer_dir(model: str) -> Path | None:
    """The SDXL model's tokenizer folder if it is on disk (a local model or the HF cache)."""
    local = Path(model).expanduser()
    if (local / "tokenizer" / "vocab.json").is_file():
        return local / "tokenizer"
    if local.exists() or model.count("/") != 1:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(model, "tokenizer/vocab.json")
        if isinstance(hit, str) and Path(hit).is_file():
            merges = try_to_load_from_cache(model, "tokenizer/merges.txt")
            if isinstance(merges, str):
                return Path(hit).parent
    except Exception:  # no huggingface_hub, or an unreadable cache: estimate instead
        return None
    return None


@functools.lru_cache(maxsize=4)
def _clip_counter(folder: str) -> TokenCounter | None:
    try:
        from transformers import CLIPTokenizer

        tok = CLIPTokenizer.from_pretrained(folder, model_max_length=77)
    except Exception as exc:
        log.info("counting prompt tokens by estimate (the CLIP tokenizer in %s did not load: "
                 "%s)", folder, exc)
        return None

    def count(text: str) -> int:
        return len(tok(text, add_special_tokens=False)["input_ids"])

    return count


def token_counter(config: RenderConfig) -> tuple[TokenCounter, str]:
    """A token counter for ``config``'s SDXL model and its kind (``"clip"`` or
    ``"estimate"``). Both SDXL text encoders use the same CLIP BPE vocabulary. The model
    is the SDXL stage's: its ``--option sdxl_model`` wins over ``--sdxl-model``."""
    model = config.options.get("sdxl_model") or config.sdxl_model
    folder = _tokenizer_dir(str(model))
    counter = _clip_counter(str(folder)) if folder is not None else None
    if counter is None:
        return estimate_clip_tokens, "estimate"
    return counter, "clip"


@dataclass(frozen=True)
class FittedText:
    text: str
    cut: str  # what was left out ("" if nothing)
    tokens: int


def fit_text(text: str, max_tokens: int, count: TokenCounter = estimate_clip_tokens) -> FittedText:
    """``text`` (whitespace normalised) cut at a word boundary to ``max_tokens``."""
    words = " ".join(str(text).split()).split(" ")
    if words == [""]:
        return FittedText("", "", 0)
    n = count(" ".join(words))
    if n <= max_tokens:
        return FittedText(" ".join(words), "", n)
    lo, hi = 0, len(words)  # the most words that fit: binary search on the prefix length
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count(" ".join(words[:mid])) <= max_tokens:
            lo = mid
        else:
            hi = mid - 1
    kept = " ".join(words[:lo]).rstrip(",;:")
    return FittedText(kept, " ".join(words[lo:]), count(kept) if kept else 0)


def fit_parts(parts: Sequence[tuple[int, str]], count: TokenCounter = estimate_clip_tokens,
              max_tokens: int = MAX_TOKENS, max_words: int = MAX_WORDS) -> str:
    """Join ``(priority, text)`` parts (stripped) with commas, dropping the lowest-priority
    parts (highest number, later first) until the prompt fits; priority 0 is never dropped
    (:func:`~musicvid.planning.prompts.fit_prompt` with ``keep=0``)."""
    return fit_prompt([(p, t.strip()) for p, t in parts if t], max_words, max_tokens, count,
                      keep=0)


# -- the template writer ----------------------------------------------------------------------
def role_light(identity: VisualIdentity, role: str, palette: str, turn: int = 0) -> str:
    """The light of a section role: the palette's light ``ROLE_LIGHT[role] + turn`` steps
    from the identity's own (``turn``: how many times the role's framings came round)."""
    lights = LIGHTING.get(palette, (identity.lighting,))
    try:
        home = lights.index(identity.lighting)
    except ValueError:
        return identity.lighting
    return lights[(home + ROLE_LIGHT.get(role, 0) + turn) % len(lights)]


def section_override(section_prompts: dict[str, str], label: str) -> str:
    """The user's prompt for a section: by its exact label, then by its role."""
    if not section_prompts:
        return ""
    norm = {str(k).strip().lower(): v for k, v in section_prompts.items()}
    key = str(label).strip().lower()
    return norm.get(key) or norm.get(role_of(label)) or ""


def template_prompt(identity: VisualIdentity, label: str, variant: int, energy: float = 0.5, *,
                    palette: str = "vibrant", concept: str | None = None,
                    section_prompt: str = "", count: TokenCounter = estimate_clip_tokens) -> str:
    """The template prompt of the ``variant``-th keyframe of a section with ``label``."""
    role = role_of(label)
    action, framings = ROLES[role]
    framing = framings[variant % len(framings)]
    setting = "" if section_prompt else ROLE_SETTINGS.get(role, "")
    light = role_light(identity, role, palette, variant // len(framings))
    if concept:
        parts = [(0, concept), (1, section_prompt or action), (2, framing), (3, setting),
                 (4, identity.look), (5, light), (6, identity.tone), (7, identity.lens),
                 (8, intensity(energy))]
    else:
        parts = [(0, identity.look), (1, f"{identity.subject} {section_prompt or action}"),
                 (2, identity.world), (3, framing), (4, setting), (5, light),
                 (6, identity.tone), (7, identity.lens), (8, intensity(energy))]
    return fit_parts(parts, count)


class TemplateWriter:
    """Today's rules (see the module docs): deterministic, instant, no model."""

    name = "template"
    version = 1

    def write(self, request: WriterRequest) -> list[ShotText]:
        palette = request.config.palette.value
        offsets = family_offsets(request.shots)
        return [ShotText(template_prompt(
            request.identity, b.section, b.variant + offsets[b.index], b.energy,
            palette=palette, concept=request.concept,
            section_prompt=section_override(request.section_prompts, b.section),
            count=request.count_tokens)) for b in request.shots]


def family_offsets(briefs: Sequence[ShotBrief]) -> dict[int, int]:
    """Brief index -> where its section family starts in its role's framings: after the
    framings the earlier families of the same role (other repeat groups) used, so the
    second verse family does not repeat the first one's shots. Repeats of one family
    share one offset."""
    used: dict[tuple[str, int], int] = {}  # family -> how many variants it has
    for b in briefs:
        fam = (b.section, b.group)
        used[fam] = max(used.get(fam, 0), b.variant + 1)
    start: dict[tuple[str, int], int] = {}
    taken: dict[str, int] = {}
    for b in briefs:
        fam = (b.section, b.group)
        if fam not in start:
            start[fam] = taken.get(b.role, 0)
            taken[b.role] = start[fam] + used[fam]
    return {b.index: start[(b.section, b.group)] for b in briefs}


# -- running a writer ---------------------------------------------------------------------------
def get_writer(name: str) -> Any:
    """The prompt writer registered as ``name`` (an instance)."""
    from ..plugins import get_stage

    entry = get_stage("prompt_writer", name)
    return entry.factory()


def write_prompts(analysis: Analysis, config: RenderConfig, identity: VisualIdentity,
                  briefs: list[ShotBrief], negative: str, lyrics: Any = None
                  ) -> tuple[list[ShotText], dict[str, Any]]:
    """Fit the concept and section prompts, run the configured writer on ``briefs``;
    returns its answers and what goes into ``storyboard.meta``."""
    from ..errors import MusicVidError

    count, counted_by = token_counter(config)
    meta: dict[str, Any] = {"prompt_writer": {"name": config.prompt_writer},
                            "prompt_tokens": counted_by}
    concept = None
    if config.concept:
        fitted = fit_text(config.concept, CONCEPT_MAX_TOKENS, count)
        concept = fitted.text or None
        meta["concept"] = {"text": " ".join(config.concept.split()), "used": fitted.text,
                           "cut": fitted.cut, "tokens": fitted.tokens}
        if fitted.cut:
            log.warning("the concept is longer than %d CLIP tokens; left out: %r",
                        CONCEPT_MAX_TOKENS, fitted.cut)
    sections: dict[str, str] = {}
    for label, text in (config.section_prompts or {}).items():
        fitted = fit_text(text, SECTION_MAX_TOKENS, count)
        sections[str(label).strip().lower()] = fitted.text
        if fitted.cut:
            log.warning("the %s prompt is longer than %d CLIP tokens; left out: %r", label,
                        SECTION_MAX_TOKENS, fitted.cut)
            meta.setdefault("section_prompts_cut", {})[str(label)] = fitted.cut
    palette = config.palette.value
    offsets = family_offsets(briefs)
    drafts = [ShotBrief(**{**b.to_dict(), "shots": b.shots, "draft": template_prompt(
        identity, b.section, b.variant + offsets[b.index], b.energy, palette=palette,
        concept=concept, section_prompt=section_override(sections, b.section), count=count)})
        for b in briefs]
    request = WriterRequest(analysis, config, identity, drafts, negative, concept, sections,
                            lyrics, count)
    writer = get_writer(config.prompt_writer)
    texts = list(writer.write(request))
    if len(texts) != len(drafts) or not all(isinstance(t, ShotText) and t.prompt
                                            for t in texts):
        raise MusicVidError(f"the prompt writer {config.prompt_writer!r} returned "
                            f"{len(texts)} answers for {len(drafts)} shots (each needs a "
                            "ShotText with a prompt)", stage="plan", plugin=config.prompt_writer)
    meta["prompt_writer"].update(request.notes)
    return texts, meta
