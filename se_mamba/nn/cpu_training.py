"""When the CPU-training gradient functions apply.

Two layers compute a weight gradient in a layout of their own on the CPU
(:mod:`se_mamba.nn.dilated_conv`, :mod:`se_mamba.nn.low_rank_linear`). Both
do it only where it was measured to help and is exact to float rounding:
autograd will need that weight gradient, the input is a float32 or float64
CPU tensor, and CPU autocast is off (under autocast the plain operator casts
its inputs, which the custom functions do not). Everywhere else, inference
included, the plain operator runs.
"""
import torch


def cpu_weight_grad_wanted(x, weight):
    """Whether autograd will need ``weight``'s gradient for a float32/float64
    CPU input ``x`` outside CPU autocast."""
    return (torch.is_grad_enabled() and weight.requires_grad and x.device.type == "cpu"
            and x.dtype in (torch.float32, torch.float64) and not torch.is_autocast_enabled("cpu"))
