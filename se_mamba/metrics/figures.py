"""Figures of scoring results: per-metric histograms (systems overlaid) and spectrograms."""
import math

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return matplotlib, plt


def _save(fig, path):
    from ..fileio import atomic_path

    with atomic_path(path, suffix=".png") as tmp:  # a reader never sees half a PNG
        fig.savefig(tmp, dpi=100)


def histograms(path, rows_by_system, metrics):
    """One panel per metric, one histogram per system (e.g. noisy vs enhanced)."""
    _, plt = _pyplot()
    cols = min(4, len(metrics))
    nrows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 2.6 * nrows), squeeze=False)
    for ax, m in zip(axes.flat, metrics):
        vals = {s: np.array([r[m] for r in rows], dtype=float) for s, rows in rows_by_system.items()}
        finite = np.concatenate([v[np.isfinite(v)] for v in vals.values()])
        if finite.size:
            bins = np.linspace(finite.min(), finite.max() + 1e-9, 16)
            for s, v in vals.items():
                ax.hist(v[np.isfinite(v)], bins=bins, alpha=0.55, label=s)
        ax.set_title(m)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def spectrograms(path, signals, title):
    """Stacked spectrograms of ``[(name, wav path)]`` (e.g. noisy / enhanced / clean)."""
    import soundfile as sf

    matplotlib, plt = _pyplot()
    magma = matplotlib.colormaps["magma"]
    # digital silence (-inf dB) drawn as the floor, not blank
    cmap = magma.with_extremes(bad=magma(0.0), under=magma(0.0))
    fig, axes = plt.subplots(len(signals), 1, figsize=(8, 2.3 * len(signals)), sharex=True, squeeze=False)
    for ax, (name, p) in zip(axes[:, 0], signals):
        x, fs = sf.read(p, always_2d=True)
        with np.errstate(divide="ignore"):  # log of exact zeros: -inf, shown as the floor
            ax.specgram(x.mean(axis=1), NFFT=400, Fs=fs, noverlap=300, cmap=cmap, vmin=-130)
        ax.set_ylabel("Hz")
        ax.set_title(name)
    axes[-1, 0].set_xlabel("s")
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
