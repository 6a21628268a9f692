"""Render options: :class:`RenderConfig`, whose fields are the option schema (each declared
once, with :func:`musicvid.options.option`), and its checks.

The vocabularies (``Genre``, ``Style``, ``Palette``, ``Profile``) live in
:mod:`musicvid._vocab`, the value parsers (``parse_fps``...) in :mod:`musicvid._parsers`,
the profiles, default models and few-step presets in :mod:`musicvid._profiles`; all are
importable from here.
"""

from __future__ import annotations

import dataclasses
import enum
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from ._options import parse_bool
from ._parsers import caption_mode as _caption_mode
from ._parsers import parse_fps, parse_section_prompts, reframe, section_prompt_value
from ._profiles import (
    DEFAULT_IP_ADAPTER,
    DEFAULT_SDXL_MODEL,
    DEFAULT_SVD_MODEL,
    DEFAULT_TINY_VAE,
    DEFAULT_VIDEO_MODEL,
    FEW_STEP_PRESETS,
    base_values,
    implied_values,
)
from ._vocab import (
    CAPTION_MODES,
    EXECUTORS,
    IMAGE_ORDERS,
    OVERLAP_MODES,
    TRANSITIONS,
    Genre,
    Palette,
    Profile,
    Style,
)
from .errors import InvalidOptionError
from .options import integer, option
from .paths import default_cache_dir

__all__ = ["DEFAULT_IP_ADAPTER", "DEFAULT_SDXL_MODEL", "DEFAULT_SVD_MODEL", "DEFAULT_TINY_VAE",
           "DEFAULT_VIDEO_MODEL", "FEW_STEP_PRESETS", "Genre", "Palette", "Profile",
           "RenderConfig", "Style", "default_cache_dir", "parse_fps", "parse_section_prompts",
           "section_prompt_value"]

MAX_CONCEPT_CHARS = 500


@dataclass
class RenderConfig:
    """Everything that decides what a render produces.

    Build one with :meth:`RenderConfig.create`, which applies the profile (``cpu`` by
    default, or from ``SOTA_CPU_ONLY``) and environment variables, then your overrides.
    """

    # -- what the video is (each server job sets these) ------------------------------------
    genre: Genre = option(Genre.POP, scope="job", choices=Genre.values,
                          help="music genre: picks the visual world of the prompts")
    style: Style = option(Style.CINEMATIC, scope="job", choices=Style.values,
                          help="visual style of the prompts")
    palette: Palette = option(Palette.VIBRANT, scope="job", choices=Palette.values,
                              help="colour palette of the prompts and the grade")
    seed: int = option(0, scope="job", type=integer, hint="an integer from 0 to 4294967295",
                       help="same seed + song + options = same video")
    # -- how this machine renders -----------------------------------------------------------
    profile: Profile = option(Profile.CPU, choices=Profile.values,
                              help="cpu (default; SOTA_CPU_ONLY=1), cpu-fast (SDXL-Lightning "
                                   "4-step LoRA + TAESDXL, downloaded on first use) or gpu "
                                   "(SOTA_CPU_ONLY=0)")
    fps: Fraction = option(Fraction(30),
                           help="frames per second: 24, 25, 30, 29.97, 30000/1001")
    width: int = option(1280, type=integer, help="output width in pixels")
    height: int = option(720, type=integer, help="output height in pixels")
    keyframe_width: int = option(768, type=integer, help="keyframe width in pixels")
    keyframe_height: int = option(432, type=integer, help="keyframe height in pixels")
    steps: int = option(20, type=integer, help="diffusion steps per keyframe")
    guidance_scale: float = option(6.0, type=float, cli=False,
                                   help="classifier-free guidance of the keyframe model")
    device: str = option("cpu", cli=False, help="torch device of the models")
    dtype: str = option("float32", cli=False, help="torch dtype of the models")
    sdxl_model: str = option(DEFAULT_SDXL_MODEL, env="MUSICVID_SDXL_MODEL",
                             help="SDXL hub id or local directory")
    svd_model: str = option(DEFAULT_SVD_MODEL, env="MUSICVID_SVD_MODEL",
                            help="SVD hub id or local directory")
    analyzer: str = option("librosa", help="analyzer stage name")
    keyframes: str = option("sdxl", help="keyframe stage name (default sdxl)")
    motion: str = option("kenburns", help="motion stage name (default kenburns)")
    compositor: str = option("pyav", help="compositor stage name")
    cache_dir: Path | None = option(None, type=Path,
                                    help="stage cache (env MUSICVID_CACHE_DIR)")
    use_cache: bool = option(True, cli=False, help="reuse and keep stage results "
                                                    "(--no-cache turns it off)")
    # encoding: the compositor checks codec/pix_fmt against what this machine can open
    codec: str = option("libx264", help="video encoder: libx264 (default), libx265, "
                                        "h264_nvenc, hevc_nvenc")
    pix_fmt: str = option("yuv420p", help="pixel format (default yuv420p)")
    aspect: str | None = option(None, help="16:9 (default), 9:16, 1:1...: reframes the "
                                           "video, no letterbox")
    crf: int = option(20, type=integer, help="quality, 0-51 (default 20)")
    preset: str = option("veryfast", help="encoder speed preset (default veryfast)")
    # keyframe generation (SDXL)
    few_step: str | None = option(None, choices=tuple(FEW_STEP_PRESETS),
                                  help="few-step sampling for SDXL-Turbo / SDXL-Lightning / "
                                       "LCM(-LoRA) models")
    lora: str | None = option(None, help="a LoRA (hub id, file or folder) for SDXL")
    tiny_vae: str | None = option(None, env="MUSICVID_TINY_VAE",
                                  help="decode with an AutoencoderTiny, e.g. madebyollin/taesdxl")
    refiner_model: str | None = option(None, env="MUSICVID_REFINER_MODEL",
                                       help="an SDXL refiner hub id or folder")
    refiner_fraction: float = option(0.2, type=float, cli=False,
                                     help="share of the steps the refiner runs")
    cpu_offload: bool = option(False, flag_only=True,
                               help="model CPU offload (GPUs with little memory)")
    compile: bool = option(False, flag_only=True, help="torch.compile the UNet (GPU)")
    batch_size: int = option(1, type=integer, help="keyframes per diffusion call")
    images: Path | None = option(None, type=Path,
                                 help="folder of your pictures (with --keyframes images)")
    image_order: str = option("order", choices=IMAGE_ORDERS,
                              help="assign pictures in name order or by brightness to fit "
                                   "the energy")
    init_images: Path | None = option(None, type=Path,
                                      help="restyle these pictures with SDXL img2img")
    strength: float = option(0.5, type=float, help="img2img strength, 0..1 (default 0.5)")
    overlap: str = option("auto", choices=OVERLAP_MODES,
                          help="make keyframes for later shots while earlier ones are "
                               "encoded: auto (for pictures, or keyframes on a GPU with Ken "
                               "Burns motion), on, off")
    time_budget: float | None = option(None, type=float, metavar="MINUTES",
                                       help="fit keyframe count, steps and size to this many "
                                            "minutes")
    # image-to-video and text-to-image model families (docs/models.md)
    video_model: str = option(DEFAULT_VIDEO_MODEL, env="MUSICVID_VIDEO_MODEL", metavar="ID|DIR",
                              help="image-to-video model for --motion i2v (Wan, LTX-Video, "
                                   "CogVideoX, HunyuanVideo, SVD): hub id or local directory")
    image_model: str | None = option(None, env="MUSICVID_IMAGE_MODEL", metavar="ID|DIR",
                                     help="text-to-image model for keyframes (FLUX, SD3/3.5, "
                                          "SDXL and its few-step variants): hub id or local "
                                          "directory; selects --keyframes t2i")
    transition: str = option("cut", choices=TRANSITIONS,
                             help="morph: at section changes, i2v motion generates the passage "
                                  "into the next shot's keyframe (families with first-last-"
                                  "frame conditioning); cut (default)")
    # where the work runs
    executor: str = option("local", env="MUSICVID_EXECUTOR", cli=False,
                           help="where stages run: local or ray")
    ray_address: str | None = option(None, env="MUSICVID_RAY_ADDRESS", cli=False,
                                     help="a Ray cluster to join (sets the ray executor); "
                                          "none: start or join a local Ray")
    ray_workers: int | None = option(None, cli=False,
                                     help="Ray actors; none: one per GPU in the cluster")
    ray_gpus_per_worker: float = option(1.0, cli=False, help="GPUs each Ray actor holds")
    options: dict[str, Any] = option(cli=False, default_factory=dict,
                                     help="stage options, STAGE_KEY -> value (--option)")
    # storyboard (docs/storyboard.md)
    max_keyframes: int | None = option(None, type=integer,
                                       help="distinct keyframes at most; further shots reuse "
                                            "their section's")
    pulse: float = option(0.0, type=float, metavar="S",
                          help="pulse on downbeats: strength 0..1, scaled by the energy "
                               "(default 0)")
    crossfade_frames: int | None = option(None, type=integer,
                                          help="crossfade at section changes, in frames "
                                               "(0: hard cut)")
    grade: float = option(1.0, type=float,
                          help="palette colour grade strength on keyframes, 0 (off) to 1 "
                               "(default)")
    # the user's direction (docs/direction.md)
    concept: str | None = option(None, scope="job", metavar="TEXT",
                                 help="your idea (subject, world, story): in every shot's "
                                      "prompt")
    section_prompts: dict[str, str] = option(
        scope="job", default_factory=dict, flag="--section-prompt", action="append",
        type=section_prompt_value, metavar='SECTION="TEXT"',
        hint='SECTION="text" (repeatable), or a JSON object {"chorus": "..."}',
        help='what happens in a section, e.g. chorus="dancing in the rain" (by label or '
             'role; repeatable)')
    reference: list[Path] = option(scope="job", default_factory=list, action="append",
                                   type=Path, metavar="IMG", form=False,
                                   help="a picture of the subject to keep recognisable "
                                        "(IP-Adapter; repeatable)")
    ip_adapter_scale: float = option(0.6, scope="job", type=float,
                                     help="how strongly the references steer, 0..1 "
                                          "(default 0.6)")
    ip_adapter_model: str = option(DEFAULT_IP_ADAPTER, env="MUSICVID_IP_ADAPTER",
                                   help="IP-Adapter hub id or folder (default h94/IP-Adapter)")
    prompt_writer: str = option("template", env="MUSICVID_PROMPT_WRITER",
                                help="template (default), openai-compatible, or a plugin's "
                                     "prompt writer")
    llm_url: str | None = option(None, env="MUSICVID_LLM_URL",
                                 help="chat-completions base URL for openai-compatible, e.g. "
                                      "http://localhost:11434/v1")
    llm_model: str | None = option(None, env="MUSICVID_LLM_MODEL",
                                   help="the model the openai-compatible writer asks")
    llm_api_key: str | None = option(None, env="MUSICVID_LLM_API_KEY", cli=False, repr=False,
                                     help="its API key, sent as a bearer token (never "
                                          "written to plans or job records)")
    llm_timeout: float = option(30.0, type=float,
                                help="seconds per request to the prompt writer's server "
                                     "(default 30; one retry)")
    # lyrics and captions (docs/lyrics.md)
    lyrics: Path | None = option(None, type=Path, scope="job", metavar="FILE", form=False,
                                 help="the song's words: .lrc (word times too), .srt, .vtt "
                                      "or plain text (timed by transcribing the song)")
    transcribe: bool = option(False, scope="job", flag_only=True, type=parse_bool,
                              hint="1 or 0", help="transcribe the words from the audio "
                                                  "(Whisper) when no timed lyrics are given")
    captions: str = option("soft", scope="job", choices=CAPTION_MODES,
                           help="lyric captions: soft (default: .srt/.vtt and an MP4 "
                                "subtitle track), burn (drawn into the picture), both, none")
    transcriber: str = option("whisper", help="transcriber stage name (default whisper)")
    whisper_model: str | None = option(None, env="MUSICVID_WHISPER_MODEL",
                                       help="Whisper hub id or folder (default: "
                                            "openai/whisper-base; gpu profile: "
                                            "openai/whisper-large-v3-turbo)")
    caption_font: Path | None = option(None, type=Path, metavar="TTF",
                                       help="font of burned-in captions (default: the "
                                            "bundled DejaVu Sans Bold)")

    def __post_init__(self) -> None:
        self.genre = Genre.parse(self.genre)
        self.style = Style.parse(self.style)
        self.palette = Palette.parse(self.palette)
        self.profile = Profile.parse(self.profile)
        self.fps = parse_fps(self.fps)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            try:
                self.seed = int(str(self.seed), 10)
            except ValueError:
                raise InvalidOptionError("seed", self.seed, hint="an integer") from None
        if not 0 <= self.seed < 2**32:
            raise InvalidOptionError("seed", self.seed, hint="an integer from 0 to 4294967295")
        for name in ("width", "height", "keyframe_width", "keyframe_height"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 16 or v > 8192 or v % 2:
                raise InvalidOptionError(name, v, hint="an even number of pixels from 16 to 8192")
        if not isinstance(self.steps, int) or not 1 <= self.steps <= 200:
            raise InvalidOptionError("steps", self.steps, hint="an integer from 1 to 200")
        if self.aspect is not None:  # the cover crop does the rest: no letterbox
            (self.aspect, self.width, self.height, self.keyframe_width,
             self.keyframe_height) = reframe(str(self.aspect), self.width, self.height,
                                             self.keyframe_width, self.keyframe_height)
        if self.few_step is not None and self.few_step not in FEW_STEP_PRESETS:
            raise InvalidOptionError("few-step", self.few_step, list(FEW_STEP_PRESETS))
        if not 0.0 < float(self.strength) <= 1.0:
            raise InvalidOptionError("strength", self.strength, hint="a number in (0, 1]")
        if not 0.0 < float(self.refiner_fraction) < 1.0:
            raise InvalidOptionError("refiner-fraction", self.refiner_fraction,
                                     hint="a number in (0, 1)")
        if not isinstance(self.batch_size, int) or not 1 <= self.batch_size <= 64:
            raise InvalidOptionError("batch-size", self.batch_size, hint="an integer from 1 to 64")
        if self.time_budget is not None and not float(self.time_budget) > 0:
            raise InvalidOptionError("time-budget", self.time_budget,
                                     hint="a positive number of minutes")
        for name, allowed in (("overlap", OVERLAP_MODES), ("image_order", IMAGE_ORDERS),
                              ("transition", TRANSITIONS), ("executor", EXECUTORS)):
            if getattr(self, name) not in allowed:
                raise InvalidOptionError(name.replace("_", "-"), getattr(self, name),
                                         list(allowed))
        for name in ("cache_dir", "images", "init_images"):
            v = getattr(self, name)
            if v is not None:
                setattr(self, name, Path(v))
        self._check_storyboard_options()
        self._check_direction_options()
        self._check_lyrics_options()

    def _check_direction_options(self) -> None:
        if self.concept is not None:
            if not isinstance(self.concept, str):
                raise InvalidOptionError("concept", self.concept, hint="text")
            self.concept = " ".join(self.concept.split()) or None
            if self.concept and len(self.concept) > MAX_CONCEPT_CHARS:
                raise InvalidOptionError("concept", self.concept[:40] + "...",
                                         hint=f"at most {MAX_CONCEPT_CHARS} characters (the "
                                              "prompts keep about the first 40 words)")
        prompts = self.section_prompts or {}
        if isinstance(prompts, (list, tuple)):
            prompts = parse_section_prompts(prompts)
        if not isinstance(prompts, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in prompts.items()):
            raise InvalidOptionError("section-prompt", prompts,
                                     hint='SECTION="text", e.g. chorus="dancing in the rain"')
        self.section_prompts = {k.strip().lower(): " ".join(v.split())
                                for k, v in prompts.items() if k.strip() and v.strip()}
        refs: Any = self.reference
        if refs is None:
            refs = []
        elif isinstance(refs, (str, os.PathLike)):
            refs = [refs]
        self.reference = [Path(r) for r in refs]
        scale = self.ip_adapter_scale
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 <= scale <= 1:
            raise InvalidOptionError("ip-adapter-scale", scale, hint="a number from 0 to 1")
        self.ip_adapter_scale = float(scale)
        t = self.llm_timeout
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t <= 600:
            raise InvalidOptionError("llm-timeout", t, hint="seconds, more than 0, at most 600")
        self.llm_timeout = float(t)
        if not isinstance(self.prompt_writer, str) or not self.prompt_writer.strip():
            raise InvalidOptionError("prompt-writer", self.prompt_writer,
                                     ["template", "openai-compatible"])

    def _check_lyrics_options(self) -> None:
        self.captions = _caption_mode(self.captions)
        for name in ("lyrics", "caption_font"):
            v = getattr(self, name)
            if v is not None:
                setattr(self, name, Path(v))
        if not isinstance(self.transcribe, bool):
            raise InvalidOptionError("transcribe", self.transcribe, hint="true or false")

    def _check_storyboard_options(self) -> None:
        def whole(name: str, v: Any, low: int) -> None:
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < low):
                raise InvalidOptionError(name, v, hint=f"an integer of at least {low}, or none")

        def unit(name: str, v: Any) -> float:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                raise InvalidOptionError(name, v, hint="a number from 0 to 1")
            return float(v)

        whole("max_keyframes", self.max_keyframes, 1)
        whole("crossfade_frames", self.crossfade_frames, 0)
        self.pulse = unit("pulse", self.pulse)
        self.grade = unit("grade", self.grade)

    @classmethod
    def create(cls, profile: str | Profile | None = None, **overrides: Any) -> RenderConfig:
        """A config for ``profile`` with environment defaults, then ``overrides``.

        Profile: the argument, else ``SOTA_CPU_ONLY`` (``1`` -> cpu, ``0`` -> gpu), else
        cpu. ``MUSICVID_SDXL_MODEL`` / ``MUSICVID_SVD_MODEL`` choose the models and
        ``MUSICVID_CACHE_DIR`` the cache. ``None`` overrides are ignored.
        """
        values = base_values(profile)
        known = {f.name for f in dataclasses.fields(cls)}
        for key in overrides:
            if key not in known:
                raise InvalidOptionError("option", key, sorted(known))
        given = {k: v for k, v in overrides.items() if v is not None}
        implied_values(values, given)
        values.update(given)
        return cls(**values)

    def replace(self, **changes: Any) -> RenderConfig:
        return dataclasses.replace(self, **changes)

    def cache_root(self) -> Path:
        return self.cache_dir if self.cache_dir is not None else default_cache_dir()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, enum.Enum):
                v = v.value
            elif isinstance(v, Fraction):
                v = str(v)
            elif isinstance(v, Path):
                v = str(v)
            elif isinstance(v, list):
                v = [str(x) if isinstance(x, Path) else x for x in v]
            elif isinstance(v, dict):
                v = dict(v)
            if f.name == "llm_api_key":
                v = None  # a secret: never written to job records or plans
            out[f.name] = v
        return out
