"""The plugin manager: entry points of group ``musicvid`` first, then the defaults.

The built-in stages live in :data:`DEFAULT_PLUGINS` and register through the same hooks
as any third-party plugin. ``MUSICVID_LOAD_PLUGINS`` limits which installed plugins load:
a comma-separated list of entry point names (empty: none); the entry points musicvid itself
ships (the bundled server's ``musicvid serve``) always load. ``MUSICVID_TRACE_HOOKS=1``
logs every hook call. A plugin registered later (``get_plugin_manager().register(...)``)
is seen by the next stage lookup.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError, UnknownStageError
from .stages import check_stage_class

__all__ = ["DEFAULT_PLUGINS", "STAGE_KINDS", "StageEntry", "get_plugin_manager",
           "get_stage", "list_stages", "reset_plugin_manager"]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "musicvid"

DEFAULT_PLUGINS: tuple[str, ...] = (
    "musicvid.defaults.librosa_analyzer",
    "musicvid.defaults.sdxl_keyframes",
    "musicvid.defaults.images_keyframes",
    "musicvid.defaults.t2i_keyframes",
    "musicvid.defaults.kenburns_motion",
    "musicvid.defaults.svd_motion",
    "musicvid.defaults.auto_motion",
    "musicvid.defaults.i2v_motion",
    "musicvid.defaults.pyav_compositor",
    "musicvid.defaults.prompt_writers",
    "musicvid.defaults.whisper_transcriber",
)

STAGE_KINDS = {
    "analyzer": "register_analyzers",
    "keyframes": "register_keyframe_generators",
    "motion": "register_motion_generators",
    "compositor": "register_compositors",
    "prompt_writer": "register_prompt_writers",
    "transcriber": "register_transcribers",
}


@dataclass(frozen=True)
class StageEntry:
    kind: str
    name: str
    factory: Callable[..., Any]
    plugin: str  # the plugin that registered it (module or entry point name)
    distribution: str | None = None  # the installed package it came from, if any


_pm: pluggy.PluginManager | None = None
_registry: dict[str, dict[str, StageEntry]] | None = None


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    allowed_env = os.environ.get("MUSICVID_LOAD_PLUGINS")
    allowed = None if allowed_env is None else {n.strip() for n in allowed_env.split(",") if n.strip()}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        bundled = dist is not None and dist.name == "musicvid"
        if allowed is not None and ep.name not in allowed and not bundled:
            continue
        if pm.get_plugin(ep.name) is not None:
            continue
        try:
            plugin = ep.load()
        except Exception:  # a broken plugin must not take musicvid down
            log.exception("could not load musicvid plugin %r (%s)", ep.name, ep.value)
            continue
        pm.register(plugin, name=ep.name)
        _dist_names[ep.name] = dist.name if dist is not None else None


_dist_names: dict[str, str | None] = {}


class _PluginManager(pluggy.PluginManager):
    """Forgets the stage registry whenever plugins change, so a plugin registered after
    the first lookup is seen by the next one."""

    def register(self, plugin: object, name: str | None = None) -> str | None:
        global _registry
        _registry = None
        return super().register(plugin, name)

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        global _registry
        _registry = None
        return super().unregister(plugin, name)


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager (built on first use)."""
    global _pm
    if _pm is None:
        pm = _PluginManager("musicvid")
        pm.add_hookspecs(hookspecs)
        _load_entry_points(pm)
        for modname in DEFAULT_PLUGINS:
            if pm.get_plugin(modname) is None:
                pm.register(importlib.import_module(modname), name=modname)
        if os.environ.get("MUSICVID_TRACE_HOOKS"):
            pm.trace.root.setwriter(lambda msg: log.info("hook: %s", msg.rstrip()))
            pm.enable_tracing()
        _pm = pm
    return _pm


def reset_plugin_manager() -> None:
    """Forget the plugin manager, so the next use reloads plugins (tests use this)."""
    global _pm, _registry
    _pm = None
    _registry = None
    _dist_names.clear()


def _collect() -> dict[str, dict[str, StageEntry]]:
    global _registry
    if _registry is not None:
        return _registry
    pm = get_plugin_manager()
    registry: dict[str, dict[str, StageEntry]] = {k: {} for k in STAGE_KINDS}
    plugins = pm.get_plugins()
    for kind, hookname in STAGE_KINDS.items():
        # one plugin at a time (so we know who registered what), defaults first so that a
        # third-party stage with the same name replaces the default
        impls = getattr(pm.hook, hookname).get_hookimpls()
        ordered = sorted(impls, key=lambda i: pm.get_name(i.plugin) not in DEFAULT_PLUGINS)
        for impl in ordered:
            plugin_name = pm.get_name(impl.plugin) or repr(impl.plugin)

            def register(factory: Callable[..., Any], name: str | None = None, *,
                         _kind: str = kind, _plugin: str = plugin_name) -> None:
                stage_name = name or getattr(factory, "name", None)
                if not stage_name:
                    raise PluginError(f"plugin {_plugin!r} registered {factory!r} with no "
                                      "name; pass register(factory, name=...)", plugin=_plugin)
                check_stage_class(_kind, factory, _plugin)
                registry[_kind][stage_name] = StageEntry(
                    _kind, stage_name, factory, _plugin, _dist_names.get(_plugin))

            others = [p for p in plugins if p is not impl.plugin]
            pm.subset_hook_caller(hookname, remove_plugins=others)(register=register)
    _registry = registry
    return registry


def list_stages(kind: str | None = None) -> list[StageEntry]:
    """Every registered stage (of one kind, or all), sorted by kind then name."""
    reg = _collect()
    kinds = [kind] if kind else list(STAGE_KINDS)
    return [reg[k][n] for k in kinds for n in sorted(reg[k])]


def get_stage(kind: str, name: str) -> StageEntry:
    """The stage of ``kind`` registered as ``name``, or :class:`UnknownStageError`."""
    reg = _collect()
    if kind not in reg:
        raise UnknownStageError("stage kind", kind, reg)
    try:
        return reg[kind][name]
    except KeyError:
        raise UnknownStageError(kind, name, reg[kind]) from None
