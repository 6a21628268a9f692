"""Every test gets a fresh plugin manager that loads no installed plugins and a private
cache (``musicvid_isolated``, from the ``musicvid.testing`` pytest plugin)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated(musicvid_isolated: Path) -> Path:
    return musicvid_isolated
