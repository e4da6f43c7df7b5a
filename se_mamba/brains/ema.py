"""Exponential moving average of a model's weights (the SB models evaluate
and ship the EMA weights, as sgmse does), on torch's
``torch.optim.swa_utils.AveragedModel`` with an EMA averaging function.

``EMA(model, decay)`` keeps a frozen copy in ``ema.model`` (AveragedModel's
``module``); ``update(model)`` after each optimiser step. The effective decay
ramps up as ``min(decay, (1 + n) / (10 + n))`` after n updates, so a short CPU
run is not dominated by the random initial weights; buffers (normalisation
statistics, fixed embeddings) are copied, not averaged. An ``nn.Module``: the
checkpointer saves and restores it, the update count included
(AveragedModel's ``n_averaged``, which counts from 1 here: AveragedModel
copies on its first update, the ramp averages from the start).
"""
import functools

import torch
from torch.optim.swa_utils import AveragedModel


def _ramped_ema(decay, averaged, current, num_averaged):
    """AveragedModel's ``avg_fn``: ``n = num_averaged - 1`` updates so far."""
    n = int(num_averaged) - 1
    d = min(decay, (1 + n) / (10 + n))
    return averaged * d + current * (1 - d)


class EMA(AveragedModel):
    """
    >>> net = torch.nn.Linear(2, 2)
    >>> ema = EMA(net, decay=0.5)
    >>> with torch.no_grad():
    ...     _ = net.weight.add_(1.0)
    >>> ema.update(net)
    >>> bool(torch.allclose(ema.model.weight, net.weight - 1.0 + 1.0 * 0.9))
    True
    """

    def __init__(self, model, decay=0.999):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        super().__init__(model, avg_fn=functools.partial(_ramped_ema, float(decay)))
        self.decay = float(decay)
        self.module.requires_grad_(False)
        self.n_averaged.fill_(1)  # the average starts as the model itself

    @property
    def model(self):
        """The averaged copy (what the SB models evaluate and ship)."""
        return self.module

    @property
    def updates(self):
        """Updates so far."""
        return self.n_averaged - 1

    @torch.no_grad()
    def update(self, model):
        model = getattr(model, "module", model)  # DDP wrapper
        self.update_parameters(model)
        for e, b in zip(self.module.buffers(), model.buffers()):
            e.copy_(b)
