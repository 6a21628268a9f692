"""The example plugin's PLP analyzer against the built-in librosa analyzer, on click tracks.

    NUMBA_CACHE_DIR=/tmp/numba-cache python benchmarks/plp_example.py [--repeat 3]

Both analyzers run through the stage interface (``analyze(path, ctx)``) on the same
synthetic click tracks with known beats (steady 90/120/150/174 BPM and two tempo changes,
30 s each). Per track and analyzer: the tempo, beat F-measure (mir_eval, ±70 ms), the
mean offset of matched beats, downbeat F-measure, and the median analysis time of
``--repeat`` warm runs (after one untimed run that compiles librosa's numba functions).
Prints markdown for docs/benchmarks.md. The example plugin is imported from
examples/musicvid-plp-analyzer/src, so it need not be installed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples" / "musicvid-plp-analyzer" / "src"))

from musicvid_plp import PLPAnalyzer  # noqa: E402

from musicvid import RenderConfig, StageContext  # noqa: E402
from musicvid.defaults.librosa_analyzer import LibrosaAnalyzer  # noqa: E402
from musicvid.testing import write_click_track  # noqa: E402

TRACKS = [
    ("90 BPM", 90),
    ("120 BPM", 120),
    ("150 BPM", 150),
    ("174 BPM", 174),
    ("90 -> 140 BPM at 15 s", [(0.0, 90), (15.0, 140)]),
    ("120 -> 100 BPM at 15 s", [(0.0, 120), (15.0, 100)]),
]
DURATION = 30.0


def uptime() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover - Windows
        return "n/a"


def main(argv: list[str] | None = None) -> int:
    import mir_eval
    import numpy as np

    p = argparse.ArgumentParser()
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    ctx = StageContext(RenderConfig.create(), "analyze")
    analyzers = [("librosa (built in)", LibrosaAnalyzer()), ("plp (example plugin)", PLPAnalyzer())]
    load_before = uptime()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, bpm in TRACKS:
            path = Path(tmp) / f"{len(rows)}.wav"
            truth = np.array(write_click_track(path, bpm, DURATION))
            for name, analyzer in analyzers:
                analyzer.analyze(path, ctx)  # warm: numba compiles on the first call
                times = []
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    a = analyzer.analyze(path, ctx)
                    times.append(time.perf_counter() - t0)
                est = np.array(a.beats)
                f = mir_eval.beat.f_measure(truth, est, f_measure_threshold=0.07)
                fd = mir_eval.beat.f_measure(truth[::4], np.array(a.downbeats),
                                             f_measure_threshold=0.07)
                near = [np.abs(est - t).min() for t in truth] if est.size else []
                matched = [d for d in near if d <= 0.07]
                rows.append((label, name, a.tempo, len(est), len(truth), f, fd,
                             1000 * float(np.mean(matched)) if matched else float("nan"),
                             1000 * statistics.median(times)))
    print(f"load average before: {load_before}; after: {uptime()}\n")
    print("| track | analyzer | tempo | beats found / true | beat F (±70 ms) | "
          "downbeat F | mean offset ms | analysis ms (median) |")
    print("|---|---|---|---|---|---|---|---|")
    for label, name, tempo, n, m, f, fd, off, ms in rows:
        print(f"| {label} | {name} | {tempo:.1f} | {n} / {m} | {f:.3f} | {fd:.3f} | "
              f"{off:.1f} | {ms:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
