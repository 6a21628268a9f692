"""Guarded imports of the optional model stack (torch, diffusers)."""

from __future__ import annotations

import re
from typing import Any

from .errors import MissingDependencyError

INSTALL_HINT = (
    "install the model extra: pip install 'torch==2.13.0' 'musicvid[models]' "
    "(for a CUDA GPU, install the torch build for your CUDA version first: "
    "https://pytorch.org/get-started/locally/)"
)


def require_torch(stage: str | None = None, plugin: str | None = None) -> Any:
    """Import torch or raise :class:`MissingDependencyError` saying how to install it."""
    try:
        import torch
    except ImportError:
        raise MissingDependencyError(
            f"generating images needs PyTorch, which is not installed; {INSTALL_HINT}",
            stage=stage, plugin=plugin) from None
    return torch


def require_diffusers(stage: str | None = None, plugin: str | None = None) -> Any:
    require_torch(stage, plugin)
    try:
        import diffusers
    except ImportError:
        raise MissingDependencyError(
            f"generating images needs diffusers and transformers; {INSTALL_HINT}",
            stage=stage, plugin=plugin) from None
    return diffusers


def is_out_of_memory(torch: Any, exc: BaseException) -> bool:
    """Whether ``exc`` is the GPU (or another device) running out of memory."""
    oom = getattr(torch.cuda, "OutOfMemoryError", None) or getattr(torch, "OutOfMemoryError", None)
    return (oom is not None and isinstance(exc, oom)) or "out of memory" in str(exc).lower()


def resolve_device(requested: str) -> str:
    """``cuda`` when asked for and present (else ``mps``/``cpu``), otherwise ``requested``."""
    torch = require_torch()
    if requested.startswith("cuda") and not torch.cuda.is_available():
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    return requested


def torch_dtype(name: str, device: str) -> Any:
    torch = require_torch()
    if device == "cpu" and name == "float16":
        return torch.float32  # fp16 matmuls are not supported/fast on CPU
    return {"float32": torch.float32, "float16": torch.float16,
            "bfloat16": torch.bfloat16}[name]


#: the first diffusers release whose ``from_pretrained`` takes ``dtype=`` (and deprecates
#: ``torch_dtype=``); older releases ignore ``dtype=`` with a warning and load float32
DTYPE_KEYWORD_SINCE = (0, 40)


def dtype_kwargs(dtype: Any, diffusers: Any = None) -> dict[str, Any]:
    """``{"dtype": dtype}`` for diffusers 0.40 and later, ``{"torch_dtype": dtype}`` before:
    the keyword the installed release's ``from_pretrained`` reads."""
    if diffusers is None:
        diffusers = require_diffusers()
    m = re.match(r"(\d+)\.(\d+)", str(getattr(diffusers, "__version__", "")))
    if m is None:  # an unversioned build is a development one: the newest keyword
        return {"dtype": dtype}
    new = (int(m.group(1)), int(m.group(2))) >= DTYPE_KEYWORD_SINCE
    return {"dtype" if new else "torch_dtype": dtype}
