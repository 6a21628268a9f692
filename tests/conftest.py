from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["MUSICVID_LOAD_PLUGINS"] = ""  # never load the machine's installed plugins

try:  # tiny models run fastest single-threaded on small machines
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass


@pytest.fixture(autouse=True)
def _isolated(musicvid_isolated: Path) -> Path:
    return musicvid_isolated


@pytest.fixture
def cache_dir(musicvid_isolated: Path) -> Path:
    return musicvid_isolated


@pytest.fixture(scope="session")
def tiny_models(musicvid_tiny_models: dict[str, Path]) -> dict[str, Path]:
    return musicvid_tiny_models


@pytest.fixture(scope="session")
def tiny_video_models(musicvid_tiny_video_models: dict[str, Path]) -> dict[str, Path]:
    return musicvid_tiny_video_models


@pytest.fixture
def click(musicvid_click_track):  # type: ignore[no-untyped-def]
    return musicvid_click_track
