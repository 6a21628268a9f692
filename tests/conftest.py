from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["MUSICVID_LOAD_PLUGINS"] = ""  # never load the machine's installed plugins

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]

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


@pytest.fixture
def fakes(musicvid_fake_stages: None) -> None:
    """The fake stages (``solid`` keyframes, the ``fake`` analyzer) for one test."""
    return musicvid_fake_stages


@pytest.fixture
def server_stages(musicvid_fake_stages: None) -> Iterator[Any]:
    """The fake stages and the server tests' ``gated`` and ``broken`` keyframes
    (``server_support``), their counters and gate reset; yields ``GatedKeyframes``. The
    gate opens at the end, so no job is left waiting on it."""
    from server_support import BrokenKeyframes, GatedKeyframes, ServerTestStages

    from musicvid.plugins import get_plugin_manager

    get_plugin_manager().register(ServerTestStages(), name="server-test-stages")
    GatedKeyframes.reset()
    BrokenKeyframes.calls = 0
    BrokenKeyframes.error = RuntimeError
    yield GatedKeyframes
    GatedKeyframes.gate.set()


@pytest.fixture
def chromium() -> Iterator[Any]:
    """Debian's headless Chromium (``/usr/bin/chromium``, ``apt-get install chromium``;
    never ``playwright install``), driven by playwright. Without it the test is skipped,
    unless ``MUSICVID_REQUIRE_BROWSER=1`` (set by CI), where a missing browser fails."""
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        if os.environ.get("MUSICVID_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
