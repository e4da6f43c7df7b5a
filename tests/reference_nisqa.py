"""Deterministic stand-in weights for NISQA's network (the released weights
are not available here), shared by the test and by
tests/data/nisqa/make_reference.py, which ran the original implementation on
them."""
import numpy as np
import torch


def random_state(model, seed=0):
    """A state dict for ``model``'s keys and shapes, drawn from numpy (stable
    across torch versions): weights ~ N(0, 1/fan_in), biases and
    normalisation shifts ~ N(0, 0.1), scales 1 + N(0, 0.1), positive
    running variances."""
    rng = np.random.default_rng(seed)
    out = {}
    for key, ref in model.state_dict().items():
        shape = tuple(ref.shape)
        if key.endswith("num_batches_tracked"):
            out[key] = torch.zeros((), dtype=torch.long)
            continue
        if key.endswith("running_var"):
            x = 0.5 + np.abs(rng.standard_normal(shape))
        elif key.endswith("running_mean") or key.endswith("bias"):
            x = 0.1 * rng.standard_normal(shape)
        elif len(shape) == 1:  # norm scales
            x = 1.0 + 0.1 * rng.standard_normal(shape)
        else:
            x = rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]))
        out[key] = torch.from_numpy(np.asarray(x, dtype=np.float32))
    return out
