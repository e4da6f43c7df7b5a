"""Load the official SEMamba / MambAttention / MP-SENet generator checkpoints.

The released files are ``torch.save({'generator': state_dict, ...})`` (or a
bare state dict). :func:`load_official_checkpoint` reads one, recognises the
family from its block-list name, infers the channel count and the number of
blocks from the tensors, builds our model and loads with ``strict=True``.

Example
-------
>>> import torch, tempfile, os
>>> from se_mamba.models import build_model
>>> m = build_model("semamba_advanced", channels=8, num_blocks=1, mamba={"expand": 2})
>>> path = os.path.join(tempfile.mkdtemp(), "g_00001.pth")
>>> torch.save({"generator": m.state_dict()}, path)
>>> m2 = load_official_checkpoint(path, mamba={"expand": 2})
>>> all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), m2.state_dict().values()))
True
"""
import os
import re

import torch

from .registry import build_model

# block-list name in the official state dict -> registry name
FAMILIES = {"TSMamba": "semamba_advanced", "TFMambAttention": "mambattention",
            "TSConformer": "mpsenet", "TSLSTM": "lstm_senet"}


def read_state_dict(path):
    """The generator state dict of a checkpoint file (one-line errors)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable torch checkpoint ({type(exc).__name__})") from None
    if isinstance(obj, dict) and "generator" in obj:
        obj = obj["generator"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: expected a state dict or {{'generator': state_dict}}")
    # checkpoints saved from DistributedDataParallel prefix every key
    return {re.sub(r"^module\.", "", k): v for k, v in obj.items()}


def infer_config(state_dict, path="checkpoint"):
    """(registry name, overrides) matching an official state dict."""
    for attr, name in FAMILIES.items():
        idx = {int(m.group(1)) for k in state_dict for m in [re.match(rf"{attr}\.(\d+)\.", k)] if m}
        if idx:
            break
    else:
        raise ValueError(f"{path}: no TSMamba/TFMambAttention/TSConformer block list: "
                         "not a SEMamba, MambAttention or MP-SENet generator")
    channels = state_dict["dense_encoder.dense_conv_1.0.weight"].shape[0]
    overrides = {"channels": channels, "num_blocks": max(idx) + 1,
                 "n_fft": (state_dict["mask_decoder.lsigmoid.slope"].shape[0] - 1) * 2}
    if name == "mambattention" and not any(".attention." in k for k in state_dict):
        name = "semamba_advanced"
    if any(k.startswith(f"{attr}.0.time_attention.") for k in state_dict):
        overrides["attention"] = "separate"
    mixer = f"{attr}.0.time_mamba.forward_blocks.0.mixer."
    if mixer + "A_log" in state_dict:
        d_inner, d_state = state_dict[mixer + "A_log"].shape
        overrides["mamba"] = {"d_state": d_state, "expand": d_inner // channels,
                              "d_conv": state_dict[mixer + "conv1d.weight"].shape[-1]}
    return name, overrides


def load_official_checkpoint(path, official_mpsenet_attention=True, **overrides):
    """Build the model a released generator checkpoint belongs to and load it.

    ``overrides`` adjust the inferred configuration (e.g. ``causal=True``).
    For MP-SENet files the wrong-axis attention of the official code is kept
    (``official_mpsenet_attention``) so the weights compute what they were
    trained to compute.
    """
    sd = read_state_dict(path)
    name, inferred = infer_config(sd, path)
    if name == "mpsenet" and official_mpsenet_attention:
        inferred["conformer"] = {"attn_batch_first": False}
    model = build_model(name, **{**inferred, **overrides})
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ValueError(f"{path}: does not match {name}: {first}") from None
    return model
