"""Sessions: ``nox -s tests`` (default), ``lint``, ``mypy``, ``benchmarks``, ``bench``, ``docs``."""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

TORCH = "torch==2.13.0"
EXAMPLE_PLUGIN = "examples/musicvid-plp-analyzer"
MOVIEPY = "moviepy==2.2.1"  # what benchmarks/compositor.py was measured against


def _install(session: nox.Session, extras: str = "models,server,test,plot") -> None:
    session.install(TORCH)  # first and pinned: the CPU build
    session.install("-e", f".[{extras}]")


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (what CI runs)."""
    _install(session)
    session.run("python", "-m", "pytest", *session.posargs)
    # the example third-party plugin, installed like a user would, with its own tests
    session.install(EXAMPLE_PLUGIN)
    session.run("python", "-m", "pytest", "-q", EXAMPLE_PLUGIN)


LINTED = ("musicvid", "musicvid_server", "tests", "benchmarks", "examples", "noxfile.py")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff on every Python file of the project (the pinned version of the lint extra)."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", *LINTED)


@nox.session
def mypy(session: nox.Session) -> None:
    """mypy on the core modules (``[tool.mypy] files``), for Python 3.10."""
    _install(session, "models,server,test,lint")
    session.run("mypy")


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


@nox.session
def bench(session: nox.Session) -> None:
    """Beat tracking on the MMA corpus: build it (needs Debian's mma, fluidsynth,
    fluid-soundfont-gm, musescore-general-soundfont-small), then musicvid vs librosa vs
    essentia on the test half. ``nox -s bench -- --half tune`` for the tuning half."""
    session.install("-e", ".[bench]")
    session.install("essentia")  # AGPL comparison peer: this environment only
    session.run("python", "-m", "benchmarks.corpus")
    session.run("python", "-m", "benchmarks.beats_corpus", *session.posargs,
                env={"NUMBA_CACHE_DIR": str(Path(session.virtualenv.location) / "numba")})


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site; any warning (a broken link or anchor) fails it."""
    session.install("mkdocs>=1.6")
    session.run("mkdocs", "build", "--strict", *session.posargs)
