"""Losses of the SEMamba / MP-SENet family (FACTS §2) and the MetricGAN
objective: one home for every training loss."""
from .metric import batch_pesq_targets, discriminator_loss, metric_generator_loss
from .signal import (GeneratorLoss, anti_wrap, complex_loss, consistency_loss, magnitude_loss,
                     phase_losses, time_loss)

__all__ = ["GeneratorLoss", "anti_wrap", "phase_losses", "time_loss", "magnitude_loss",
           "complex_loss", "consistency_loss", "batch_pesq_targets", "discriminator_loss",
           "metric_generator_loss"]
