"""A picture of an analysis: waveform, energy, beats, downbeats and labelled sections.

Needs matplotlib (``pip install 'musicvid[plot]'``); it is imported only here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import MissingDependencyError
from ..types import Analysis

__all__ = ["plot_analysis", "require_matplotlib"]

SECTION_COLOURS = {
    "intro": "#9ecae1", "verse": "#a1d99b", "chorus": "#fc9272", "bridge": "#dadaeb",
    "breakdown": "#fdd0a2", "outro": "#bdbdbd",
}


def require_matplotlib() -> None:
    """Raise :class:`MissingDependencyError` now if plotting would fail later."""
    _pyplot()


def _pyplot():  # type: ignore[no-untyped-def]
    try:
        import matplotlib
    except ImportError:
        raise MissingDependencyError(
            "drawing an analysis needs matplotlib: pip install 'musicvid[plot]'") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_analysis(analysis: Analysis, output: str | Path, samples: np.ndarray | None = None,
                  sample_rate: int | None = None, title: str | None = None) -> Path:
    """Draw ``analysis`` (and the waveform, when ``samples`` are given) to ``output``
    (PNG, SVG or PDF by suffix). Returns the path written."""
    plt = _pyplot()
    out = Path(output)
    dur = max(analysis.duration, 1e-3)
    fig, (ax_w, ax_e) = plt.subplots(2, 1, figsize=(14, 5.5), sharex=True,
                                     gridspec_kw={"height_ratios": [1.2, 1]})
    try:
        if samples is not None and sample_rate and len(samples):
            y = np.asarray(samples, dtype=np.float32)
            cols = 2000  # min/max envelope: cheap to draw whatever the length
            n = len(y) // cols * cols
            if n >= cols:
                blocks = y[:n].reshape(cols, -1)
                t = (np.arange(cols) + 0.5) * (n / cols) / sample_rate
                ax_w.fill_between(t, blocks.min(axis=1), blocks.max(axis=1), color="#4a4a4a",
                                  linewidth=0)
            else:
                ax_w.plot(np.arange(len(y)) / sample_rate, y, color="#4a4a4a", linewidth=0.5)
        ax_w.set_ylabel("waveform")
        ax_w.set_ylim(-1.05, 1.05)
        for ax in (ax_w, ax_e):
            for s in analysis.sections:
                ax.axvspan(s.start, s.end, color=SECTION_COLOURS.get(s.label, "#eeeeee"),
                           alpha=0.45, linewidth=0)
            ax.vlines(analysis.beats, 0, 1, transform=ax.get_xaxis_transform(),
                      color="#3182bd", linewidth=0.4, alpha=0.6)
            ax.vlines(analysis.downbeats, 0, 1, transform=ax.get_xaxis_transform(),
                      color="#08306b", linewidth=1.1)
        for s in analysis.sections:
            ax_w.text((s.start + s.end) / 2, 0.93, f"{s.label} {s.group}", ha="center",
                      va="top", fontsize=8, transform=ax_w.get_xaxis_transform())
        if analysis.energy:
            t = np.arange(len(analysis.energy)) / analysis.curve_fps
            ax_e.plot(t, analysis.energy, color="#d62728", linewidth=1.0, label="energy")
        if analysis.onset:
            t = np.arange(len(analysis.onset)) / analysis.curve_fps
            ax_e.plot(t, analysis.onset, color="#636363", linewidth=0.5, alpha=0.6,
                      label="onset")
        ax_e.set_ylim(0, 1.05)
        ax_e.set_ylabel("energy / onset")
        ax_e.set_xlabel("time (s)")
        ax_e.set_xlim(0, dur)
        ax_e.legend(loc="upper right", fontsize=8)
        key = f"{analysis.key} {analysis.mode}" if analysis.key else "no key"
        ax_w.set_title(title or f"{analysis.tempo:.1f} BPM, {analysis.meter}/4, {key}, "
                                f"{len(analysis.beats)} beats, {len(analysis.sections)} sections")
        fig.tight_layout()
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=110)
    finally:
        plt.close(fig)
    return out
