"""The loaded-model caches of the model stages: an LRU of pipelines per loader, keyed by
the load options (model, device, dtype, offload...), that evicts before it loads.

Each loader module (``i2v_models``, ``sdxl_loading``, ``svd_motion``, ``t2i_keyframes``)
keeps its own ``_PIPELINES`` (an ``OrderedDict``) and ``_LOCK`` and loads through
:func:`cached_load` (tests swap a module's ``_PIPELINES`` and ``MAX_LOADED``, so the
loaders pass them in at each call): a hit is moved to the end; a miss first drops the
least recently used pipelines until there is room, frees their memory, and only then
loads, so two big pipelines are never resident at once. :func:`release` empties other
modules' caches (the keyframe models before a video model, and the other way round).
"""

from __future__ import annotations

import gc
import importlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Any

__all__ = ["MAX_LOADED", "cached_load", "derived_pipeline", "free_memory", "place", "release"]

#: pipelines one loader keeps at most (``MUSICVID_MAX_LOADED_PIPELINES``)
MAX_LOADED = int(os.environ.get("MUSICVID_MAX_LOADED_PIPELINES", "1"))


def free_memory(torch: Any) -> None:
    """Collect what was dropped and hand the GPU's cached blocks back."""
    gc.collect()
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def cached_load(cache: OrderedDict[Any, Any], lock: threading.Lock, key: Hashable,
                load: Callable[[], Any], *, most: int, torch: Any = None) -> Any:
    """The pipeline cached under ``key``, else ``load()``'s, cached (at most ``most``).

    The least recently used pipelines are dropped (and their memory freed) before
    ``load`` runs; the lock is held throughout, so two threads never load one model twice.
    """
    with lock:
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
        evicted = False
        while cache and len(cache) >= most:
            cache.popitem(last=False)
            evicted = True
        if evicted:
            free_memory(torch)
        pipe = load()
        cache[key] = pipe
        return pipe


def release(modnames: Iterable[str], torch: Any) -> list[str]:
    """Empty the pipeline caches (``_PIPELINES`` under ``_LOCK``) of the modules named,
    then free the memory; returns the short names of those that held a pipeline."""
    released = []
    for modname in modnames:
        try:
            mod = importlib.import_module(modname)
        except ImportError:  # pragma: no cover - a module of this package
            continue
        loaded = getattr(mod, "_PIPELINES", None)
        if loaded:
            released.append(modname.rsplit(".", 1)[-1])
            with getattr(mod, "_LOCK", threading.Lock()):
                loaded.clear()
    free_memory(torch)
    return released


def place(pipe: Any, device: str, offload: str = "none") -> None:
    """Put a loaded pipeline on ``device``, or offload it: ``model`` (whole models move to
    the GPU in turn) or ``sequential`` (layer by layer, the least memory)."""
    if offload == "model":
        pipe.enable_model_cpu_offload()
    elif offload == "sequential":
        pipe.enable_sequential_cpu_offload()
    else:
        pipe.to(device)


def derived_pipeline(pipe: Any, attr: str, class_name: str, stage: str, plugin: str) -> Any:
    """The diffusers pipeline ``class_name`` built on ``pipe``'s components (no second
    copy of the weights), made once and kept on ``pipe`` as ``attr``."""
    cached = getattr(pipe, attr, None)
    if cached is None:
        from .._torch import require_diffusers

        diffusers = require_diffusers(stage, plugin)
        cached = getattr(diffusers, class_name)(**pipe.components)
        cached.set_progress_bar_config(disable=True)
        setattr(pipe, attr, cached)
    return cached
