"""Stage base classes: one per stage kind, with the defaults every stage shares.

A stage may implement its protocol (:mod:`musicvid.protocols`) from scratch; deriving from
the base class gives it ``preflight``, ``version``, ``cache_key_parts``, ``batch_size``,
``cacheable`` and typed options for free::

    from dataclasses import dataclass
    from musicvid.stages import MotionGeneratorBase, stage_option

    class Wobble(MotionGeneratorBase):
        name = "wobble"

        @dataclass(frozen=True)
        class Options:
            amount: float = stage_option(0.5, hint="a number, e.g. 0.5")

        def animate(self, keyframe, shot, storyboard, analysis, ctx):
            amount = self.options(ctx).amount  # from --option wobble_amount=0.8
            ...

``--option wobble_amount=0.8`` is parsed into ``Options``; an unknown key fails with the
valid ones, and the parsed options enter the stage's cache keys by construction.

The functions at the bottom (:func:`stage_version`, :func:`option_groups`...) read these
members from any stage, base class or not: the pipeline's one place for that.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ._options import config_fields, config_option, parse_stage_options, stage_option
from .errors import InvalidOptionError, PluginError
from .protocols import StageContext

__all__ = ["STAGE_BASES", "AnalyzerBase", "CompositorBase", "KeyframeGeneratorBase",
           "MotionGeneratorBase", "Stage", "TranscriberBase", "check_stage_class", "check_stage_object",
           "config_option", "option_groups", "stage_batch_size", "stage_cacheable", "stage_config",
           "stage_option", "stage_options_key", "stage_version", "validate_stage_options"]


class Stage:
    """What every stage shares. Subclass one of the kind bases below."""

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    version: ClassVar[int | str] = 1  # enters the cache keys: bump when results change

    @dataclass(frozen=True)
    class Options:
        """The stage's ``--option NAME_KEY=VALUE`` settings (none by default)."""

    # prefix -> Options class; None: ``{name: Options}``. A stage whose options come in
    # several groups (the compositor's ``audio_*`` and ``encoder_*``) lists them here.
    option_prefixes: ClassVar[Mapping[str, type] | None] = None

    @classmethod
    def option_groups(cls) -> dict[str, type]:
        if cls.option_prefixes is not None:
            return dict(cls.option_prefixes)
        return {cls.name: cls.Options}

    def options(self, ctx: StageContext, prefix: str | None = None) -> Any:
        """This render's options of group ``prefix`` (default: the stage's name), typed."""
        prefix = prefix or next(iter(self.option_groups()))
        return parse_stage_options(ctx.config.options, prefix, self.option_groups()[prefix],
                                   ctx.config)

    def preflight(self, ctx: StageContext) -> None:
        """Fail fast, before any work (missing extra, bad option). Default: parse the
        options."""
        stage_options_key(self, ctx)

    def cache_key_parts(self, ctx: StageContext) -> dict[str, Any]:
        """What besides the shot, the version and the options changes the result."""
        return {}


class AnalyzerBase(Stage):
    kind = "analyzer"


class KeyframeGeneratorBase(Stage):
    kind = "keyframes"
    batch_size: int = 1  # keyframes per generate() call
    uses_prompt: bool = True  # False: shots with the same key parts share one keyframe


class MotionGeneratorBase(Stage):
    kind = "motion"
    cacheable: bool = False  # True: clips are stored on disk and replayed


class CompositorBase(Stage):
    kind = "compositor"


class TranscriberBase(Stage):
    kind = "transcriber"


STAGE_BASES: dict[str, type[Stage]] = {
    "analyzer": AnalyzerBase, "keyframes": KeyframeGeneratorBase,
    "motion": MotionGeneratorBase, "compositor": CompositorBase,
    "transcriber": TranscriberBase,
}

# what a stage of each kind must have (the protocol's members)
REQUIRED: dict[str, tuple[str, ...]] = {
    "prompt_writer": ("write",),  # musicvid.planning.writers.PromptWriter
    "analyzer": ("analyze",),
    "keyframes": ("generate", "cache_key_parts"),
    "motion": ("animate", "cache_key_parts"),
    "compositor": ("compose",),
    "transcriber": ("transcribe", "cache_key_parts"),
}


# -- reading stage members, base class or not ------------------------------------------------
def stage_version(stage: Any) -> int | str:
    return getattr(stage, "version", 1)


def stage_batch_size(stage: Any) -> int:
    return max(1, int(getattr(stage, "batch_size", 1)))


def stage_cacheable(stage: Any) -> bool:
    return bool(getattr(stage, "cacheable", False))


def option_groups(stage: Any) -> dict[str, type]:
    groups = getattr(stage, "option_groups", None)
    return groups() if callable(groups) else {}


def stage_options_key(stage: Any, ctx: StageContext) -> dict[str, Any]:
    """The stage's parsed options, JSON-ready, by group (validates them)."""
    out: dict[str, Any] = {}
    for prefix, cls in option_groups(stage).items():
        parsed: Any = parse_stage_options(ctx.config.options, prefix, cls, ctx.config)
        keyed = {f.name: getattr(parsed, f.name) for f in dataclasses.fields(cls)
                 if f.metadata.get("key", True)}
        if keyed:
            out[prefix] = keyed
    return out


def stage_config(stage: Any, config: Any) -> tuple[Any, list[str]]:
    """``config`` as ``stage`` sees it: with the ``--option`` values of its
    :func:`~musicvid._options.config_option` fields applied (``sdxl_steps=30`` sets
    ``steps``; checked), and the names of the fields so set, which win over any change
    to the config (the time budget's)."""
    given: dict[str, Any] = {}
    for prefix, cls in option_groups(stage).items():
        parsed: Any = parse_stage_options(config.options, prefix, cls, config)
        for name, config_field in config_fields(cls).items():
            if config.options.get(f"{prefix}_{name}") is not None:
                given[config_field] = getattr(parsed, name)
    return (dataclasses.replace(config, **given) if given else config), sorted(given)


def validate_stage_options(options: Mapping[str, Any], stages: Mapping[str, Any]) -> None:
    """Every ``--option`` key must belong to a group of a selected stage."""
    valid: dict[str, list[str]] = {}
    for stage in stages.values():
        for prefix, cls in option_groups(stage).items():
            valid[prefix] = [f"{prefix}_{f.name}" for f in dataclasses.fields(cls)]
    every = sorted(k for keys in valid.values() for k in keys)
    for key in options:
        owner = next((p for p in sorted(valid, key=len, reverse=True)
                      if key.startswith(p + "_")), None)
        if owner is None:
            names = ", ".join(f"{k} ({getattr(s, 'name', '?')})" for k, s in stages.items())
            raise InvalidOptionError(
                "option", key, every,
                hint=None if every else f"the selected stages ({names}) take no options")
        if key not in valid[owner]:
            raise InvalidOptionError("option", key, valid[owner])


# -- checks when a plugin registers a stage ------------------------------------------------
def check_stage_class(kind: str, factory: Any, plugin: str) -> None:
    """A class registered as a stage must have its kind's members (a function factory
    is checked on the object it returns)."""
    if isinstance(factory, type):
        _check_members(kind, factory, plugin)
    elif not callable(factory):
        raise PluginError(f"plugin {plugin!r} registered {factory!r} as a {kind} stage: "
                          "not a class or a callable", plugin=plugin)


def check_stage_object(kind: str, stage: Any, plugin: str) -> None:
    _check_members(kind, stage, plugin)


def _check_members(kind: str, obj: Any, plugin: str) -> None:
    missing = [m for m in ("name", *REQUIRED[kind]) if not hasattr(obj, m)]
    if missing:
        base = STAGE_BASES.get(kind)
        see = (f"musicvid.stages.{base.__name__}" if base is not None
               else "musicvid.planning.writers.PromptWriter")
        raise PluginError(f"plugin {plugin!r}: its {kind} stage {obj!r} has no "
                          f"{', '.join(missing)} (see {see})", plugin=plugin)
    for m in REQUIRED[kind]:
        if not callable(getattr(obj, m)):
            raise PluginError(f"plugin {plugin!r}: {obj!r}.{m} is not callable", plugin=plugin)
