"""Per-user folders: the stage cache and the job server's data directory.

Each honours its environment variable first, then the platform's convention:
``%LOCALAPPDATA%\\musicvid\\...`` on Windows, the XDG folders elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_cache_dir", "default_data_dir", "user_dir"]


def user_dir(env: str, windows: str, xdg_env: str, xdg_default: Path, posix: str) -> Path:
    """A per-user folder: ``$env`` if set, else ``%LOCALAPPDATA%/musicvid/<windows>`` on
    Windows, else ``$xdg_env`` (or ``xdg_default``) ``/<posix>``."""
    value = os.environ.get(env)
    if value:
        return Path(value).expanduser()
    if os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "musicvid" / windows
    xdg = os.environ.get(xdg_env)
    return (Path(xdg) if xdg else xdg_default) / posix


def default_cache_dir() -> Path:
    """``MUSICVID_CACHE_DIR``, else the platform's user cache folder."""
    return user_dir("MUSICVID_CACHE_DIR", "Cache", "XDG_CACHE_HOME", Path.home() / ".cache",
                    "musicvid")


def default_data_dir() -> Path:
    """``MUSICVID_DATA_DIR``, else the platform's user data folder + ``musicvid-server``."""
    return user_dir("MUSICVID_DATA_DIR", "Server", "XDG_DATA_HOME",
                    Path.home() / ".local" / "share", "musicvid-server")
