"""Build and load the fused C++ CPU kernels (``csrc/``): the Mamba layer's
selective scan and causal convolution + SiLU (``mamba_cpu.cpp``), and
attention for inference (``attention_cpu.cpp``, :mod:`se_mamba.nn.cpu_attention`),
with the vectorisable ``exp`` they share (``simd_math.h``), as one extension.

The kernel is compiled on first use with :mod:`torch.utils.cpp_extension`
(ninja + the system C++ compiler) and cached under
``$TORCH_EXTENSIONS_DIR`` (default ``~/.cache/torch_extensions``). The cache
name includes a hash of the source, the torch version and the CPU flags, so a
cached build is never loaded on a machine whose instruction set differs
(``-march=native``).

Several processes using it for the first time at once (the DDP ranks of one
node, parallel test workers) build it once: torch's ``load`` holds a lock
file in the build folder while one process compiles, the others wait for it
and then load the same library (tested). A lock left behind by a build that
was killed (Ctrl-C, an out-of-memory kill) would make torch wait for ever;
one older than ``STALE_LOCK_SECONDS`` is removed with a warning instead.

Where no compiler or no Python headers are available, or the build fails,
:func:`load_kernel` returns ``None`` once, warns in one line that names the
cause and the fix, and callers fall back to the pure-PyTorch chunked scan
(the same results, slower); ``se-mamba info`` says which scan runs and why.
Set ``SE_MAMBA_NO_BUILD=1`` to skip the build.
"""
import hashlib
import logging
import os
import platform
import shutil
import sysconfig
import threading
import time
import warnings

import torch

logger = logging.getLogger(__name__)

CSRC = os.path.join(os.path.dirname(os.path.dirname(__file__)), "csrc")
# compiled into one extension (the first holds the Python bindings); the header
# is hashed too: a change to it must rebuild
SOURCES = [os.path.join(CSRC, "mamba_cpu.cpp"), os.path.join(CSRC, "attention_cpu.cpp")]
HEADERS = [os.path.join(CSRC, "simd_math.h")]
# -mprefer-vector-width=512: GCC otherwise keeps to 256-bit vectors on
# AVX-512 machines, and the scan's loops are long enough to use full-width
# ones (docs/performance.md). Ignored where the ISA has no 512-bit vectors.
CFLAGS = ["-O3", "-march=native", "-mprefer-vector-width=512", "-fopenmp", "-fno-math-errno",
          "-fno-trapping-math"]
LDFLAGS = ["-fopenmp"]

# A build takes well under a minute on the project's 2-core machines; a lock
# file this old belongs to a build that was killed.
STALE_LOCK_SECONDS = 600.0

_lock = threading.Lock()
_state = {"tried": False, "module": None, "error": None}


def _cpu_signature():
    """CPU model and ISA flags: a -march=native build is only valid for these."""
    sig = platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith(("flags", "Features", "model name")):
                    sig += line
    except OSError:
        pass
    return sig


def build_name():
    """Extension name unique to source, flags, torch version and CPU."""
    h = hashlib.sha1()
    for path in SOURCES + HEADERS:
        with open(path, "rb") as f:
            h.update(f.read())
    h.update(" ".join(CFLAGS + LDFLAGS).encode())
    h.update(torch.__version__.encode())
    h.update(_cpu_signature().encode())
    return "se_mamba_scan_" + h.hexdigest()[:12]


def clear_stale_lock(build_dir, stale_after=STALE_LOCK_SECONDS, poll=1.0):
    """Wait while another process builds in ``build_dir`` (its ``lock``
    file exists); remove a lock older than ``stale_after`` seconds, which no
    running build holds. Returns True when it removed one."""
    lock = os.path.join(build_dir, "lock")
    while True:
        try:
            age = time.time() - os.path.getmtime(lock)
        except FileNotFoundError:
            return False  # no build running, or it has just finished
        if age > stale_after:
            warnings.warn(f"se_mamba: removing the stale build lock {lock} ({age:.0f} s old: the build that "
                          "made it was killed); building the fused CPU scan again", RuntimeWarning, stacklevel=3)
            try:
                os.remove(lock)
            except FileNotFoundError:
                pass  # another waiting process removed it first
            return True
        time.sleep(min(poll, stale_after - age + 0.01))


def load_kernel(verbose=False):
    """Return the compiled kernel module, or ``None`` if it cannot be built.

    Thread-safe; the build is attempted at most once per process.
    """
    if _state["tried"]:
        return _state["module"]
    with _lock:
        if _state["tried"]:
            return _state["module"]
        try:
            if os.environ.get("SE_MAMBA_NO_BUILD", "0") == "1":
                raise RuntimeError("SE_MAMBA_NO_BUILD=1")
            cxx = os.environ.get("CXX", "c++")
            if shutil.which(cxx) is None:
                raise RuntimeError(f"no C++ compiler ({cxx}) on PATH; install one (Debian/Ubuntu: "
                                   "apt install g++) or set CXX")
            headers = sysconfig.get_paths()["include"]
            if not os.path.isfile(os.path.join(headers, "Python.h")):
                raise RuntimeError(f"no Python headers (Python.h not in {headers}); install them "
                                   f"(Debian/Ubuntu: apt install python{sysconfig.get_python_version()}-dev)")
            # importing cpp_extension on a CPU-only machine logs a CUDA_HOME
            # warning that does not concern a CPU build: silence it.
            ext_log = logging.getLogger("torch.utils.cpp_extension")
            level = ext_log.level
            ext_log.setLevel(logging.ERROR)
            try:
                from torch.utils.cpp_extension import load
            finally:
                ext_log.setLevel(level)

            logger.info("se_mamba: loading the fused CPU scan (compiled on first use, then cached)")
            try:  # torch's own wait on the lock has no time limit
                from torch.utils.cpp_extension import _get_build_directory
            except ImportError:  # a torch without this private helper: its wait as it is
                _get_build_directory = None
            name = build_name()
            if _get_build_directory is not None:
                clear_stale_lock(_get_build_directory(name, verbose))
            # copies: torch appends its own flags to these lists, which would
            # change build_name() for the rest of the process
            _state["module"] = load(
                name=name,
                sources=list(SOURCES),
                extra_cflags=list(CFLAGS),
                extra_ldflags=list(LDFLAGS),
                verbose=verbose,
            )
        except Exception as exc:  # any build/load failure means: use the fallback
            _state["error"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
            warnings.warn(
                "se_mamba: the fused CPU scan could not be built "
                f"({_state['error']}); using the pure-PyTorch chunked scan (same results, slower).",
                RuntimeWarning,
                stacklevel=2,
            )
        _state["tried"] = True
        return _state["module"]


def kernel_status():
    """One line for ``se-mamba info``: loaded from where, or why not."""
    module = load_kernel()
    if module is not None:
        return f"fused C++ kernel loaded ({module.__file__})"
    return f"unavailable ({_state['error']}); the pure-PyTorch chunked scan runs instead"


def kernel_error():
    """Why the kernel is unavailable (``None`` if it loaded or was not tried)."""
    return _state["error"]
