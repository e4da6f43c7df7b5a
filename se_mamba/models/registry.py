"""The model registry: ``build_model(name, **overrides)``.

With no overrides each name builds its paper's configuration; overrides are
the constructor's keyword arguments (nested dicts such as ``mamba=`` are
merged into the defaults), which is how HyperPyYAML files and small CPU
configurations derive from the same classes.

Example
-------
>>> m = build_model("semamba_advanced", channels=8, num_blocks=1, mamba={"expand": 2})
>>> type(m).__name__, m.TSMamba[0].time_mamba.forward_blocks[0].mixer.d_inner
('SEMamba', 16)
"""
import copy
import inspect

from .basic import SEMambaBasic
from .magphase import LSTMSENet, MagPhaseNet, MambAttention, MPSENet, SEMamba
from ..bridge.enhancer import SBM, MambaBase, SBEnhancer, SBNCSNpp

# name -> (class, paper defaults, one-line description)
MODELS = {
    "semamba_advanced": (SEMamba, {}, "SEMamba advanced, non-causal (2,258,769 params)"),
    "semamba_causal": (SEMamba, {"causal": True},
                       "SEMamba advanced, causal: left-padded time convs, per-frame norms, "
                       "uni-directional time Mamba"),
    "semamba_basic": (SEMambaBasic, {"causal": True},
                      "SEMamba basic: log1p magnitude, conv encoder, 2 Mamba layers, FC mask decoder"),
    "mambattention": (MambAttention, {}, "MambAttention: shared T/F multi-head attention (2,325,841)"),
    "mambattention_attn_after": (MambAttention, {"attention_position": "after"},
                                 "ablation: attention after Mamba"),
    "mambattention_no_sharing": (MambAttention, {"attention": "separate"},
                                 "ablation: separate T and F attention (no weight sharing)"),
    "mambattention_freq_first": (MambAttention, {"axis_order": "freq_first"},
                                 "ablation: frequency pass before time pass"),
    "mpsenet": (MPSENet, {}, "MP-SENet (Conformer), attention over the intended axis (~2.05M)"),
    "lstm_senet": (LSTMSENet, {}, "LSTM-SENet: bidirectional LSTM in place of Mamba"),
    "lstm_attention": (LSTMSENet, {"attention": "shared", "attention_position": "after"},
                       "LSTM-Attention: LSTM then shared T/F attention"),
    "sbm": (SBM, {}, "Schrödinger Bridge Mamba: oSpatialNet-Mamba + time embedding, SB-VE, 1 step"),
    "sbm_causal": (SBM, {"causal": True}, "SBM, causal in time (streaming-capable)"),
    "sb_ncsnpp": (SBNCSNpp, {}, "SB-NCSN++ baseline: CPU-sized U-Net on the same SB core, 50 ODE steps"),
    "mamba_base": (MambaBase, {}, "Mamba-base: the SBM backbone trained by predictive mapping"),
}


def _merge(base, over):
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def model_config(name, **overrides):
    """(class, keyword arguments) that ``build_model`` would use."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(sorted(MODELS))}")
    cls, defaults, _ = MODELS[name]
    block_defaults = getattr(cls, "block_defaults", {})
    # nested block options (mamba=..., lstm=...) merge into the class defaults
    merged = _merge({k: v for k, v in block_defaults.items() if isinstance(v, dict)}, defaults)
    return cls, _merge(merged, overrides)


def _plain(value):
    """YAML-safe copy (tuples as lists), or ``_OMIT`` for anything else."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        items = [_plain(v) for v in value]
        return _OMIT if any(v is _OMIT for v in items) else items
    if isinstance(value, dict):
        return {k: v for k, v in ((k, _plain(v)) for k, v in value.items()) if v is not _OMIT}
    return _OMIT


_OMIT = object()


def _signature_defaults(fn, skip=("self",)):
    return {p.name: p.default for p in inspect.signature(fn).parameters.values()
            if p.name not in skip and p.default is not p.empty
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _nested_defaults(cls, cfg):
    """Defaults of the nested option dicts that configuration ``cfg`` of
    ``cls`` uses (None there means "the inner class's defaults")."""
    if issubclass(cls, MagPhaseNet):  # only the chosen sequence model's options
        from ..nn import MambaBlock
        from .tf_block import BiLSTM, ConformerBlock

        inner = {"mamba": MambaBlock, "lstm": BiLSTM, "conformer": ConformerBlock}[cfg["sequence"]]
        skip = ("self", "d_model", "dim", "bidirectional", "backend")
        return {cfg["sequence"]: _signature_defaults(inner.__init__, skip)}
    if issubclass(cls, SBEnhancer):
        from dataclasses import asdict

        from ..bridge.backbone import SBM_MAMBA, SBMBackbone
        from ..bridge.ncsnpp import NCSNppLite
        from ..nn.spectral import CompressedComplexSpec

        if cls is SBNCSNpp:
            backbone = _signature_defaults(NCSNppLite.__init__)
        else:  # sized by the representation, causal from the model, backend a run-time choice
            backbone = _signature_defaults(SBMBackbone.__init__, ("self", "n_freq", "causal", "backend"))
            backbone["mamba"] = dict(SBM_MAMBA)
            if cls is MambaBase:  # fixed off: no time embedding, no state input
                for k in ("time_embedding", "condition_on_state", "emb_features", "emb_dim", "emb_scale"):
                    backbone.pop(k)
        return {"backbone": backbone, "representation": asdict(CompressedComplexSpec())}
    return {}


def resolved_config(name, **overrides):
    """Every constructor argument ``build_model(name, **overrides)`` uses,
    defaults included, down to the nested option dicts (block, backbone and
    representation options), as plain YAML values: what a packed model
    stores, so it builds the same model after a default changes.

    >>> cfg = resolved_config("semamba_advanced", channels=8)
    >>> cfg["channels"], cfg["num_blocks"], cfg["mamba"]["d_state"], cfg["sequence"]
    (8, 4, 16, 'mamba')
    >>> resolved_config("sbm")["backbone"]["mamba"]["expand"]
    2
    """
    cls, kwargs = model_config(name, **overrides)
    full = _signature_defaults(cls.__init__)
    if issubclass(cls, MagPhaseNet):  # the options its blocks take through **block_kwargs
        from .tf_block import TFBlock

        full.update(_signature_defaults(TFBlock.__init__, skip=("self", "channels", "causal")))
        full = _merge(full, cls.block_defaults)
    cfg = _merge(full, kwargs)
    for key, defaults in _nested_defaults(cls, cfg).items():
        cfg[key] = _merge(defaults, cfg.get(key) or {})
    return _plain(cfg)


def build_model(name, **overrides):
    """Build registry model ``name`` (paper configuration unless overridden)."""
    cls, kwargs = model_config(name, **overrides)
    try:
        model = cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"model {name!r}: {exc}") from None
    # how to build it again, every argument spelled out: packing writes this
    # into a pretrained hyperparams.yaml
    model.build_spec = {"name": name, **resolved_config(name, **overrides)}
    return model


def build_sized_model(name, sizes):
    """``build_model(name, **sizes[name])``: training YAMLs that serve several
    models keep one size table and pick the row with ``model_name``.

    >>> m = build_sized_model("sbm", {"sbm": {"backbone": {"hidden": 16, "num_layers": 1}}})
    >>> m.build_spec["backbone"]["hidden"]
    16
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(sorted(MODELS))}")
    return build_model(name, **dict((sizes or {}).get(name) or {}))


def list_models():
    return {name: desc for name, (_, _, desc) in MODELS.items()}
