"""MetricGAN objective with a PESQ discriminator (SEMamba / MP-SENet ``train.py``).

The discriminator D(clean_mag, x) predicts normalised wideband PESQ,
``(PESQ - 1) / 3.5`` in [0, 1]:

* D loss = MSE(D(clean, clean), 1) + MSE(D(clean, est.detach()), pesq_norm);
* G metric loss = MSE(D(clean, est), 1).

When PESQ cannot be computed for an item (silence, too short), the
originals drop the whole fake term of that batch; we keep the items that
scored and drop only the failed ones (the term is skipped only if none
scored), and report how many failed.
"""
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F


def _pesq_or_nan(ref, deg, fs):
    from pesq import pesq

    try:
        return float(pesq(fs, ref, deg, "wb"))
    except Exception:  # NoUtterancesError, BufferTooShortError, ValueError (all-zero)
        return float("nan")


def _pesq_item(pair, fs):
    return _pesq_or_nan(pair[0], pair[1], fs)


def batch_pesq_targets(clean, est, fs=16000, pool=None):
    """Normalised wideband PESQ per item ``[B]`` (NaN where PESQ failed).

    ``clean``, ``est``: waveforms ``[B, N]`` (tensors or arrays). ``pool``: a
    :class:`se_mamba.metrics.pool.WorkerPool` (items in parallel processes;
    pesq holds the GIL, so threads would not help); None runs them here.
    """
    c = np.asarray(clean.detach().float().cpu() if torch.is_tensor(clean) else clean, dtype=np.float64)
    e = np.asarray(est.detach().float().cpu() if torch.is_tensor(est) else est, dtype=np.float64)
    pairs = list(zip(c, e))
    fn = partial(_pesq_item, fs=fs)
    scores = pool.map(fn, pairs) if pool is not None else [fn(p) for p in pairs]
    return (torch.tensor(scores, dtype=torch.float32) - 1.0) / 3.5


def discriminator_loss(disc, clean_mag, est_mag, pesq_targets):
    """D loss; ``pesq_targets`` from :func:`batch_pesq_targets` (NaN = failed)."""
    real = disc(clean_mag, clean_mag).flatten()
    loss = F.mse_loss(real, torch.ones_like(real))
    ok = torch.isfinite(pesq_targets)
    if ok.any():
        fake = disc(clean_mag[ok], est_mag.detach()[ok]).flatten()
        loss = loss + F.mse_loss(fake, pesq_targets[ok].to(fake))
    return loss


def metric_generator_loss(disc, clean_mag, est_mag):
    """G's metric term: push D(clean, est) towards the maximum score 1."""
    score = disc(clean_mag, est_mag).flatten()
    return F.mse_loss(score, torch.ones_like(score))
