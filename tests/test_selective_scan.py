"""The selective scan of every backend against the float64 sequential reference."""
import os

import pytest
import torch

from reference_mamba import rel_err, scan_reference
from se_mamba.nn.selective_scan import scan_backend_available, selective_scan_fn

BACKENDS = ["fused", "torch"]
TOL = {torch.float64: 1e-10, torch.float32: 1e-4}


def make_inputs(Bsz, L, d, N, dtype, a_range=(0.1, 3.0), with_h0=True, gen=None):
    g = gen or torch.Generator().manual_seed(1234)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    lo, hi = a_range
    A = -(lo + (hi - lo) * torch.rand(d, N, generator=g, dtype=torch.float64))
    ins = dict(u=r(Bsz, L, d), delta=r(Bsz, L, d) - 1.0, A=A, B=r(Bsz, L, N), C=r(Bsz, L, N),
               D=r(d), z=r(Bsz, L, d), delta_bias=0.5 * r(d), h0=r(Bsz, d, N) if with_h0 else None)
    return {k: (v.to(dtype).requires_grad_() if v is not None else None) for k, v in ins.items()}


def run_and_grads(fn, ins, gout):
    out, last = fn(ins)
    names = [k for k, v in ins.items() if v is not None]
    grads = torch.autograd.grad((out * gout).sum(), [ins[k] for k in names])
    return out, last, dict(zip(names, grads))


_REFERENCES = {}


def reference_for(key, ins):
    """The float64 reference's output, last state and gradients for the
    inputs of ``key``, computed once per module: both backends are checked
    against the same one, and at L = 16000 the step-by-step reference takes
    about 10 s."""
    if key not in _REFERENCES:
        Bsz, L, d = ins["u"].shape
        gout = torch.randn(Bsz, L, d, generator=torch.Generator().manual_seed(99), dtype=torch.float64)
        ref_ins = {k: (v.detach().double().requires_grad_() if v is not None else None) for k, v in ins.items()}
        _REFERENCES[key] = gout, *run_and_grads(lambda i: scan_reference(**i, delta_softplus=True), ref_ins, gout)
    return _REFERENCES[key]


def check_backend(backend, Bsz, L, d, N, dtype, a_range=(0.1, 3.0), with_h0=True):
    assert scan_backend_available(backend)
    ins = make_inputs(Bsz, L, d, N, dtype, a_range, with_h0)
    gout, ref_out, ref_last, ref_g = reference_for((Bsz, L, d, N, dtype, a_range, with_h0), ins)
    out, last, g = run_and_grads(
        lambda i: selective_scan_fn(**i, delta_softplus=True, return_last_state=True, backend=backend),
        ins, gout.to(dtype))
    tol = TOL[dtype]
    assert out.dtype == dtype and out.shape == (Bsz, L, d)
    assert rel_err(out, ref_out) < tol
    assert rel_err(last, ref_last) < tol
    assert set(g) == set(ref_g)
    for name in ref_g:
        assert rel_err(g[name], ref_g[name]) < tol, f"gradient of {name}"


SHAPES = [
    (2, 1, 8, 4),      # L = 1
    (3, 37, 70, 5),    # odd L, d not a multiple of the kernel's channel block
    (2, 16, 32, 16),   # exactly one chunk, one block
    (1, 101, 256, 16),  # SEMamba-advanced d_inner / d_state
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "B%dL%dd%dN%d" % s)
def test_matches_reference(backend, dtype, shape):
    check_backend(backend, *shape, dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("a_range", [(50.0, 200.0), (1e-5, 1e-3)], ids=["strong_decay", "near_no_decay"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_extreme_decay(backend, a_range, dtype):
    check_backend(backend, 2, 65, 40, 8, dtype, a_range=a_range)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_long_sequence_16000(backend, dtype):
    """L = 16000 (1 s of samples): stable, exact, in both precisions."""
    check_backend(backend, 1, 16000, 6, 4, dtype, a_range=(1e-4, 2.0), with_h0=False)


@pytest.mark.parametrize("backend", BACKENDS)
def test_without_optional_inputs(backend):
    """No D, no z, no bias, no softplus: the plain recurrence."""
    ins = make_inputs(2, 29, 12, 3, torch.float64, with_h0=False)
    for k in ("D", "z", "delta_bias", "h0"):
        ins[k] = None
    ref, _ = scan_reference(**ins)
    out = selective_scan_fn(**ins, backend=backend)
    assert rel_err(out, ref) < 1e-10
    gref = torch.autograd.grad(ref.sum(), [ins["u"], ins["delta"], ins["A"]])
    gout = torch.autograd.grad(out.sum(), [ins["u"], ins["delta"], ins["A"]])
    for a, b in zip(gout, gref):
        assert rel_err(a, b) < 1e-10


def test_backends_agree_and_are_deterministic():
    ins = make_inputs(4, 123, 64, 16, torch.float32)
    outs = []
    for backend in BACKENDS + BACKENDS:
        out = selective_scan_fn(**ins, delta_softplus=True, backend=backend)
        g = torch.autograd.grad(out.sum(), [ins["u"], ins["A"]])
        outs.append((backend, out.detach(), g))
    by = {}
    for backend, out, g in outs:
        if backend in by:  # same backend twice: bit-identical
            assert torch.equal(out, by[backend][0])
            assert all(torch.equal(a, b) for a, b in zip(g, by[backend][1]))
        by[backend] = (out, g)
    assert rel_err(by["fused"][0], by["torch"][0]) < 1e-5


def test_state_carries_across_pieces():
    """Scanning [0:L1) then [L1:L) from the returned state equals one scan."""
    ins = make_inputs(2, 90, 20, 6, torch.float64, with_h0=False)
    ins = {k: (v.detach() if v is not None else None) for k, v in ins.items()}
    kw = dict(A=ins["A"], D=ins["D"], delta_bias=ins["delta_bias"], delta_softplus=True)
    sl = lambda a, b: {k: ins[k][:, a:b] for k in ("u", "delta", "B", "C", "z")}  # noqa: E731
    for backend in BACKENDS:
        whole = selective_scan_fn(**sl(0, 90), **kw, backend=backend)
        y1, s1 = selective_scan_fn(**sl(0, 41), **kw, return_last_state=True, backend=backend)
        y2 = selective_scan_fn(**sl(41, 90), **kw, h0=s1, backend=backend)
        assert rel_err(torch.cat([y1, y2], 1), whole) < 1e-12


def test_unknown_backend_is_rejected():
    ins = make_inputs(1, 4, 4, 2, torch.float32, with_h0=False)
    with pytest.raises(ValueError, match="unknown scan backend 'cuda-fast'"):
        selective_scan_fn(**ins, backend="cuda-fast")


def test_kernel_rejects_bad_shapes():
    from se_mamba.nn.scan_kernel import load_kernel

    k = load_kernel()
    u = torch.randn(2, 5, 8)
    with pytest.raises(RuntimeError, match="A must be"):
        k.scan_fwd(u, u, torch.randn(7, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 4),
                   None, None, None, False, None, False)


@pytest.mark.parametrize("dtype,top", [(torch.float32, 88.37), (torch.float64, 709.43)])
def test_kernel_exp_is_correctly_rounded_ish(dtype, top):
    """The kernel's own vectorised exp (seen through one scan step with u = 0:
    last = exp(delta * A) * h0): within 2 ulp of torch.exp over the normal
    range, exactly 0 on underflow, finite (saturated) above ``top``."""
    from se_mamba.nn.scan_kernel import load_kernel

    x = torch.linspace(-800, 800, 400001, dtype=dtype)
    d = x.numel()
    zeros = torch.zeros(1, 1, 1, dtype=dtype)
    _, last, _ = load_kernel().scan_fwd(
        torch.zeros(1, 1, d, dtype=dtype), torch.ones(1, 1, d, dtype=dtype), x[:, None].contiguous(),
        zeros, zeros.clone(), None, None, None, False, torch.ones(1, d, 1, dtype=dtype), False)
    e, ref = last.flatten(), torch.exp(x)
    normal = (ref > torch.finfo(dtype).tiny) & (x <= top)
    rel = ((e[normal] - ref[normal]).abs() / ref[normal]).max().item()
    assert rel <= 2 * torch.finfo(dtype).eps
    assert torch.equal(e[ref == 0], torch.zeros_like(e[ref == 0]))
    assert torch.isfinite(e).all() and (e[x > top] == e[x > top][0]).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_sequence(backend):
    ins = make_inputs(2, 0, 8, 4, torch.float32)
    out, last = selective_scan_fn(**ins, delta_softplus=True, return_last_state=True, backend=backend)
    assert out.shape == (2, 0, 8) and torch.equal(last, ins["h0"].detach())


def _first_use_worker(out_dir):
    """In a fresh process: load (building if needed) the kernel and scan."""
    import numpy as np

    from se_mamba.nn import scan_kernel

    module = scan_kernel.load_kernel()
    ins = make_inputs(1, 20, 8, 4, torch.float64)
    out = selective_scan_fn(**{k: v.detach() if v is not None else None for k, v in ins.items()},
                            delta_softplus=True, backend="fused")
    np.save(os.path.join(out_dir, f"{os.getpid()}.npy"), out.numpy())
    return module.__file__


def test_first_use_by_several_processes_builds_once(tmp_path, monkeypatch):
    """DDP ranks of one node start together on an empty extension cache: one
    build (torch's lock file in the build folder), every process loads it."""
    import glob
    import multiprocessing

    import numpy as np

    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "ext"))
    monkeypatch.setenv("PYTHONPATH", os.path.dirname(os.path.abspath(__file__)) + os.pathsep +
                       os.environ.get("PYTHONPATH", ""))
    (tmp_path / "out").mkdir()
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        files = pool.map(_first_use_worker, [str(tmp_path / "out")] * 3)
    assert len(set(files)) == 1 and files[0].startswith(str(tmp_path / "ext"))
    assert len(glob.glob(str(tmp_path / "ext" / "*" / "*.so"))) == 1
    outs = [np.load(p) for p in sorted(glob.glob(str(tmp_path / "out" / "*.npy")))]
    assert len(outs) == 3 and all(np.array_equal(o, outs[0]) for o in outs)


@pytest.mark.parametrize("cause, env", [
    ("no C++ compiler (/nonexistent/c++) on PATH; install one", {"CXX": "/nonexistent/c++"}),
])
def test_without_a_compiler_info_says_why_and_the_torch_scan_runs(tmp_path, cause, env):
    import subprocess
    import sys

    run_env = dict(os.environ, TORCH_EXTENSIONS_DIR=str(tmp_path / "ext"), SE_MAMBA_BACKEND="auto", **env)
    out = subprocess.run([sys.executable, "-m", "se_mamba.cli.main", "info"], capture_output=True, text=True,
                         env=run_env, timeout=300)
    assert out.returncode == 0, out.stderr
    import re

    info = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in out.stdout.splitlines())
    assert info["CPU scan kernel"].startswith(f"unavailable (RuntimeError: {cause}")
    assert info["CPU scan kernel"].endswith("the pure-PyTorch chunked scan runs instead")
    assert info["mamba backend (cpu)"] == "torch"
    warned = [line for line in out.stderr.splitlines() if "could not be built" in line]
    assert len(warned) == 1 and "same results, slower" in warned[0]


def test_missing_python_headers_are_named_with_the_fix(tmp_path, monkeypatch):
    from se_mamba.nn import scan_kernel

    for key, value in (("tried", False), ("module", None), ("error", None)):
        monkeypatch.setitem(scan_kernel._state, key, value)  # a fresh process, restored afterwards
    monkeypatch.setattr(scan_kernel.sysconfig, "get_paths", lambda: {"include": str(tmp_path)})
    with pytest.warns(RuntimeWarning, match="could not be built .*no Python headers .*-dev\\)"):
        assert scan_kernel.load_kernel() is None
    assert scan_kernel.kernel_status().startswith(f"unavailable (RuntimeError: no Python headers (Python.h not in "
                                                  f"{tmp_path}); install them")


def test_a_stale_build_lock_is_removed_and_a_live_one_waited_for(tmp_path):
    """A build killed mid-way leaves torch's lock file behind, and torch would
    wait on it for ever: one older than the limit goes, a younger one is
    waited for until its build removes it."""
    import threading
    import time

    from torch.utils.cpp_extension import _get_build_directory

    from se_mamba.nn import scan_kernel

    # the folder watched is the one torch builds in
    module = scan_kernel.load_kernel()
    assert os.path.dirname(module.__file__) == _get_build_directory(scan_kernel.build_name(), False)
    lock = tmp_path / "lock"
    assert scan_kernel.clear_stale_lock(str(tmp_path)) is False  # no lock: nothing to wait for
    lock.touch()
    os.utime(lock, (time.time() - 3600, time.time() - 3600))
    with pytest.warns(RuntimeWarning, match="stale build lock"):
        assert scan_kernel.clear_stale_lock(str(tmp_path)) is True
    assert not lock.exists()
    # a live build: its lock goes when it finishes, and nothing is removed for it
    lock.touch()
    threading.Timer(0.3, lock.unlink).start()
    t0 = time.monotonic()
    assert scan_kernel.clear_stale_lock(str(tmp_path), stale_after=30, poll=0.05) is False
    assert 0.25 < time.monotonic() - t0 < 5
    # a young lock nobody removes becomes stale while waited for
    lock.touch()
    with pytest.warns(RuntimeWarning, match="stale build lock"):
        assert scan_kernel.clear_stale_lock(str(tmp_path), stale_after=0.4, poll=0.05) is True
    assert not lock.exists()
