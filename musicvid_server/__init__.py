"""musicvid's HTTP server: ``python -m musicvid_server`` (or ``musicvid serve``) on
http://localhost:8000. ``create_app(settings)`` builds the Starlette app.

Importing this package is light; Starlette loads with :func:`create_app`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .settings import ServerSettings

if TYPE_CHECKING:  # pragma: no cover
    from .app import create_app

__all__ = ["ServerSettings", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module 'musicvid_server' has no attribute {name!r}")
