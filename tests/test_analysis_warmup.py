"""The analysis warm-up: numba's kernels compiled (or loaded) before the song needs them."""

import numpy as np

from musicvid.analysis import analyze_samples, start_warm_up, warm_up
from musicvid.testing import click_track


def _kernels():
    import numba

    from musicvid import _warp
    from musicvid.analysis import _dbn, _dp

    return {f"{m.__name__}.{name}": f for m in (_dp, _dbn, _warp) for name, f in vars(m).items()
            if isinstance(f, numba.core.registry.CPUDispatcher)}


def test_warm_up_compiles_every_kernel_with_the_types_the_analysis_uses():
    assert warm_up() is True
    kernels = _kernels()
    # the beat network's decoder and the Ken Burns warp are ready before the song needs them
    assert kernels["musicvid.analysis._dbn.beat_viterbi"].signatures
    assert kernels["musicvid._warp._warp"].signatures
    before = {name: list(f.signatures) for name, f in kernels.items()}
    y, _ = click_track(120, 12.0)
    analysis = analyze_samples(np.asarray(y, dtype=np.float32), 22050)
    assert len(analysis.beats) > 10
    # the real analysis compiled nothing new: the warm-up used the same argument types
    assert {name: list(f.signatures) for name, f in kernels.items()} == before


def test_start_warm_up_runs_once_per_process_in_the_background():
    t = start_warm_up()
    assert t is start_warm_up() and t.daemon
    t.join(timeout=300)
    assert not t.is_alive()
