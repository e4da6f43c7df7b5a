"""Exponential moving average of a model's weights (the SB models evaluate
and ship the EMA weights, as sgmse does).

``EMA(model, decay)`` keeps a frozen copy in ``ema.model``; ``update(model)``
after each optimiser step. The effective decay ramps up as
``min(decay, (1 + n) / (10 + n))`` after n updates, so a short CPU run is not
dominated by the random initial weights. An ``nn.Module``: the checkpointer
saves and restores it (including the update count).
"""
import copy

import torch
from torch import nn


class EMA(nn.Module):
    """
    >>> net = nn.Linear(2, 2)
    >>> ema = EMA(net, decay=0.5)
    >>> with torch.no_grad():
    ...     _ = net.weight.add_(1.0)
    >>> ema.update(net)
    >>> bool(torch.allclose(ema.model.weight, net.weight - 1.0 + 1.0 * 0.9))
    True
    """

    def __init__(self, model, decay=0.999):
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = float(decay)
        self.model = copy.deepcopy(model)
        self.model.requires_grad_(False)
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, model):
        model = getattr(model, "module", model)  # DDP wrapper
        n = int(self.updates)
        d = min(self.decay, (1 + n) / (10 + n))
        for e, p in zip(self.model.parameters(), model.parameters()):
            e.mul_(d).add_(p.detach(), alpha=1 - d)
        for e, b in zip(self.model.buffers(), model.buffers()):
            e.copy_(b)
        self.updates += 1
