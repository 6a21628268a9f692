"""HTTP errors as JSON: ``{"error": code, "message": ..., ...details}``."""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError"]


class ApiError(Exception):
    """An error response. ``details`` (``field``, ``valid``, ``missing``...) go into the
    body next to ``error`` and ``message``."""

    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None, **details: Any):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.details = details

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, **self.details}
