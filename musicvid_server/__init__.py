"""musicvid's HTTP server: ``python -m musicvid_server`` on http://localhost:8000."""

from .app import create_app

__all__ = ["create_app"]
