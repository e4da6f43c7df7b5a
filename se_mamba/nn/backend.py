"""Which selective-scan implementation a Mamba layer uses.

Backends:

* ``"mamba_ssm"`` -- the fused CUDA kernels of the ``mamba-ssm`` package
  (``pip install se-mamba[cuda]``); only for CUDA tensors.
* ``"fused"`` -- our C++ CPU kernel (:mod:`se_mamba.nn.scan_kernel`).
* ``"torch"`` -- our pure-PyTorch chunked scan; any device, no compiler.
* ``"auto"`` (default) -- ``mamba_ssm`` for CUDA tensors when it imports,
  otherwise ``fused`` on CPU (``torch`` if the kernel cannot be built) and
  ``torch`` on other devices. CUDA without mamba-ssm warns once: the
  pure-PyTorch scan is many times slower than the fused kernels.

With mamba-ssm, a layer runs ``mamba_inner_fn`` (the fused conv + scan +
projections of ``mamba_ssm.Mamba``) when causal-conv1d is installed too;
without causal-conv1d (which ``mamba_inner_fn`` needs) it runs our convolution
and mamba-ssm's scan kernel; streaming calls, which carry a state that
mamba-ssm's kernels cannot take, run our scan (:mod:`se_mamba.nn.mamba`).

The environment variable ``SE_MAMBA_BACKEND`` sets the default for layers
built without an explicit ``backend=`` argument.
"""
import functools
import importlib
import os
import warnings

BACKENDS = ("auto", "mamba_ssm", "fused", "torch")
ENV_VAR = "SE_MAMBA_BACKEND"


def requested_backend(backend=None):
    """The backend asked for: the argument, else ``$SE_MAMBA_BACKEND``, else auto."""
    name = backend if backend is not None else os.environ.get(ENV_VAR, "auto")
    name = name.strip().lower()
    if name not in BACKENDS:
        source = "backend argument" if backend is not None else ENV_VAR
        raise ValueError(f"{source}={name!r} is not a Mamba backend; choose one of {BACKENDS}")
    return name


@functools.lru_cache(maxsize=None)
def mamba_ssm_ops():
    """``mamba_ssm.ops.selective_scan_interface`` or ``None`` (imported lazily:
    importing mamba-ssm without its CUDA build raises: mamba-ssm 2.3 imports
    its ``selective_scan_cuda`` extension unconditionally)."""
    try:
        return importlib.import_module("mamba_ssm.ops.selective_scan_interface")
    except Exception:  # ImportError, or its missing compiled CUDA module
        return None


@functools.lru_cache(maxsize=None)
def causal_conv1d_available():
    """Whether mamba-ssm found causal-conv1d's CUDA extension (its fused path needs it)."""
    ops = mamba_ssm_ops()
    return ops is not None and getattr(ops, "causal_conv1d_cuda", None) is not None


@functools.lru_cache(maxsize=None)
def warn_slow_cuda_scan():
    warnings.warn("Mamba layers on CUDA without mamba-ssm use the pure-PyTorch scan, many times slower "
                  "than the fused kernels; install them with: pip install 'se-mamba[cuda]' "
                  "(mamba-ssm and causal-conv1d)", RuntimeWarning, stacklevel=3)


def resolve_backend(device_type, backend=None):
    """Backend to run for tensors on ``device_type`` ('cpu', 'cuda', ...)."""
    name = requested_backend(backend)
    if name == "mamba_ssm":
        if device_type != "cuda":
            raise RuntimeError(
                f"Mamba backend 'mamba_ssm' needs CUDA tensors, got {device_type!r}; "
                "use backend='auto', 'fused' or 'torch'"
            )
        if mamba_ssm_ops() is None:
            raise RuntimeError("Mamba backend 'mamba_ssm' requested but mamba_ssm does not import; "
                               "install it with: pip install 'se-mamba[cuda]'")
        return name
    if name == "fused" and device_type != "cpu":
        raise RuntimeError(f"Mamba backend 'fused' is CPU-only, got {device_type!r} tensors")
    if name == "auto":
        if device_type == "cuda":
            if mamba_ssm_ops() is not None:
                return "mamba_ssm"
            warn_slow_cuda_scan()  # once per process
            return "torch"
        if device_type == "cpu":
            from .selective_scan import scan_backend_available

            return "fused" if scan_backend_available("fused") else "torch"
        return "torch"
    if name == "fused":
        from .selective_scan import scan_backend_available

        if not scan_backend_available("fused"):
            return "torch"  # load_kernel already warned once
    return name
