"""The checks every musicvid analyzer should pass, from musicvid's contract kit."""

from __future__ import annotations

import musicvid_plp
import pytest

from musicvid.testing.contract import AnalyzerContract


class TestPLPAnalyzerContract(AnalyzerContract):
    """Duration, sorted beats in range, curves at the frame rate, a JSON analysis, the same
    result twice, cancellation, errors tagged by the pipeline, reuse for a second song."""

    @pytest.fixture
    def make_stage(self):
        return musicvid_plp.PLPAnalyzer
