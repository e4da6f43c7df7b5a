"""MetricGAN discriminator of MP-SENet / SEMamba (`models/discriminator.py` of
RoyChao19477/SEMamba), official names.

Input: stack(clean_mag, est_mag) of compressed magnitudes ``[B, F, T]``;
output: a score in (0, 1) per item (``[B, 1]``) that learns normalised PESQ.
Four spectral-norm Conv2d (k 4, s 2, p 1, no bias; 16-32-64-128 channels)
each with InstanceNorm + PReLU, global max pool, spectral-norm Linear 128->64,
dropout 0.3, PReLU, spectral-norm Linear 64->1, learnable sigmoid (beta 1).
"""
import torch
from torch import nn
from torch.nn.utils import spectral_norm


class LearnableSigmoid1D(nn.Module):
    def __init__(self, in_features, beta=1.0):
        super().__init__()
        self.beta = beta
        self.slope = nn.Parameter(torch.ones(in_features))

    def forward(self, x):
        return self.beta * torch.sigmoid(self.slope * x)


class MetricDiscriminator(nn.Module):
    """Example
    -------
    >>> d = MetricDiscriminator()
    >>> d(torch.rand(2, 201, 50), torch.rand(2, 201, 50)).shape
    torch.Size([2, 1])
    """

    def __init__(self, dim=16, in_channel=2):
        super().__init__()
        layers, ch = [], in_channel
        for mult in (1, 2, 4, 8):
            layers += [spectral_norm(nn.Conv2d(ch, dim * mult, (4, 4), (2, 2), (1, 1), bias=False)),
                       nn.InstanceNorm2d(dim * mult, affine=True), nn.PReLU(dim * mult)]
            ch = dim * mult
        layers += [nn.AdaptiveMaxPool2d(1), nn.Flatten(),
                   spectral_norm(nn.Linear(dim * 8, dim * 4)), nn.Dropout(0.3), nn.PReLU(dim * 4),
                   spectral_norm(nn.Linear(dim * 4, 1)), LearnableSigmoid1D(1)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x, y):
        return self.layers(torch.stack((x, y), dim=1))
