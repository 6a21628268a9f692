"""Helpers for the server tests: a keyframe stage the test holds at a gate, a real
uvicorn server on a free port in a thread, and the server's page opened in a browser.
The fixtures that register these stages and launch the browser are in ``conftest.py``."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from musicvid import MusicVidError, hookimpl, testing
from musicvid.testing import SolidKeyframes

SMALL = dict(testing.SMALL, analyzer="fake")
FINAL = ("succeeded", "failed", "canceled")


class GatedKeyframes(SolidKeyframes):
    """Solid keyframes that wait for ``gate`` (checking cancellation while they wait)."""

    name = "gated"
    batch_size = 1
    gate = threading.Event()
    entered = 0
    running_now = 0
    max_running = 0
    _lock = threading.Lock()

    @classmethod
    def reset(cls) -> None:
        cls.gate = threading.Event()
        cls.entered = cls.running_now = cls.max_running = 0

    def generate(self, shots: Any, ctx: Any) -> list[Any]:
        cls = type(self)
        with cls._lock:
            cls.entered += 1
            cls.running_now += 1
            cls.max_running = max(cls.max_running, cls.running_now)
        try:
            while not cls.gate.wait(0.01):
                ctx.check_cancelled()
            ctx.check_cancelled()
            return super().generate(shots, ctx)
        finally:
            with cls._lock:
                cls.running_now -= 1


class BrokenKeyframes(SolidKeyframes):
    """Fails every time: ``RuntimeError`` (a bug: retried) or ``MusicVidError`` (final)."""

    name = "broken"
    calls = 0
    error: type[Exception] = RuntimeError

    def generate(self, shots: Any, ctx: Any) -> list[Any]:
        type(self).calls += 1
        if self.error is MusicVidError:
            raise MusicVidError("the model refused this prompt")
        raise self.error("CUDA out of memory (simulated)")


class ServerTestStages:
    @hookimpl
    def register_keyframe_generators(self, register: Any) -> None:
        register(GatedKeyframes)
        register(BrokenKeyframes)


def wait_for(predicate: Any, timeout: float = 30.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
        time.sleep(interval)


@contextlib.contextmanager
def running_server(app: Any, **options: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 (a free port) in a thread; yield its URL.
    ``options`` go to ``uvicorn.Config``."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    options = {"log_level": "warning", "timeout_graceful_shutdown": 2, **options}
    server = uvicorn.Server(uvicorn.Config(app, **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started or not thread.is_alive(), timeout=30)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def open_page(browser: Any, url: str, loaded: str = "#genre option",
              count: int = 10) -> tuple[Any, list[str]]:
    """The server's page at ``url`` in a new page of ``browser``, once ``count`` elements
    match ``loaded`` (the form's choices have come from the server); ``(page, errors)``,
    where ``errors`` collects the page's uncaught script errors."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url + "/")
    page.wait_for_function(f"() => document.querySelectorAll('{loaded}').length === {count}")
    return page, errors
