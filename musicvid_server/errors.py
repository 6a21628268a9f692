"""HTTP errors as JSON: ``{"error": code, "message": ..., ...details}``."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

__all__ = ["ApiError", "error_response"]


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


def error_response(err: ApiError) -> JSONResponse:
    """The JSON response of ``err``, with its status and headers."""
    return JSONResponse(err.body(), status_code=err.status, headers=err.headers)
