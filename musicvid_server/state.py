"""What the routes share: the server's settings, job store and worker, and the status
JSON of a job as every route that answers with one writes it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio
from starlette.requests import Request

from .settings import ServerSettings
from .store import JobStore
from .tokens import signed_urls
from .worker import Worker

__all__ = ["ServerState", "server_state", "status_json"]


@dataclass
class ServerState:
    settings: ServerSettings
    store: JobStore
    worker: Worker
    stopping: anyio.Event
    uploads: int = 0  # requests receiving an upload right now


def server_state(request: Request) -> ServerState:
    """The state the app's lifespan made (see :func:`musicvid_server.app.create_app`)."""
    return request.app.state.server  # type: ignore[no-any-return]


def status_json(state: ServerState, job: Any, position: Any = ...) -> dict[str, Any]:
    """The status JSON of ``job``, with its ``events_url`` (signed links with a key)."""
    if position is ...:
        position = state.store.queue_position(job)
    data: dict[str, Any] = job.to_api(position)
    signed_urls(state.settings.api_key, state.settings.signed_url_ttl_s, job.id, data)
    return data
