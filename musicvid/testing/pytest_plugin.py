"""A pytest plugin for musicvid and its plugin authors (loaded via the ``pytest11`` entry point).

Fixtures:

- ``musicvid_tiny_models``: a session-wide folder with ``sdxl`` and ``svd`` tiny random
  pipelines and a tiny random ``whisper`` (real diffusers/transformers classes, random
  weights; needs the ``models`` extra).
- ``musicvid_click_track``: a factory ``(bpm=120, duration=20.0, name=...) -> (path, beats)``.
- ``musicvid_fake_stages``: ``musicvid_isolated`` with the fake stages registered.
- ``musicvid_isolated``: a fresh plugin manager that loads no installed plugins and a
  private cache directory; use it (or make it autouse in your conftest) so the machine's
  plugins and cache never leak into tests.

The stage contract kit: inherit ``AnalyzerContract``, ``KeyframeGeneratorContract``,
``MotionGeneratorContract`` or ``CompositorContract`` (importable from this module or
from :mod:`musicvid.testing.contract`) in a test class and define its ``make_stage``
fixture; the kit's checks run on the fixtures above, with pytest's assertion messages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# the contract kit's checks are plain asserts: let pytest explain them when they fail
pytest.register_assert_rewrite("musicvid.testing.contract", "musicvid.testing.contract_video")

CONTRACTS = ("AnalyzerContract", "CompositorContract", "KeyframeGeneratorContract",
             "MotionGeneratorContract")


def __getattr__(name: str) -> Any:
    if name in CONTRACTS:  # imported on first use: loading the plugin stays cheap
        from . import contract

        return getattr(contract, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@pytest.fixture(scope="session")
def musicvid_tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from .tiny_models import write_tiny_models

    return write_tiny_models(tmp_path_factory.mktemp("musicvid-tiny-models"))


@pytest.fixture(scope="session")
def musicvid_tiny_video_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny random Wan, LTX-Video, CogVideoX, FLUX and SD3 pipelines (saved folders)."""
    from .tiny_video_models import write_tiny_video_models

    return write_tiny_video_models(tmp_path_factory.mktemp("musicvid-tiny-video-models"))


@pytest.fixture
def musicvid_click_track(tmp_path: Path) -> Callable[..., tuple[Path, list[float]]]:
    from .audio import write_click_track

    def make(bpm: Any = 120, duration: float = 20.0, name: str | None = None,
             **kw: Any) -> tuple[Path, list[float]]:
        path = tmp_path / (name or f"click_{bpm}_{duration:g}.wav")
        beats = write_click_track(path, bpm, duration, **kw)
        return path, beats

    return make


@pytest.fixture
def musicvid_isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from ..options import iter_options
    from ..plugins import reset_plugin_manager

    cache = tmp_path / "musicvid-cache"
    monkeypatch.setenv("MUSICVID_LOAD_PLUGINS", "")
    monkeypatch.setenv("MUSICVID_CACHE_DIR", str(cache))
    # every variable the option schema reads, so the machine's settings never leak in
    for var in sorted({s.env for s in iter_options() if s.env} | {"SOTA_CPU_ONLY"}):
        monkeypatch.delenv(var, raising=False)
    reset_plugin_manager()
    yield cache
    reset_plugin_manager()


@pytest.fixture
def musicvid_fake_stages(musicvid_isolated: Path) -> Iterator[None]:
    """``FakeStagesPlugin`` registered on the isolated plugin manager (``solid`` keyframes,
    the ``fake`` analyzer), with ``SolidKeyframes.calls`` back at 0."""
    from ..plugins import get_plugin_manager
    from .fakes import FakeStagesPlugin, SolidKeyframes

    get_plugin_manager().register(FakeStagesPlugin(), name="fakes")
    SolidKeyframes.calls = 0
    yield
