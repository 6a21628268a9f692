"""Sessions: ``nox -s tests`` (default), ``lint``, ``benchmarks``."""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

TORCH = "torch==2.13.0"
MOVIEPY = "moviepy==2.2.1"  # what benchmarks/compositor.py was measured against


def _install(session: nox.Session, extras: str = "models,server,test") -> None:
    session.install(TORCH)  # first and pinned: the CPU build
    session.install("-e", f".[{extras}]")


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (what CI runs)."""
    _install(session)
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "musicvid", "musicvid_server", "tests")


@nox.session
def benchmarks(session: nox.Session) -> None:
    """Benchmarks with the comparison peers (kept out of the library's dependencies)."""
    _install(session, "models,test")
    session.install("mir_eval", "essentia")
    # MoviePy pins an old Pillow: it gets a venv of its own, which the compositor
    # benchmark runs as a separate process
    side = Path(session.virtualenv.location) / "moviepy-venv"
    if not side.exists():
        session.run("python", "-m", "venv", str(side))
    py = side / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    session.run(str(py), "-m", "pip", "install", "-q", MOVIEPY, external=True)
    session.run("python", "-m", "benchmarks.compositor", "--moviepy-python", str(py))
    session.run("python", "-m", "benchmarks", *session.posargs)
