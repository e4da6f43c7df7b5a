"""Losses of the SEMamba / MP-SENet family (SEMamba `models/loss.py`, MP-SENet `train.py`), the MetricGAN
objective and the SB models' data-prediction loss: one home for every training loss."""
from .bridge import BridgeLoss
from .metric import batch_pesq_targets, discriminator_loss, metric_generator_loss
from .signal import (GeneratorLoss, anti_wrap, complex_loss, consistency_loss, magnitude_loss,
                     phase_losses, si_sdr_loss, time_loss)

__all__ = ["BridgeLoss", "GeneratorLoss", "anti_wrap", "phase_losses", "time_loss", "magnitude_loss",
           "complex_loss", "consistency_loss", "si_sdr_loss", "batch_pesq_targets", "discriminator_loss",
           "metric_generator_loss"]
