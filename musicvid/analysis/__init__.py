"""Music analysis behind the default ``librosa`` analyzer stage.

``analyze_samples`` turns mono samples into an :class:`~musicvid.types.Analysis`:

- :mod:`.features`: onset envelopes, RMS, chroma, MFCC, centroid, grouped mel levels
  and fluxes (two block STFTs);
- :mod:`.netbeats`: beats and tempo from a small beat/downbeat network (weights shipped
  in ``beat_net.npz``, run in numpy) decoded by a beat-pointer DBN (:mod:`._dbn`);
- :mod:`.beats`: the onset tracker, used where the network finds no beat (silence, no
  weights): tempo candidates, local tempo, dynamic-programming beats, phase;
- :mod:`.meter`: meter (3 or 4) and downbeats from per-beat accents;
- :mod:`.sections`: novelty boundaries on downbeats, repetition groups, role labels;
- :mod:`.tonal`: key and mode.

Heavy imports (numba, scipy) happen inside these modules, which only the analyzer
imports, so ``import musicvid`` stays light. librosa itself is not needed here.
"""

from __future__ import annotations

from ._core import analyze_samples
from ._warmup import start_warm_up, warm_up

__all__ = ["analyze_samples", "start_warm_up", "warm_up"]
