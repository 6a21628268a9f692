"""Plugin hooks. Each ``register_*`` hook receives a ``register`` callback.

``register(factory, name=None)`` adds a stage: ``factory`` is a class or a callable that
returns a stage object (see :mod:`musicvid.protocols`); ``name`` defaults to the
factory's ``name`` attribute. Hooks are called with keyword arguments, so an
implementation may accept fewer arguments than its spec.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    from .config import RenderConfig
    from .types import Analysis, Storyboard

hookspec = pluggy.HookspecMarker("musicvid")
hookimpl = pluggy.HookimplMarker("musicvid")

Register = Callable[..., None]


@hookspec
def register_analyzers(register: Register) -> None:
    """Register Analyzer stages: ``register(factory, name=None)``."""


@hookspec
def register_keyframe_generators(register: Register) -> None:
    """Register KeyframeGenerator stages: ``register(factory, name=None)``."""


@hookspec
def register_motion_generators(register: Register) -> None:
    """Register MotionGenerator stages: ``register(factory, name=None)``."""


@hookspec
def register_compositors(register: Register) -> None:
    """Register Compositor stages: ``register(factory, name=None)``."""


@hookspec
def register_prompt_writers(register: Register) -> None:
    """Register prompt writers (see :mod:`musicvid.planning.writers`):
    ``register(factory, name=None)``; a writer's ``write(request)`` returns one
    ``ShotText`` per ``request.shots``."""


@hookspec
def register_transcribers(register: Register) -> None:
    """Register Transcriber stages (audio -> timed words): ``register(factory, name=None)``."""


@hookspec
def adjust_storyboard(storyboard: Storyboard, analysis: Analysis, config: RenderConfig) -> Any:
    """Rewrite the storyboard before rendering: change it in place, or return a new one.

    :param storyboard: the planned shots (prompts, seeds, motion).
    :param analysis: what the analyzer heard.
    :param config: the render options.
    """


@hookspec
def register_commands(subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]
                      ) -> None:
    """Add subcommands to ``musicvid`` (the bundled server adds ``serve`` this way).

    :param subparsers: ``musicvid``'s subcommands: ``subparsers.add_parser(name, ...)``;
        set ``func`` with ``set_defaults(func=...)``: it gets the parsed arguments and
        returns the exit status.
    :param parents: pass as ``parents=`` so the subcommand takes the common options (-v).
    """
